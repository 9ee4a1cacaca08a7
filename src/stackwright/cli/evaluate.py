"""``stackwright eval``: evaluations of detectors and models.

``eval pii`` scores the PII detectors on labelled cases; ``eval infill`` (single-line FIM exact match
on held-out files) and ``eval perplexity`` (loss, perplexity and bits per byte on token data) score a
trained model and, unless ``--no-card``, record the result in the model folder's ``evaluation.json``
and model card (:func:`stackwright.evaluate.report.record_evaluation`).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from stackwright.cli._common import (
    PLAIN,
    TRAINING_MODULES,
    FimLayout,
    JsonFlag,
    ProgressFlag,
    choice,
    comma_list,
    command_group,
    err,
    fail,
    key_value_table,
    metavar,
    need_extra,
    out,
    print_json,
    progress_bar,
)

app = typer.Typer()
eval_app = command_group(app, "eval", "Evaluations.")


class IpScope(StrEnum):
    all = "all"
    redacted = "redacted"


@eval_app.command("pii")
def eval_pii_cmd(
    cases: Annotated[Path, typer.Option("--cases", help="JSONL: text, entities [{start, end, label}].")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ip_scope: Annotated[IpScope, typer.Option(
        parser=choice(IpScope, "ip scope"), metavar=metavar(IpScope),
        help="all: score every IP; redacted: only those the policy redacts (references with ip_scope).")
    ] = IpScope.all,
    detectors: Annotated[str, typer.Option(
        help="Extra detectors beside the patterns, comma-separated: ner (needs --ner-model).")] = "",
    ner_model: Annotated[Path | None, typer.Option(help="The NER model (stackwright pii train-ner).")] = None,
) -> None:
    """Score the detectors on labelled cases with BigCode's rule (overlap > 80% of both spans)."""
    from stackwright.config import PiiConfig
    from stackwright.curate.pii.evaluate import score_cases

    names = comma_list(detectors) if detectors else []
    if ner_model is not None and "ner" not in names:
        names.append("ner")
    if "ner" in names:
        need_extra(TRAINING_MODULES, "the ner detector")
    try:
        config = PiiConfig(detectors=names, ner_model=ner_model)
        result = score_cases(cases, ip_scope=ip_scope.value, config=config)
    except ValueError as exc:
        fail(str(exc), 2)
    result["detectors"] = ["patterns", *names]
    if as_json:
        print_json(result)
        return
    table = Table(title=f"PII detection on {cases.name}",
                  caption="strict: entities flagged example (reserved email domains) or dummy (guessable "
                          "passwords, keys) dropped, with the predictions that match them")
    for column in ("label", "precision", "recall", "F1", "true", "predicted", "strict P", "strict R",
                   "strict F1", "flagged"):
        table.add_column(column, justify="right" if column != "label" else "left")
    for label, r in result["per_label"].items():
        s = result["without_flagged"].get(label)
        strict = [f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}",
                  str(s["flagged_dropped"])] if s else ["", "", "", "0"]
        table.add_row(label, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                      str(r["reference"]), str(r["predicted"]), *strict)
    out.print(table)


ModelArgument = Annotated[Path, typer.Argument(help="A run folder (stackwright train) or a model folder.")]
CardFlag = Annotated[bool | None, typer.Option(
    "--card/--no-card", help="Record the result in the model folder (evaluation.json, model card) "
    "[default: when the folder is writable].")]


def _record(model_folder: Path, card: bool | None, name: str, metrics: dict[str, Any],
            settings: dict[str, Any], quiet: bool) -> dict[str, str | None] | None:
    """Record an evaluation unless ``--no-card``, or by default in a folder that is not writable:
    where it went (``evaluations``, ``card``), or None."""
    if card is False or (card is None and not os.access(model_folder, os.W_OK)):
        if card is None and not quiet:
            err.print(f"({model_folder} is not writable: the result is not recorded there)", **PLAIN)
        return None
    from stackwright.evaluate.report import record_evaluation

    try:
        recorded = record_evaluation(model_folder, name, metrics, settings=settings)
    except OSError as exc:
        err.print(f"warning: the evaluation was not recorded in {model_folder}: {exc.strerror or exc}",
                  **PLAIN)
        return None
    return {"evaluations": recorded["evaluations"], "card": recorded["card"]}


def _print_recorded(recorded: dict[str, str | None] | None) -> None:
    if recorded is not None:
        where = recorded["evaluations"] + (f" and {recorded['card']}" if recorded["card"] else "")
        out.print(f"recorded in {where}", **PLAIN)


def _figure(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


@eval_app.command("infill")
def eval_infill_cmd(
    model: ModelArgument,
    release: Annotated[Path | None, typer.Option(
        help="The release to take held-out files from [default: the one the model was trained on].")] = None,
    languages: Annotated[str | None, typer.Option(
        help="Comma-separated Linguist names, any case [default: python,java,javascript, or the task "
        "file's].")] = None,
    per_language: Annotated[int | None, typer.Option(
        min=1, help="Tasks per language at most [default: 100, or the task file's].")] = None,
    per_file: Annotated[int | None, typer.Option(
        min=1, help="Masked lines per file at most [default: 1, or the task file's].")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the choice of files and lines [default: 0].")
                    ] = None,
    validation: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Share of repositories held out, as given to tokenize (seed 0), for a model "
        "whose run cannot tell [default: the run's; without a run every file is used].")] = None,
    tasks: Annotated[Path | None, typer.Option(
        "--tasks", help="Task file (JSONL): reused when it exists, else built there [default: "
        "RUN/eval/infill-<fingerprint>.jsonl].")] = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write one JSON line per task (expected, completion, exact).")] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, max=1024, help="Tokens generated per line at most.")
                              ] = 64,
    fim_layout: Annotated[FimLayout, typer.Option(
        parser=choice(FimLayout, "FIM layout"), metavar=metavar(FimLayout),
        help="Order of the FIM prompt: psm (StarCoder's) or spm (suffix first).")] = FimLayout.psm,
    card: CardFlag = None,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Single-line infilling exact match (SantaCoder's FIM evaluation) on files the model did not
    train on: one real line masked per task, filled in greedily between its prefix and suffix."""
    need_extra(TRAINING_MODULES, "eval infill")
    from stackwright.evaluate.infill import infill_tasks, score_infill
    from stackwright.evaluate.perplexity import load_quietly

    names = list(comma_list(languages)) if languages is not None else None
    with progress_bar("infill: choosing lines", progress and not as_json, "files") as update:
        prepared = infill_tasks(model, release=release, languages=names, seed=seed, per_language=per_language,
                                per_file=per_file, validation=validation, tasks_file=tasks, on_rows=update)
    loaded = load_quietly(model)
    with progress_bar("infill", progress and not as_json, "tasks") as update:
        result = score_infill(loaded, prepared, max_new_tokens=max_new_tokens, out=out_file, on_task=update,
                              spm=fim_layout is FimLayout.spm)
    metrics = {"exact_match": result["exact_match"], "tasks": result["tasks"],
               "languages": {k: {"tasks": v["tasks"], "exact_match": v["exact_match"]}
                             for k, v in result["languages"].items()}}
    settings = {"held_out": result["held_out"], "languages": list(result["languages"]),
                "per_language": result["per_language"], "per_file": result["per_file"],
                "seed": result["seed"],
                "release": str(result["release"])[:12], "max_new_tokens": max_new_tokens,
                "fim_layout": fim_layout.value,
                "tasks_file": Path(result["tasks_file"]).name}
    result["recorded"] = _record(loaded.folder, card, "infill", metrics, settings, as_json)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"single-line infilling, {loaded.folder}" + ("" if result["held_out"] else
                                                                   " (not held-out files)"))
    for column in ("language", "tasks", "exact", "exact match"):
        table.add_column(column, justify="left" if column == "language" else "right")
    for language, row in result["languages"].items():
        table.add_row(language, f"{row['tasks']:,}", f"{row['exact']:,}", _figure(row["exact_match"]))
    table.add_row("all", f"{result['tasks']:,}", f"{result['exact']:,}", _figure(result["exact_match"]))
    out.print(table)
    reused = "reused" if result["reused_tasks"] else "saved"
    out.print(f"tasks: {result['tasks_file']} ({reused})", **PLAIN)
    _print_recorded(result["recorded"])


class Split(StrEnum):
    validation = "validation"
    train = "train"


@eval_app.command("perplexity")
def eval_perplexity_cmd(
    model: ModelArgument,
    data: Annotated[Path, typer.Option("--data", help="A token folder (stackwright tokenize).")],
    split: Annotated[Split, typer.Option(parser=choice(Split, "split"), metavar=metavar(Split),
                                         help="The split to score.")] = Split.validation,
    max_sequences: Annotated[int | None, typer.Option(
        min=1, help="Score this many sequences, evenly spread, as training validates [default: all].")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences per forward pass.")] = 8,
    card: CardFlag = None,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Mean next-token loss, perplexity and bits per byte of a model on token data, computed as the
    training loop computes its validation loss."""
    need_extra(TRAINING_MODULES, "eval perplexity")
    from stackwright.evaluate.perplexity import check_tokenizer, perplexity
    from stackwright.model.runs import model_folder

    check_tokenizer(model, data)  # before the model loads: a mismatch is refused at once
    with progress_bar(f"perplexity ({split.value})", progress and not as_json, "sequences") as update:
        result = perplexity(model, data, split=split.value, max_sequences=max_sequences,
                            batch_size=batch_size, on_batch=update)
    name = "perplexity" if split is Split.validation else f"perplexity-{split.value}"
    metrics = {k: result[k] for k in ("loss", "perplexity", "bits_per_byte", "tokens")}
    settings = {"split": split.value, "sequences": result["sequences"],
                "of_sequences": result["of_sequences"],
                "seq_len": result["seq_len"], "release": str(result["release"])[:12]}
    result["recorded"] = _record(model_folder(model), card, name, metrics, settings, as_json)
    if as_json:
        print_json(result)
        return
    out.print(key_value_table(f"perplexity, {split.value} split", [
        ("loss", f"{result['loss']:.4f} nats/token"),
        ("perplexity", _figure(result["perplexity"], 2)),
        ("bits per byte", _figure(result["bits_per_byte"], 4)),
        ("sequences", f"{result['sequences']:,} of {result['of_sequences']:,}"),
        ("tokens", f"{result['tokens']:,}"),
        ("time", f"{result['seconds']:,.1f} s"),
    ]))
    _print_recorded(result["recorded"])
