"""Release commands: ``release [make] | verify | diff`` and ``attribute``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from stackwright.cli._common import (
    EXIT_FAILED_CHECK,
    MAX_TEXT_INPUT,
    PLAIN,
    JsonFlag,
    command_group,
    err,
    key_value_table,
    out,
    plural,
    print_json,
    say,
)

app = typer.Typer()


class _ReleaseGroup(TyperGroup):
    """``stackwright release DATASET ...`` is ``stackwright release make DATASET ...``: a first argument
    that names no sub-command (``diff``, ``verify``, ``make``) is the dataset to release."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] != "--help":
            args = ["make", *args]
        return super().parse_args(ctx, args)


release_app = command_group(
    app, "release",
    "Versioned releases: make (stackwright release DATASET --version vX.Y.Z --out DIR), verify, diff.",
    cls=_ReleaseGroup,
)

RegistryUrl = Annotated[str | None, typer.Option("--db", show_default=False, help=(
    "Opt-out registry URL (default: $STACKWRIGHT_REGISTRY, else the default registry file when it "
    "exists): its verified opt-outs are left out and marked applied."))]


def release_progress(quiet: bool) -> Any:
    return None if quiet else (lambda message: say(f"release: {message}"))


def print_release(out_dir: Path, manifest: dict[str, Any], applied: list[str], as_json: bool,
                  title: str) -> None:
    """The summary of a release just made, as a table or (``--json``) one object."""
    from stackwright.release.manifest import release_summary

    summary = {**release_summary(out_dir, manifest), "requests_applied": applied}
    if as_json:
        print_json(summary)
        return
    rows = [
        ("files", f"{summary['rows']:,}"),
        ("repositories", f"{summary['repositories']:,}"),
        ("content", f"{summary['content_bytes'] / 1e6:,.2f} MB"),
        ("parquet (zstd)", f"{summary['file_bytes'] / 1e6:,.2f} MB in {summary['shards']} shard(s)"),
    ]
    if manifest["optouts"]["source"]:
        removed = manifest["optouts"]["removed"]
        rows.append(("opt-outs removed", f"{sum(removed.values()):,} files of {len(removed):,} repositories"))
    if applied:
        rows.append(("requests applied", f"{len(applied):,} (now applied in {manifest['version']})"))
    out.print(key_value_table(title, rows))
    out.print(f"release: {summary['release']}\ndata card: {summary['datacard']}", **PLAIN)


@release_app.command("make")
def release_make_cmd(
    dataset: Annotated[Path, typer.Argument(help="A built stackwright dataset folder.")],
    version: Annotated[str, typer.Option("--version", help="Release version: vMAJOR.MINOR.PATCH[-pre].")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New release folder (must not exist).")],
    exclude: Annotated[Path | None, typer.Option(help="Opt-out list: owner or owner/repo per line.")] = None,
    db: RegistryUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Make an immutable release of a dataset: shards, manifest with checksums, data card, username index.

    Also: `stackwright release DATASET --version vX.Y.Z --out DIR`.
    """
    from stackwright.release.registry import make_release_honouring_registry

    manifest, applied = make_release_honouring_registry(dataset, version, out_dir, db=db, exclude=exclude,
                                                        progress=release_progress(as_json))
    print_release(out_dir, manifest, applied, as_json, f"release {version}")


@release_app.command("verify")
def release_verify_cmd(
    release: Annotated[Path, typer.Argument(help="A release folder.")],
    as_json: JsonFlag = False,
) -> None:
    """Check every file of a release against its manifest; exit 1 on any problem."""
    from stackwright.release.verify import verify_release

    problems = verify_release(release)
    if as_json:
        print_json({"release": str(release), "ok": not problems, "problems": problems})
    else:
        for problem in problems:
            out.print(f"problem: {problem}", **PLAIN)
        if not problems:
            out.print(f"ok: {release} matches its manifest", **PLAIN)
    if problems:
        if not as_json:
            err.print(f"error: {release} failed verification: {len(problems)} problem(s)", **PLAIN)
        raise typer.Exit(EXIT_FAILED_CHECK)


@release_app.command("diff")
def release_diff_cmd(
    a: Annotated[Path, typer.Argument(help="The earlier release folder.")],
    b: Annotated[Path, typer.Argument(help="The later release folder.")],
    limit: Annotated[int, typer.Option(min=0, help="Most repositories and files listed per change.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the differences as JSON.")] = False,
) -> None:
    """What changed between two releases: repositories (with why they went) and files."""
    from stackwright.release.diff import diff_releases

    result = diff_releases(a, b, limit=limit)
    if as_json:
        print_json(result)
        return
    ra, rb, repos, files = result["a"], result["b"], result["repositories"], result["files"]
    out.print(f"release diff {ra['version']} -> {rb['version']}", **PLAIN)
    out.print(f"files: {ra['files']:,} -> {rb['files']:,} (+{files['added']['count']:,}, "
              f"-{files['removed']['count']:,}, {files['unchanged']:,} unchanged)", **PLAIN)
    out.print(f"repositories: {ra['repositories']:,} -> {rb['repositories']:,} "
              f"(+{repos['added']['count']:,}, -{repos['removed']['count']:,})", **PLAIN)
    for title, listed, line in (
        ("repositories removed", repos["removed"],
         lambda r: f"{r['repo']} ({plural(r['files'], 'file')}): {r['reason']}"),
        ("repositories added", repos["added"], lambda r: f"{r['repo']} ({plural(r['files'], 'file')})"),
        ("files removed", files["removed"], lambda r: f"{r['repo']}: {r['path']}"),
        ("files added", files["added"], lambda r: f"{r['repo']}: {r['path']}"),
    ):
        if not listed["count"]:
            continue
        out.print(f"{title}:", **PLAIN)
        for item in listed["items"]:
            out.print(f"  {line(item)}", **PLAIN)
        if listed["truncated"]:
            out.print(f"  ... and {listed['count'] - len(listed['items']):,} more (--limit, --json)", **PLAIN)


@app.command("attribute")
def attribute_cmd(
    source: Annotated[str, typer.Argument(help="A file holding the snippet (a model completion), or -.")],
    release: Annotated[Path, typer.Option("--release", help="A release folder.")],
    min_overlap: Annotated[int | None, typer.Option(
        help="Least characters shared with a file to report it [default: the index's, 111].")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most matches to report.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Does a snippet appear in a release? Matching repositories, paths, licenses and the overlap."""
    from stackwright.files import read_user_text
    from stackwright.release.lookup import find_snippet

    text = read_user_text(source, MAX_TEXT_INPUT)
    result, matches = find_snippet(release, text, min_overlap=min_overlap, limit=limit)
    if as_json:
        print_json(result)
        return
    if not matches:
        out.print(f"not found in release {result['version']}", **PLAIN)
        return
    table = Table(title=f"found in release {result['version']}", title_justify="left")
    for column in ("repository", "path", "license", "overlap"):
        table.add_column(column, justify="right" if column == "overlap" else "left")
    for m in matches:
        overlap = f"{m.overlap_chars:,} chars ({m.overlap_fraction:.0%})"
        table.add_row(m.repo, m.path, m.license or "-", overlap)
    out.print(table)
