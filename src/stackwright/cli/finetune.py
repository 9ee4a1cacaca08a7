"""``stackwright finetune BASE --data ... --out ADAPTER`` (LoRA) and ``stackwright finetune merge``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from stackwright.cli._common import (
    PLAIN,
    TRAINING_MODULES,
    JsonFlag,
    ProgressFlag,
    comma_list,
    fail,
    key_value_table,
    need_extra,
    out,
    print_json,
    say,
)


class _RunByDefault(TyperGroup):
    """``finetune BASE ...`` runs ``finetune run BASE ...``; ``finetune merge ...`` merges."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer()
finetune_app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help="LoRA fine-tuning of a model on your code (finetune BASE --data D --out A), "
    "and merging an adapter into its base.",
)
app.add_typer(finetune_app, name="finetune")

INTERRUPTED = "interrupted; rerun the same command to resume from the last checkpoint"


@finetune_app.command("run")
def finetune_cmd(
    base: Annotated[Path, typer.Argument(help="The base model: a model folder or a training run.")],
    data: Annotated[
        Path, typer.Option("--data", help="A release, or a token folder made with the base's tokenizer.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run folder; the adapter is OUT/adapter.")],
    lora_r: Annotated[int, typer.Option(min=1, help="LoRA rank.")] = 16,
    lora_alpha: Annotated[
        int, typer.Option(min=1, help="LoRA scaling (alpha / r multiplies the update).")
    ] = 32,
    lora_dropout: Annotated[float, typer.Option(min=0.0, max=0.9, help="Dropout on the LoRA input.")] = 0.05,
    target: Annotated[
        str,
        typer.Option(
            help="Layers to adapt: c_attn, c_proj (= attn.c_proj and mlp.c_proj), "
            "attn.c_proj, mlp.c_proj, c_fc."
        ),
    ] = "c_attn,c_proj",
    max_steps: Annotated[int | None, typer.Option(min=1, help="Optimizer steps [default: 200].")] = None,
    time_limit: Annotated[
        float | None, typer.Option(min=0.05, help="Stop after this many minutes (saved; a rerun continues).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Sequences per step [default: 8].")] = None,
    learning_rate: Annotated[
        float | None, typer.Option(min=0.0, help="Peak learning rate [default: 2e-4].")
    ] = None,
    warmup_steps: Annotated[
        int | None, typer.Option(min=0, help="Linear warmup steps [default: 10].")
    ] = None,
    seq_len: Annotated[
        int | None, typer.Option(min=16, help="Sequence length when tokenizing a release.")
    ] = None,
    fim_rate: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of documents rearranged for fill-in-the-middle (a release only)."
        ),
    ] = 0.5,
    eval_every: Annotated[int, typer.Option(min=1, help="Validation loss every N steps.")] = 50,
    eval_samples: Annotated[int, typer.Option(min=1, help="Validation sequences per evaluation.")] = 64,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the adapter's weights and the data order.")] = 0,
    cpu: Annotated[bool, typer.Option("--cpu", help="Train on the CPU even where a GPU is present.")] = False,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Train a LoRA adapter for BASE on a release (tokenized with the base's tokenizer, FIM on) or a
    token folder. A rerun of the same command resumes; the adapter is OUT/adapter (peft format)."""
    need_extra((*TRAINING_MODULES, "peft"), "fine-tuning")
    from stackwright.cli.train import StepBar
    from stackwright.model.fim import FimConfig
    from stackwright.model.finetune import check_data, finetune
    from stackwright.model.lora import LoraSettings
    from stackwright.model.train import TrainConfig

    check_data(data)
    settings = LoraSettings(
        r=lora_r, alpha=lora_alpha, dropout=lora_dropout, targets=tuple(comma_list(target))
    )
    config = TrainConfig(
        preset="lora",
        max_steps=max_steps,
        time_limit=time_limit,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        eval_every=eval_every,
        eval_samples=eval_samples,
        checkpoint_every=checkpoint_every,
        seed=seed,
        cpu=cpu,
        precision="fp32",
        tensorboard=False,
    )
    try:
        with StepBar(progress and not as_json) as bar:
            result = finetune(
                base,
                data,
                out_dir,
                config,
                settings,
                seq_len=seq_len,
                fim=FimConfig(rate=fim_rate, mode="epoch"),
                on_step=bar,
                say=None if as_json else say,
            )
    except KeyboardInterrupt:
        fail(INTERRUPTED, 130)
    summary = result.summary()
    if as_json:
        print_json(summary)
        return

    def loss(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f} nats/token"

    rows = [
        ("steps", f"{summary['step']:,} of {summary['horizon']:,}"),
        ("layers adapted", ", ".join(settings.layers)),
        ("validation loss, base", loss(summary["base_val_loss"])),
        ("validation loss, adapted", loss(summary["adapter_val_loss"])),
        ("adapter", f"{summary['adapter_bytes']:,} bytes ({summary['adapter_share']:.2%} of the base)"),
    ]
    out.print(key_value_table("fine-tuned", rows))
    out.print(
        f"adapter: {summary['adapter']}  (adapter_config.json, adapter_model.safetensors, README.md)", **PLAIN
    )


@finetune_app.command("merge")
def merge_cmd(
    base: Annotated[Path, typer.Argument(help="The base model the adapter was trained on.")],
    adapter: Annotated[Path, typer.Argument(help="The adapter folder, or the fine-tuning run holding it.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="A new folder for the merged model.")],
    as_json: JsonFlag = False,
) -> None:
    """Add the adapter's updates into the base's weights: a standalone model in HF format."""
    need_extra((*TRAINING_MODULES, "peft"), "merging")
    from stackwright.model.lora import merge

    folder = merge(base, adapter, out_dir)
    if as_json:
        print_json({"model": str(folder)})
        return
    out.print(f"merged model: {folder}", **PLAIN)
