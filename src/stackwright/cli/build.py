"""``stackwright build`` (``stackwright demo`` is in :mod:`stackwright.cli.demo`)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from stackwright.cli._common import (
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
