"""``stackwright demo``: the whole lifecycle on this machine's Python installation, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from stackwright.cli._common import (
    PLAIN,
    JsonFlag,
    Names,
    ProgressFlag,
    Workers,
    comma_list,
    err,
    fail,
    out,
    print_json,
    say,
)

app = typer.Typer()

SKIP_HELP = ("Stages to leave out, comma-separated: optout, humaneval, infill, serve, model (every stage "
             "from the tokenizer on).")


def _skips(values: Names | None, dataset_only: bool) -> frozenset[str]:
    from stackwright.demo import SKIPPABLE

    chosen = set(values or [])
    unknown = sorted(chosen - set(SKIPPABLE))
    if unknown:
        fail(f"--skip {','.join(unknown)}: unknown stage; choose from {', '.join(SKIPPABLE)}")
    if dataset_only:
        chosen.add("model")
    return frozenset(chosen)


@app.command("demo")
def demo_cmd(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder of every stage.")] = Path(
        "stackwright-demo"
    ),
    limit_mb: Annotated[int, typer.Option(help="Approximate input size to read, in MB.")] = 60,
    train_minutes: Annotated[float, typer.Option(min=0.1, help="Training time of the tiny model.")] = 4.0,
    humaneval_limit: Annotated[int, typer.Option(min=1, max=164, help="HumanEval problems (the first N).")
                               ] = 20,
    humaneval_max_tokens: Annotated[int, typer.Option(min=8, max=256, help="Tokens per HumanEval completion.")
                                    ] = 96,
    infill_limit: Annotated[int, typer.Option(min=1, help="Masked lines of held-out files to fill in.")] = 50,
    skip: Annotated[Names | None, typer.Option(parser=comma_list, metavar="A,B", help=SKIP_HELP)] = None,
    dataset_only: Annotated[bool, typer.Option(
        "--dataset-only", help="Build, release and apply the opt-out only (no model extra needed).")] = False,
    with_model: Annotated[bool, typer.Option(
        "--with-model", hidden=True, help="Kept for old scripts: the model stages run by default.")] = False,
    optout_repo: Annotated[str | None, typer.Option(
        help="The repository of v0.1.0 that opts out [default: a small pypi/ one].")] = None,
    workers: Workers = None,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """The whole lifecycle on this machine's Python installation: no network, no input needed.

    Builds a dataset (the standard library is one repository, every installed distribution another,
    each with the license its metadata declares) and releases it as v0.1.0; files, verifies and applies
    an opt-out in v0.2.0 (the demo's own registry); trains a tokenizer and the tiny GPTBigCode model
    for --train-minutes; runs HumanEval and FIM infilling on small samples into the model card; and
    serves one FIM completion on a loopback port with its attribution check. A rerun resumes: stages
    that finished on the same inputs are kept.
    """
    from stackwright.demo import DemoOptions, run_lifecycle

    if dataset_only and with_model:
        fail("--dataset-only and --with-model contradict each other")
    options = DemoOptions(limit_mb=limit_mb, train_minutes=train_minutes, humaneval_limit=humaneval_limit,
                          humaneval_max_tokens=humaneval_max_tokens, infill_limit=infill_limit,
                          skip=_skips(skip, dataset_only), optout_repo=optout_repo, workers=workers)
    show = progress and not as_json
    resume = f"interrupted; rerun `stackwright demo --out {out_dir}` to resume (finished stages are kept)"
    try:
        result = _run(run_lifecycle, out_dir, options, show, None if as_json else say)
    except KeyboardInterrupt:
        fail(resume, 130)
    if as_json:
        print_json(result.summary())
        return
    _print_result(result)


def _run(run_lifecycle: Any, out_dir: Path, options: Any, show: bool, talk: Any) -> Any:
    from stackwright.cli.train import StepBar

    bar = _TrainingBar(StepBar(show))
    try:
        return run_lifecycle(out_dir, options, progress=show, console=err, say=talk, on_step=bar,
                             on_stage=lambda report: bar.close() if report.name == "train" else None)
    finally:
        bar.close()


class _TrainingBar:
    """The training progress bar, shown from the first step to the end of the training stage."""

    def __init__(self, bar: Any) -> None:
        self.bar, self.open = bar, False

    def __call__(self, row: dict[str, Any]) -> None:
        if not self.open:
            self.bar.__enter__()
            self.open = True
        self.bar(row)

    def close(self) -> None:
        if self.open:
            self.bar.__exit__(None, None, None)
            self.open = False


def _print_result(result: Any) -> None:
    from stackwright.cli.build import print_build_summary

    summary = result.summary()
    print_build_summary(summary, "stackwright demo")
    release = result.dataset.release
    out.print(f"release v0.1.0: {release}  (data card: {result.dataset.datacard})", **PLAIN)
    _print_optout(result.report("optout"))
    train = result.report("train")
    if train is not None and train.details.get("train"):
        from stackwright.cli.train import print_train_summary

        print_train_summary(train.details["train"])
    _print_evaluations(result)
    _print_served(result.report("serve"))
    _print_stages(result)
    paths = Table(title="where everything is", show_header=False, title_justify="left")
    paths.add_column(style="bold")
    paths.add_column()
    for name, path in result.paths.items():
        paths.add_row(name, path)
    out.print(paths)


def _print_optout(report: Any) -> None:
    if report is None or not report.details:
        return
    d = report.details
    out.print(f"opt-out: {d['repo']} asked to leave (request {d['request']}), verified by a maintainer and "
              f"{d['status']} in v0.2.0: {d['rows_before']:,} files in v0.1.0, {d['rows_after']:,} in "
              "v0.2.0", **PLAIN)
    out.print(f"  registry: {d['registry']}  (stackwright optout show {d['request']} --db "
              f"sqlite:///{d['registry']})", **PLAIN)


def _print_evaluations(result: Any) -> None:
    humaneval, infill, card = (result.report(n) for n in ("humaneval", "infill", "card"))
    if humaneval is not None and humaneval.details:
        s = humaneval.details["summary"]
        out.print(f"HumanEval, first {s['problems']} problems (greedy): pass@1 {s['pass@1']:.4f}, "
                  f"{s['outcomes'].get('passed', 0)} passed; outcomes "
                  f"{', '.join(f'{k} {v}' for k, v in s['outcomes'].items() if v)} "
                  f"(sandbox: {s['isolation'].get('mechanism')})", **PLAIN)
    if infill is not None and infill.details:
        s = infill.details["summary"]
        exact = "n/a" if s["exact_match"] is None else f"{s['exact_match']:.4f}"
        where = "held-out files" if s["held_out"] else "files (not held out)"
        out.print(f"infilling, {s['tasks']} masked lines of {where}: exact match {exact} "
                  f"({s['exact']} exact)", **PLAIN)
    if card is not None and card.details:
        out.print(f"model card: {card.details['card']}  (evaluations: {card.figures['evaluations']})",
                  **PLAIN)


def _print_served(report: Any) -> None:
    if report is None or not report.details:
        return
    d = report.details
    example = d["example"]
    out.print(f"served FIM completion (OpenAI /v1/completions, prompt + suffix) in {example['repo']}/"
              f"{example['path']}:", **PLAIN)
    for line in d["prefix_tail"][:-1]:
        out.print(f"    {line}", **PLAIN)
    last = d["prefix_tail"][-1] if d["prefix_tail"] else ""
    out.print(f"  > {last}{d['first_line']}", **PLAIN)
    for line in d["suffix_head"]:
        out.print(f"    {line}", **PLAIN)
    verdict = "exact match" if d["exact_match"] else f"the file has: {example['expected'].strip()}"
    out.print(f"  ({verdict})", **PLAIN)
    out.print(f"  attribution: {json.dumps(d['attribution'])}", **PLAIN)
    out.print(f"  request and response: {d['file']}", **PLAIN)


def _figures(figures: dict[str, Any]) -> str:
    parts = []
    for key, value in figures.items():
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, int):
            value = f"{value:,}"
        parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts)


def _print_stages(result: Any) -> None:
    table = Table(title="stages", title_justify="left")
    for column in ("stage", "status", "key figures", "time"):
        table.add_column(column, justify="right" if column == "time" else "left")
    for r in result.reports:
        figures = _figures(r.figures) if r.figures else r.note
        if r.figures and r.note:
            figures += f" ({r.note})"
        table.add_row(r.name, r.status, figures, f"{r.seconds:,.1f} s")
    table.add_row("total", "", "", f"{result.seconds:,.1f} s")
    out.print(table)
