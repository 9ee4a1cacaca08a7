"""``stackwright dedup``: exact and near-duplicate removal over a finished dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stackwright.cli._common import (
    PLAIN,
    ConfigFile,
    ExecutorOption,
    Workers,
    err,
    out,
    print_json,
    value_of,
)

app = typer.Typer()


@app.command("dedup")
def dedup_cmd(
    dataset: Annotated[Path, typer.Argument(help="A stackwright dataset folder.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder (kept files).")],
    threshold: Annotated[float | None, typer.Option(help="Jaccard of near-duplicates [0.7].")] = None,
    num_perm: Annotated[int | None, typer.Option(help="MinHash permutations [256].")] = None,
    ngram: Annotated[int | None, typer.Option(help="Word n-gram size [5].")] = None,
    bands: Annotated[int | None, typer.Option(help="LSH bands [chosen from the threshold].")] = None,
    rows: Annotated[int | None, typer.Option(help="Rows per LSH band [chosen from the threshold].")] = None,
    exact: Annotated[bool, typer.Option(help="Remove byte-identical copies.")] = True,
    near: Annotated[bool, typer.Option(help="Remove near-duplicates (MinHash LSH).")] = True,
    verify: Annotated[bool, typer.Option(help="Check candidate pairs' estimated Jaccard.")] = False,
    against: Annotated[Path | None, typer.Option(help="Remove files duplicated in this dataset.")] = None,
    executor: ExecutorOption = None,
    workers: Workers = None,
    config_file: ConfigFile = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier dedup output in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Remove exact and near duplicates from a dataset (or the files near-duplicated in --against)."""
    from stackwright.config import load_build_config
    from stackwright.dataset.manifest import read_manifest
    from stackwright.dedup.run import deduplicate

    for path in (dataset, against):
        if path is not None:
            read_manifest(path)  # a one-line error when it is not a finished dataset
    config = load_build_config(
        config_file, executor=value_of(executor), workers=workers, dedup__threshold=threshold,
        dedup__num_perm=num_perm, dedup__ngram=ngram, dedup__bands=bands, dedup__rows=rows,
        dedup__exact=exact, dedup__near=near, dedup__verify=verify,
    )
    result = deduplicate(dataset, out_dir, config, against=against, overwrite=overwrite,
                         console=None if as_json else err)
    report = result.summary()
    if as_json:
        print_json(report)
        return
    out.print(f"dedup: {report['files']:,} files, {report['removed']:,} removed "
              f"({report['removed_exact']:,} exact, {report['removed_near']:,} near) in "
              f"{report['clusters']:,} clusters; kept {report['kept']:,} in {result.out} "
              f"({report['seconds']:.1f} s)", **PLAIN)
