"""``stackwright encoder train`` (a StarEncoder-style code encoder) and the NER commands of ``pii``:
``pii train-ner`` (a StarPII-style detector) and ``pii ner-data`` (labelled training cases)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from stackwright.cli._common import (
    PLAIN,
    TRAINING_MODULES,
    JsonFlag,
    ProgressFlag,
    choice,
    command_group,
    err,
    fail,
    key_value_table,
    metavar,
    need_extra,
    out,
    print_json,
)
from stackwright.cli.curate import pii_app

app = typer.Typer()
encoder_app = command_group(app, "encoder", "A code encoder (BERT-style, masked LM) for NER and embeddings.")

INTERRUPTED = "interrupted; rerun the same command to resume from the last checkpoint"


class EncoderPresetName(StrEnum):
    tiny = "tiny"
    base = "base"


@contextlib.contextmanager
def loss_bar(enabled: bool, title: str) -> Iterator[Any]:
    """``on_step(step, total, loss)`` drawing a progress bar on stderr while the block runs."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(title), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task(title, total=None, loss="-")
        yield lambda step, total, loss: bar.update(task, completed=step, total=total, loss=f"{loss:.3f}")


def _last(evaluations: list[dict[str, Any]], key: str) -> str:
    values = [e[key] for e in evaluations if key in e]
    return f"{values[-1]:.4f}" if values else "n/a"


@encoder_app.command("train")
def encoder_train_cmd(
    release: Annotated[Path, typer.Argument(help="A release folder to pretrain on.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="The encoder folder (HF format).")],
    preset: Annotated[EncoderPresetName, typer.Option(
        parser=choice(EncoderPresetName, "preset"), metavar=metavar(EncoderPresetName),
        help="tiny (minutes on CPU) or base (StarEncoder's 125M shape).")] = EncoderPresetName.tiny,
    tokenizer: Annotated[Path | None, typer.Option(
        help="The project tokenizer (stackwright tokenizer train, or a model folder) [default: train one "
        "on the release].")] = None,
    vocab_size: Annotated[int, typer.Option(min=300, help="Vocabulary of the tokenizer trained when none is "
                                            "given.")] = 8192,
    seq_len: Annotated[int | None, typer.Option(min=16, help="Tokens per sample [default: the preset's].")
                       ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Samples per step.")] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Optimizer steps.")] = None,
    time_limit: Annotated[float | None, typer.Option(min=0.05, help="Stop (resumably) after MINUTES.")
                          ] = None,
    learning_rate: Annotated[float | None, typer.Option(min=0.0, help="Peak learning rate.")] = None,
    eval_every: Annotated[int, typer.Option(min=1, help="Validation loss every N steps.")] = 100,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation, order and masks.")] = 0,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Pretrain a BERT-style encoder on a release with masked language modelling (no NSP: see the docs).
    A rerun of a stopped run resumes."""
    need_extra(TRAINING_MODULES, "encoder training")
    from stackwright.model.encoder import get_encoder_preset
    from stackwright.model.encoder_train import EncoderTrainConfig, train_encoder

    config = EncoderTrainConfig(get_encoder_preset(preset.value), seq_len=seq_len, batch_size=batch_size,
                                max_steps=max_steps, learning_rate=learning_rate, time_limit=time_limit,
                                eval_every=eval_every, checkpoint_every=checkpoint_every, seed=seed)
    if tokenizer is None:
        from stackwright.model.tokenizer import TOKENIZER_FILE, train_tokenizer

        tokenizer = out_dir / "run" / "project-tokenizer"
        if not (tokenizer / TOKENIZER_FILE).is_file():
            if not as_json:
                err.print(f"encoder: training a {vocab_size:,}-token tokenizer on {release}", **PLAIN)
            train_tokenizer(release, tokenizer, vocab_size=vocab_size)
    elif not (tokenizer / "tokenizer.json").is_file() and (tokenizer / "model" / "tokenizer.json").is_file():
        tokenizer = tokenizer / "model"  # a training run: its model folder holds the tokenizer
    try:
        with loss_bar(progress and not as_json, "encoder") as bar:
            result = train_encoder(release, tokenizer, out_dir, config, on_step=bar)
    except KeyboardInterrupt:
        fail(INTERRUPTED, 130)
    info = result.info
    if as_json:
        print_json({"encoder": str(out_dir), **info})
        return
    rows = [("steps", f"{info['steps']:,}{'' if info['finished'] else ' (stopped: rerun to go on)'}"),
            ("parameters", f"{info['parameters']:,}"),
            ("tokens", f"{info['tokens']['train']:,} train, {info['tokens']['validation']:,} validation"),
            ("validation MLM loss", _last(info["evaluations"], "validation_loss")),
            ("masked-token accuracy", _last(info["evaluations"], "masked_accuracy")),
            ("speed", f"{info['tokens_per_second'] or 0:,.0f} tokens/s on {info['device']}")]
    out.print(key_value_table("encoder", rows))
    out.print(f"encoder: {out_dir}  (config.json, model.safetensors, tokenizer.json, encoder.json)", **PLAIN)


@pii_app.command("train-ner")
def train_ner_cmd(
    encoder: Annotated[Path, typer.Argument(help="An encoder folder (stackwright encoder train).")],
    data: Annotated[list[Path], typer.Option("--data", help="Labelled cases (JSONL, as eval pii reads); "
                                             "repeat for several files.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="The NER model folder.")],
    validation_data: Annotated[list[Path] | None, typer.Option(
        "--validation-data", help="Held-out cases [default: 10% of --data, by a hash of each case].")] = None,
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the training windows.")] = 3.0,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Optimizer steps (instead of --epochs).")
                         ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per step.")] = 16,
    learning_rate: Annotated[float | None, typer.Option(
        min=0.0, help="Peak learning rate [default: 2e-5 for a base encoder as StarPII, 3e-4 smaller].")
    ] = None,
    time_limit: Annotated[float | None, typer.Option(min=0.05, help="Stop (resumably) after MINUTES.")
                          ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the head, the order and the split.")] = 0,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Fine-tune an encoder into a NER detector for NAME, EMAIL, KEY, PASSWORD, IP_ADDRESS and USERNAME
    (BIO token classification); use it in builds with [build.pii] detectors = ["ner"]."""
    need_extra(TRAINING_MODULES, "NER training")
    from stackwright.model.ner import NerTrainConfig, train_ner

    config = NerTrainConfig(epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                            learning_rate=learning_rate, time_limit=time_limit, seed=seed)
    try:
        with loss_bar(progress and not as_json, "ner") as bar:
            result = train_ner(encoder, data, out_dir, config, validation_data=validation_data or (),
                               on_step=bar)
    except KeyboardInterrupt:
        fail(INTERRUPTED, 130)
    info = result.info
    if as_json:
        print_json({"model": str(out_dir), **info})
        return
    rows = [("steps", f"{info['steps']:,}{'' if info['finished'] else ' (stopped: rerun to go on)'}"),
            ("cases", f"{info['cases']['train']:,} train, {info['cases']['validation']:,} validation")]
    for label, r in (info["validation"] or {}).items():
        rows.append((f"validation {label}", f"P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}"))
    out.print(key_value_table("NER model", rows))
    out.print(f"model: {out_dir}  (score it: stackwright eval pii --cases FILE --detectors ner --ner-model "
              f"{out_dir})", **PLAIN)


def _release_texts(release: Path, limit: int, max_chars: int = 20_000) -> Iterator[tuple[str, str]]:
    """``(repo/path, content)`` of a release's files, up to ``limit`` files of at most ``max_chars``."""
    from stackwright.model.corpus import ReleaseCorpus, iter_texts

    taken = 0
    for rows in iter_texts(ReleaseCorpus.open(release)):
        for row in rows:
            content = row["content"] or ""
            if 0 < len(content) <= max_chars:
                yield f"{row['repo']}/{row['path']}", content
                taken += 1
                if taken >= limit:
                    return


@pii_app.command("ner-data")
def ner_data_cmd(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The JSONL file of cases to write.")],
    count: Annotated[int, typer.Option(min=0, help="Synthetic cases (Faker values in code templates).")
                     ] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic cases: the same seed gives the same cases.")
                    ] = 0,
    pseudo_label: Annotated[list[Path] | None, typer.Option(
        "--pseudo-label", metavar="RELEASE",
        help="Add files of a release labelled by the pattern detectors (EMAIL, IP_ADDRESS, KEY, PASSWORD "
             "only); repeatable.")] = None,
    pseudo_limit: Annotated[int, typer.Option(min=1, help="Files taken from each --pseudo-label release "
                                              "(files over 20,000 characters are skipped).")] = 1000,
    import_files: Annotated[list[Path] | None, typer.Option(
        "--import", metavar="FILE",
        help="Add annotations: our JSONL, doccano JSONL, a Label Studio JSON export or spaCy JSONL; "
             "repeatable.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write training cases for pii train-ner: synthetic labelled code (names in copyright headers and
    AUTHORS files, logins in paths and URLs, passwords and keys in configs, connection strings, compose
    and Kubernetes files, with hard negatives), pseudo-labelled release code and imported annotations."""
    import json
    from collections import Counter

    from stackwright.curate.pii.entities import LABELS
    from stackwright.curate.pii.ner_data import generate
    from stackwright.curate.pii.ner_import import import_annotations
    from stackwright.curate.pii.ner_import import pseudo_label as label_with_patterns
    from stackwright.errors import StackwrightError
    from stackwright.files import write_atomic

    sources: list[tuple[str, Iterator[dict[str, Any]]]] = [("synthetic", generate(count, seed))]
    sources += [(f"pseudo:{p}", label_with_patterns(_release_texts(p, pseudo_limit)))
                for p in pseudo_label or ()]
    dropped: Counter[str] = Counter()
    sources += [(f"import:{p}", import_annotations(p, dropped)) for p in import_files or ()]
    lines: list[str] = []
    table: dict[str, dict[str, int]] = {}
    try:
        for name, cases in sources:
            counts = Counter({label: 0 for label in LABELS})
            n = 0
            for case in cases:
                counts.update(str(e["label"]) for e in case["entities"])
                lines.append(json.dumps(case, ensure_ascii=False) + "\n")
                n += 1
            table[name] = {"cases": n, **counts}
    except (StackwrightError, OSError) as exc:
        fail(str(exc), 2)
    write_atomic(out_file, "".join(lines).encode("utf-8"))
    if as_json:
        print_json({"out": str(out_file), "sources": table, "dropped_labels": dict(dropped)})
        return
    rows = [(name, f"{c['cases']:,} cases: " + ", ".join(f"{label} {c[label]:,}" for label in LABELS))
            for name, c in table.items()]
    if dropped:
        rows.append(("dropped labels", ", ".join(f"{k} {v}" for k, v in sorted(dropped.items()))))
    out.print(key_value_table("NER training data", rows))
    out.print(f"cases: {out_file}  (train on it: stackwright pii train-ner ENCODER --data {out_file} "
              "--out DIR)", **PLAIN)
