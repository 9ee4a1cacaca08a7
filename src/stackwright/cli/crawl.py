"""``stackwright crawl``: fetch listed repositories into a folder that ``stackwright build`` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stackwright.cli._common import (
    EXIT_FAILED_CHECK,
    PLAIN,
    ProgressFlag,
    err,
    fail,
    key_value_table,
    out,
    print_json,
)

app = typer.Typer()

INTERRUPTED = "interrupted; rerun the same command to fetch the rest"


@app.command("crawl")
def crawl_cmd(
    list_file: Annotated[Path, typer.Argument(
        metavar="LIST", help="Repositories, one a line (owner/name or URL; # comments), or JSON lines.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Crawl folder (created; reruns resume).")],
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Repositories fetched at once.")] = 8,
    host: Annotated[str | None, typer.Option(
        help="URL template for owner/name entries [default: https://github.com/{owner}/{name}.git].")] = None,
    max_size: Annotated[float, typer.Option("--max-size", help="Largest repository copy, in MB.")] = 1000.0,
    timeout: Annotated[float, typer.Option(help="Seconds one fetch attempt may take.")] = 600.0,
    retries: Annotated[int, typer.Option(min=0, help="Retries after a timeout or network failure.")] = 3,
    backoff: Annotated[float, typer.Option(help="Seconds before the first retry (doubled each time).")] = 1.0,
    progress: ProgressFlag = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fetch a list of repositories (shallow, bare, default branch or the listed ref) into a folder
    that `stackwright build` reads, with their stars, forks and host license as columns.

    A rerun with the same list fetches only what is not done yet. Exit 1 when a repository failed
    or a line of the list is invalid (see the report), 130 when interrupted.
    """
    from stackwright.crawl import DEFAULT_HOST, CrawlSettings, crawl

    settings = CrawlSettings(host=host or DEFAULT_HOST, concurrency=concurrency, max_size_mb=max_size,
                             timeout=timeout, retries=retries, backoff=backoff)
    bar = None
    if progress and not as_json:
        from stackwright.crawl.progress import CrawlProgressBar

        bar = CrawlProgressBar(err)
    try:
        report = crawl(list_file, out_dir, settings, progress=bar)
    except KeyboardInterrupt:
        fail(INTERRUPTED, 130)
    data = {"out": str(out_dir), **report.to_json()}
    if as_json:
        print_json(data)
    else:
        rows = [("listed", f"{data['listed']:,}"), ("fetched", f"{data['fetched']:,}"),
                ("skipped (already done)", f"{data['skipped']:,}")]
        for reason, failed in data["failed_by_reason"].items():
            more = ", ..." if failed["count"] > len(failed["examples"]) else ""
            rows.append((f"failed {reason}", f"{failed['count']:,} ({', '.join(failed['examples'])}{more})"))
        if data["retries"]:
            rows.append(("retries", f"{data['retries']:,}"))
        rows += [("fetched bytes", f"{data['bytes'] / 1e6:,.2f} MB"),
                 ("done in folder", f"{data['done']:,} ({data['total_bytes'] / 1e6:,.2f} MB)"),
                 ("time", f"{data['seconds']:.2f} s")]
        out.print(key_value_table("crawl interrupted" if report.interrupted else "crawl finished", rows))
        out.print(f"crawl: {out_dir}  (repos/, crawl-state.jsonl, repositories.jsonl, crawl-report.json)",
                  **PLAIN)
    if report.interrupted:
        err.print(INTERRUPTED, highlight=False)
        raise typer.Exit(130)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED_CHECK)
