"""``stackwright build`` and ``stackwright demo``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from stackwright.cli._common import (
    PLAIN,
    ConfigFile,
    ExecutorOption,
    JsonFlag,
    Names,
    ProgressFlag,
    Workers,
    choice,
    comma_list,
    err,
    fail,
    key_value_table,
    metavar,
    out,
    print_json,
    say,
    value_of,
)

app = typer.Typer()

INTERRUPTED = "interrupted; rerun the same command to resume from the finished shards"


class Layout(StrEnum):
    auto = "auto"
    repos = "repos"
    repo = "repo"


def print_build_summary(summary: dict[str, Any], title: str) -> None:
    rows = [
        ("repositories", f"{summary['repositories']:,}"),
        ("files seen", f"{summary['files_seen']:,}"),
        ("rows written", f"{summary['rows']:,}"),
        ("content", f"{summary['content_mb']:,} MB"),
        ("parquet (zstd)", f"{summary['parquet_mb']:,} MB in {summary['shards']} shard(s)"),
    ]
    if summary["shards_resumed"]:
        rows.append(("shards resumed", str(summary["shards_resumed"])))
    rows += [(f"dropped {reason}", f"{n:,}")
             for reason, n in sorted(summary["dropped"].items(), key=lambda kv: -kv[1])]
    rate = summary["files_per_second"]
    rows.append(("time", f"{summary['seconds']} s" + (f" ({rate:,.0f} files/s)" if rate else "")))
    out.print(key_value_table(title, rows))
    out.print(f"dataset: [bold]{summary['dataset']}[/]  (manifest.json, data/*.parquet)")


@app.command("build")
def build_cmd(
    sources: Annotated[list[str], typer.Argument(help="Folders, git repositories, archives or tables.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")],
    executor: ExecutorOption = None,
    workers: Workers = None,
    ray_address: Annotated[str | None, typer.Option(help="Address of an existing Ray cluster.")] = None,
    config_file: ConfigFile = None,
    max_file_size: Annotated[int | None, typer.Option(help="Skip files larger than this many bytes.")] = None,
    rev: Annotated[str | None, typer.Option(help="Revision to read from git repositories.")] = None,
    layout: Annotated[Layout | None, typer.Option(
        parser=choice(Layout, "layout"), metavar=metavar(Layout),
        help="auto, repos (folder of repositories) or repo.")] = None,
    shard_size: Annotated[int | None, typer.Option(help="Input bytes per output shard.")] = None,
    steps: Annotated[Names | None, typer.Option(
        parser=comma_list, metavar="A,B", help="Comma-separated steps ('none' for no steps).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a build of other input in --out.")] = False,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Build a dataset: read sources, apply the steps, write Parquet shards and a manifest.

    A rerun with the same arguments resumes an interrupted build from its finished shards.
    """
    from stackwright.build import build
    from stackwright.config import load_build_config

    config = load_build_config(
        config_file,
        executor=value_of(executor),
        workers=workers,
        ray_address=ray_address,
        shard_size=shard_size,
        steps=None if steps is None else [s for s in steps if s != "none"],
        read__max_file_size=max_file_size,
        read__rev=rev,
        read__layout=value_of(layout),
    )
    try:
        result = build(list(sources), out_dir, config, overwrite=overwrite,
                       progress=progress and not as_json, console=err)
    except KeyboardInterrupt:
        fail(INTERRUPTED, 130)
    if as_json:
        print_json(result.summary())
    else:
        print_build_summary(result.summary(), "build finished")


@app.command("demo")
def demo_cmd(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")] = Path(
        "stackwright-demo"
    ),
    limit_mb: Annotated[int, typer.Option(help="Approximate input size to read, in MB.")] = 60,
    with_model: Annotated[bool, typer.Option(
        "--with-model", help="Then train a tokenizer and the tiny model on the release and show a FIM "
        "completion (the model extra).")] = False,
    train_minutes: Annotated[float, typer.Option(min=0.1, help="Training time with --with-model.")] = 4.0,
    workers: Workers = None,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Build a dataset from the code of this Python installation: no network, no input needed.

    The standard library is one repository and every installed distribution another, each with the
    license its metadata declares. With --with-model a tokenizer and the tiny GPTBigCode model are
    trained on the release and fill in a line of a held-out file.
    """
    from stackwright.demo import DEMO_RELEASE, run_demo

    try:
        result = run_demo(out_dir, limit_mb=limit_mb, workers=workers, progress=progress and not as_json,
                          console=err, say=None if as_json else say)
    except KeyboardInterrupt:
        fail(INTERRUPTED, 130)
    summary = result.summary()
    model = None
    if with_model:
        model = _model_demo(out_dir, result.release, train_minutes, workers, progress and not as_json,
                            as_json)
        summary["model"] = model
    if as_json:
        print_json(summary)
        return
    print_build_summary(summary, "stackwright demo")
    out.print(f"release {DEMO_RELEASE}: {result.release}  (data card: {result.datacard})", **PLAIN)
    if model is not None:
        from stackwright.cli.train import print_train_summary

        print_train_summary(model["train"])
        _print_fim_example(model.get("fim_example"))
        return
    out.print(
        "next: python -c \"import pyarrow.dataset as ds; "
        f"print(ds.dataset('{summary['dataset']}/data').head(3).to_pandas())\""
    )


def _model_demo(out_dir: Path, release: Path, minutes: float, workers: int | None, progress: bool,
                quiet: bool) -> dict[str, Any]:
    from dataclasses import asdict

    from stackwright.cli._common import TRAINING_MODULES, need_extra
    from stackwright.cli.train import StepBar

    need_extra(TRAINING_MODULES, "--with-model")
    from stackwright.demo import run_model_demo

    try:
        with StepBar(progress) as bar:
            result = run_model_demo(out_dir, release, minutes=minutes, workers=workers, on_step=bar,
                                    say=None if quiet else say)
    except KeyboardInterrupt:
        fail("interrupted; rerun the demo to resume", 130)
    example = result.example
    return {"tokenizer": str(result.tokenizer), "tokens": str(result.tokens), "train": result.train.summary(),
            "fim_example": None if example is None else {**asdict(example), "exact_match": example.exact}}


def _print_fim_example(example: dict[str, Any] | None) -> None:
    if example is None:
        out.print("no held-out Python file had a line to fill in", **PLAIN)
        return
    before = example["prefix"].splitlines()[-4:-1]
    after = example["suffix"].lstrip("\n").splitlines()[:2]
    out.print(f"fill-in-the-middle on a held-out file, {example['repo']}/{example['path']}:", **PLAIN)
    for line in before:
        out.print(f"    {line}", **PLAIN)
    indent = example["prefix"][len(example["prefix"].rstrip(" \t")):]
    out.print(f"  > {indent}{example['completion']}", **PLAIN)
    for line in after:
        out.print(f"    {line}", **PLAIN)
    verdict = "exact match" if example["exact_match"] else f"the file has: {example['expected'].strip()}"
    out.print(f"  ({verdict})", **PLAIN)
