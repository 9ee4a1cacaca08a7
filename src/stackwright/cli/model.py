"""Model commands: ``tokenizer train`` and ``tokenize`` (training, generation and adapters follow).

Torch, transformers and tokenizers are imported inside the commands (the ``model`` extra).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from stackwright.cli._common import (
    PLAIN,
    ExecutorOption,
    JsonFlag,
    ProgressFlag,
    Workers,
    choice,
    command_group,
    key_value_table,
    metavar,
    need_extra,
    out,
    plural,
    print_json,
    progress_bar,
    value_of,
)

app = typer.Typer()
tokenizer_app = command_group(app, "tokenizer",
                              "The code tokenizer: train (byte-level BPE, StarCoder's special tokens).")


class Encoder(StrEnum):
    auto = "auto"
    tiktoken = "tiktoken"
    tokenizers = "tokenizers"


class FimMode(StrEnum):
    context = "context"
    document = "document"
    epoch = "epoch"
    off = "off"


def _need_model_extra() -> None:
    need_extra(("tokenizers", "transformers"), "the model stages")


@tokenizer_app.command("train")
def tokenizer_train_cmd(
    release: Annotated[Path, typer.Argument(help="A release folder (stackwright release).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New tokenizer folder.")],
    vocab_size: Annotated[int, typer.Option(min=275, help="Vocabulary size, special tokens included.")
                          ] = 49152,
    max_bytes: Annotated[int | None, typer.Option(
        min=1, help="Train on the first this many bytes of code [default: all].")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the held-out repositories.")] = 0,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Train a byte-level BPE on a release: digits split, GPT-2 pre-tokenizer, StarCoder's special
    tokens (ids 0..18); AutoTokenizer.from_pretrained(OUT) loads the folder."""
    _need_model_extra()
    from stackwright.model.tokenizer import train_tokenizer

    with progress_bar("tokenizer: reading code", progress and not as_json, "bytes") as update:
        result = train_tokenizer(release, out_dir, vocab_size=vocab_size, max_bytes=max_bytes,
                                 progress=update, seed=seed)
    info = result.info
    if as_json:
        print_json({"tokenizer": str(result.out), **info})
        return
    held = info["held_out"]
    out.print(key_value_table("tokenizer trained", [
        ("release", f"{info['release']['version']}"),
        ("vocabulary", f"{info['vocab_size']:,} (asked {info['vocab_size_asked']:,})"),
        ("trained on", f"{info['training_bytes'] / 1e6:,.2f} MB"),
        ("held out", f"{held['files']:,} files of {held['repositories']:,} repositories"),
        ("bytes per token (held out)", f"{held['bytes_per_token']}"),
        ("time", f"{info['seconds']} s"),
    ]))
    out.print(f"tokenizer: {result.out}  (tokenizer.json, tokenizer_config.json, stackwright-tokenizer.json)",
              **PLAIN)


@app.command("tokenize")
def tokenize_cmd(
    release: Annotated[Path, typer.Argument(help="A release folder (stackwright release).")],
    tokenizer: Annotated[Path, typer.Option(help="A tokenizer folder (stackwright tokenizer train).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New token folder (reruns resume).")],
    seq_len: Annotated[int, typer.Option(min=16, help="Tokens per training sample.")] = 2048,
    validation: Annotated[float, typer.Option(
        min=0.0, max=0.99, help="Share of repositories held out for validation.")] = 0.01,
    fim_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of documents in FIM order.")] = 0.5,
    fim_spm_rate: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of FIM documents in SPM order.")] = 0.5,
    fim_mode: Annotated[FimMode, typer.Option(
        parser=choice(FimMode, "FIM mode"), metavar=metavar(FimMode),
        help="context (after packing, as StarCoder), document (before), epoch (context-level, drawn again "
             "at every pass over the data by the trainer: small data trained for many epochs), or off.")
    ] = FimMode.context,
    seed: Annotated[int, typer.Option(help="Seed of the metadata, FIM and split draws.")] = 0,
    encoder: Annotated[Encoder, typer.Option(
        parser=choice(Encoder, "encoder"), metavar=metavar(Encoder),
        help="auto: tiktoken where it gives the tokenizer's ids on the release (checked), else tokenizers.")
    ] = Encoder.auto,
    executor: ExecutorOption = None,
    workers: Workers = None,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Pack a release into token sequences for training: metadata prefixes, FIM, a train and a
    validation split by repository, memory-mappable shards and a manifest."""
    _need_model_extra()
    import os

    from stackwright.model.fim import FimConfig
    from stackwright.model.packing import TokenizeConfig, tokenize_release
    from stackwright.pipeline.executors import make_executor

    config = TokenizeConfig(seq_len=seq_len, validation=validation, seed=seed,
                            fim=FimConfig(fim_rate, fim_spm_rate, fim_mode.value))
    runner = make_executor(value_of(executor) or "local", workers or max(1, os.cpu_count() or 1))
    with progress_bar("tokenize: release shards", progress and not as_json, "shards") as update:
        result = tokenize_release(release, tokenizer, out_dir, config, executor=runner, on_task=update,
                                  engine=None if encoder is Encoder.auto else encoder.value)
    m = result.manifest
    summary = {"tokens": str(result.out), "seconds": round(result.seconds, 2),
               "encoder": m["encoder"]["name"], "shards_resumed": result.tasks_resumed,
               "seq_len": m["seq_len"], "release": m["release"]["version"],
               "splits": {k: {key: v[key] for key in ("samples", "documents", "tokens", "padding_tokens",
                                                      "repositories")} for k, v in m["splits"].items()}}
    if as_json:
        print_json(summary)
        return
    rows = [("release", m["release"]["version"]), ("sequence length", f"{m['seq_len']:,}")]
    for name, split in summary["splits"].items():
        files, repos = plural(split["documents"], "file"), plural(split["repositories"], "repository")
        rows.append((name, f"{split['samples']:,} samples, {split['tokens']:,} tokens, {files}, {repos}"))
    mb = m["release"]["content_bytes"] / 1e6
    rows.append(("time", f"{summary['seconds']} s ({mb / summary['seconds']:,.2f} MB/s)" if summary["seconds"]
                 else "0 s"))
    out.print(key_value_table("tokenized", rows))
    out.print(f"tokens: {result.out}  (manifest.json, train/*.npy, validation/*.npy)", **PLAIN)
