"""``stackwright train`` (pretraining, on accelerate) and ``stackwright generate`` (quick samples).

Under ``accelerate launch`` every process runs the command; only the main one prints.
"""

from __future__ import annotations

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
    err,
    fail,
    key_value_table,
    metavar,
    need_extra,
    out,
    print_json,
    say,
)

app = typer.Typer()

INTERRUPTED = "interrupted; rerun the same command to resume from the last checkpoint"


class Precision(StrEnum):
    auto = "auto"
    bf16 = "bf16"
    fp32 = "fp32"


class Attention(StrEnum):
    auto = "auto"
    sdpa = "sdpa"
    eager = "eager"
    flash_attention_2 = "flash_attention_2"


def _need_torch() -> None:
    need_extra(TRAINING_MODULES, "training")


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


class StepBar:
    """A progress bar with the loss, tokens/s and the ETA (main process only)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and _is_main_process()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> StepBar:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("loss {task.fields[loss]}  val {task.fields[val]}  "
                                           "{task.fields[rate]} tok/s"), TimeRemainingColumn(),
                                console=err, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=None, loss="-", val="-", rate="-")
        return self

    def __call__(self, row: dict[str, Any]) -> None:
        if self.bar is None:
            return
        fields = {"loss": f"{row['train_loss']:.3f}", "rate": f"{row['tokens_per_second_smoothed']:,.0f}"}
        if row.get("val_loss") is not None:
            fields["val"] = f"{row['val_loss']:.3f}"
        self.bar.update(self.task, completed=row["step"], total=row["horizon"], **fields)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option("--data", help="A token folder (stackwright tokenize).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder: new, or this run's to resume.")],
    preset: Annotated[str, typer.Option(help="tiny, small, santacoder or starcoder.")] = "tiny",
    max_steps: Annotated[int | None, typer.Option(min=1, help="Optimizer steps [default: the preset's].")
                         ] = None,
    time_limit: Annotated[float | None, typer.Option(
        min=0.05, help="Stop after this many minutes (saved; a rerun continues). Without --max-steps "
        "the schedule is fitted to the time.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Sequences per step, all processes.")] = None,
    micro_batch_size: Annotated[int | None, typer.Option(min=1, help="Sequences per forward pass.")] = None,
    learning_rate: Annotated[float | None, typer.Option(min=0.0, help="Peak learning rate.")] = None,
    warmup_steps: Annotated[int | None, typer.Option(min=0, help="Linear warmup steps.")] = None,
    dropout: Annotated[float | None, typer.Option(min=0.0, max=0.9, help="Dropout everywhere.")] = None,
    eval_every: Annotated[int, typer.Option(min=1, help="Validation loss every N steps.")] = 50,
    eval_samples: Annotated[int, typer.Option(min=0, help="Validation sequences per evaluation.")] = 64,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps.")] = 100,
    keep_checkpoints: Annotated[int, typer.Option(min=1, help="Checkpoints kept.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the weights and the data order.")] = 0,
    precision: Annotated[Precision, typer.Option(
        parser=choice(Precision, "precision"), metavar=metavar(Precision),
        help="auto: bf16 autocast where the hardware has native bf16 (Ampere+ GPUs, AMX or AVX512-BF16 "
        "CPUs), else fp32.")] = Precision.auto,
    attention: Annotated[Attention, typer.Option(
        parser=choice(Attention, "attention"), metavar=metavar(Attention),
        help="auto: FlashAttention-2 on GPU when flash_attn is installed, else SDPA.")] = Attention.auto,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    cpu: Annotated[bool, typer.Option("--cpu", help="Train on the CPU even where a GPU is present.")] = False,
    tokenizer: Annotated[Path | None, typer.Option(
        help="The tokenizer folder [default: the one recorded by tokenize].")] = None,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Pretrain a GPTBigCode model (multi-query attention) on a token folder, or resume its run.

    Checkpoints, log.csv, TensorBoard events and loss.png go in the run folder; at the end the model
    (save_pretrained, with the tokenizer and a model card) is OUT/model. On many GPUs or machines:
    accelerate launch -m stackwright train ...
    """
    _need_torch()
    from stackwright.model.train import TrainConfig, train

    config = TrainConfig(preset=preset, max_steps=max_steps, time_limit=time_limit, batch_size=batch_size,
                         micro_batch_size=micro_batch_size, learning_rate=learning_rate,
                         warmup_steps=warmup_steps, dropout=dropout, eval_every=eval_every,
                         eval_samples=eval_samples, checkpoint_every=checkpoint_every,
                         keep_checkpoints=keep_checkpoints, seed=seed, precision=precision.value,
                         attention=attention.value, compile=compile_model, cpu=cpu, tokenizer=tokenizer)
    main = _is_main_process()
    try:
        with StepBar(progress and not as_json) as bar:
            result = train(data, out_dir, config, on_step=bar,
                           say=say if main and not as_json else None)
    except KeyboardInterrupt:
        fail(INTERRUPTED, 130)
    if not main:
        return
    summary = result.summary()
    if as_json:
        print_json(summary)
        return
    print_train_summary(summary)


def print_train_summary(s: dict[str, Any]) -> None:
    entropy, val = s["unigram_entropy"], s["val_loss"]
    rows = [
        ("steps", f"{s['step']:,} of {s['horizon']:,}" + ("" if s["stopped"] == "finished" else
                                                         " (time limit: rerun to continue)")),
        ("tokens seen", f"{s['tokens']:,}"),
        ("parameters", f"{s['parameters']:,}"),
        ("train loss", "n/a" if s["train_loss"] is None else f"{s['train_loss']:.3f} nats/token"),
        ("validation loss", "n/a" if val is None else f"{val:.3f} nats/token"),
        ("unigram entropy", "n/a" if entropy is None else f"{entropy:.3f} nats/token"),
    ]
    if entropy and val is not None:
        rows.append(("below unigram", f"{1 - val / entropy:.1%}"))
    rows.append(("speed", f"{s['tokens_per_second']:,.0f} tokens/s"
                 + (f", MFU {s['mfu']:.1%}" if s.get("mfu") else "")))
    rows.append(("time", f"{s['seconds']:,.1f} s on {s['device'].get('processes', 1)} x "
                 f"{s['device'].get('name') or s['device'].get('kind')}"))
    out.print(key_value_table("trained", rows))
    out.print(f"model: {s['model']}  (config.json, model.safetensors, tokenizer, README.md model card)",
              **PLAIN)
    out.print(f"next: stackwright generate {s['run']} --prompt 'def fibonacci(n):'", **PLAIN)


@app.command("generate")
def generate_cmd(
    model: Annotated[Path, typer.Argument(help="A run folder (stackwright train) or a model folder.")],
    prompt: Annotated[str, typer.Option(help="Text to continue, or the prefix when --suffix is given.")],
    suffix: Annotated[str | None, typer.Option(help="Fill in the middle between --prompt and this.")] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, max=4096, help="Tokens to generate at most.")] = 64,
    temperature: Annotated[float, typer.Option(min=0.0, max=5.0, help="0: greedy.")] = 0.0,
    top_p: Annotated[float, typer.Option(min=0.01, max=1.0, help="Nucleus sampling mass.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Generate from a trained model: left to right, or with --suffix a FIM infill."""
    _need_torch()
    from stackwright.model.generate import complete, load_model

    loaded = load_model(model)
    result = complete(loaded, prompt, suffix, max_new_tokens=max_new_tokens, temperature=temperature,
                      top_p=top_p, seed=seed)
    if as_json:
        print_json({"model": str(loaded.folder), "mode": "fim" if suffix is not None else "left-to-right",
                    "completion": result.text, "tokens": result.tokens, "stopped": result.stopped,
                    "prompt_tokens": result.prompt_tokens})
        return
    out.print(result.text, **PLAIN, end="" if result.text.endswith("\n") else "\n")
    where = "end of text" if result.stopped == "eot" else "the limit"
    err.print(f"({result.tokens} tokens, stopped at {where})", **PLAIN)
