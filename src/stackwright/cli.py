"""The ``stackwright`` command. Parsing and printing only; the work lives in the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from stackwright import __version__

app = typer.Typer(
    name="stackwright",
    help="Build code datasets and models from permissively licensed, consented code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err = Console(stderr=True)
out = Console()

EXIT_FAILED_CHECK = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr and the exit code. The message is plain text, never markup: paths, names and
    errors from the input print as they are (``stackwright[portal]``, ``[bold]`` in a file name)."""
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        out.print(f"stackwright {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """stackwright: consent-first, license-aware code datasets and models."""


def _summary(result: Any) -> dict[str, Any]:
    manifest = result.manifest
    read = manifest["steps"].get("read", {})
    dropped: dict[str, int] = {}
    for name, step in manifest["steps"].items():
        for reason, n in step.get("dropped", {}).items():
            dropped[f"{name}:{reason}"] = n
    seconds = result.seconds
    return {
        "dataset": str(result.out),
        "repositories": manifest["repositories"],
        "files_seen": read.get("in", 0),
        "rows": manifest["rows"],
        "content_mb": round(manifest["content_bytes"] / 1e6, 2),
        "parquet_mb": round(manifest["file_bytes"] / 1e6, 2),
        "shards": len(manifest["shards"]),
        "shards_resumed": result.tasks_resumed,
        "dropped": dropped,
        "seconds": round(seconds, 2),
        "files_per_second": round(read.get("in", 0) / seconds, 1) if seconds else None,
        "mb_per_second": round(manifest["content_bytes"] / 1e6 / seconds, 2) if seconds else None,
    }


def _print_summary(summary: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("repositories", f"{summary['repositories']:,}")
    table.add_row("files seen", f"{summary['files_seen']:,}")
    table.add_row("rows written", f"{summary['rows']:,}")
    table.add_row("content", f"{summary['content_mb']:,} MB")
    table.add_row("parquet (zstd)", f"{summary['parquet_mb']:,} MB in {summary['shards']} shard(s)")
    if summary["shards_resumed"]:
        table.add_row("shards resumed", str(summary["shards_resumed"]))
    for reason, n in sorted(summary["dropped"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"dropped {reason}", f"{n:,}")
    rate = summary["files_per_second"]
    table.add_row("time", f"{summary['seconds']} s" + (f" ({rate:,.0f} files/s)" if rate else ""))
    out.print(table)
    out.print(f"dataset: [bold]{summary['dataset']}[/]  (manifest.json, data/*.parquet)")


def _run_build(sources: list[Any], out_dir: Path, config: Any, overwrite: bool, progress: bool) -> Any:
    from stackwright.build import BuildError, build
    from stackwright.pipeline.executors import ExecutorError
    from stackwright.sources.base import SourceError

    try:
        return build(sources, out_dir, config, overwrite=overwrite, progress=progress, console=err)
    except (SourceError, BuildError, ExecutorError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; rerun the same command to resume from the finished shards", 130)


@app.command("build")
def build_cmd(
    sources: Annotated[list[str], typer.Argument(help="Folders, git repositories, archives or tables.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")],
    executor: Annotated[str | None, typer.Option(help="local (process pool) or ray.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel workers [default: CPU count].")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Address of an existing Ray cluster.")] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="TOML or JSON settings file.")] = None,
    max_file_size: Annotated[int | None, typer.Option(help="Skip files larger than this many bytes.")] = None,
    rev: Annotated[str | None, typer.Option(help="Revision to read from git repositories.")] = None,
    layout: Annotated[str | None, typer.Option(help="auto, repos (folder of repositories) or repo.")] = None,
    shard_size: Annotated[int | None, typer.Option(help="Input bytes per output shard.")] = None,
    steps: Annotated[str | None, typer.Option(help="Comma-separated steps ('none' for no steps).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a build of other input in --out.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Build a dataset: read sources, apply the steps, write Parquet shards and a manifest.

    A rerun with the same arguments resumes an interrupted build from its finished shards.
    """
    from stackwright.config import ConfigError, load_build_config

    step_list = None if steps is None else [s for s in steps.split(",") if s.strip() and s != "none"]
    try:
        config = load_build_config(
            config_file,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            shard_size=shard_size,
            steps=step_list,
            read__max_file_size=max_file_size,
            read__rev=rev,
            read__layout=layout,
        )
    except ConfigError as exc:
        fail(str(exc))
    result = _run_build(list(sources), out_dir, config, overwrite, progress and not as_json)
    summary = _summary(result)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary, "build finished")


DEMO_RELEASE = "v0.1.0"


@app.command("demo")
def demo_cmd(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")] = Path(
        "stackwright-demo"
    ),
    limit_mb: Annotated[int, typer.Option(help="Approximate input size to read, in MB.")] = 60,
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel workers [default: CPU count].")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Build a dataset from the code of this Python installation: no network, no input needed.

    The standard library is one repository and every installed distribution another, each with the
    license its metadata declares.
    """
    from stackwright.config import load_build_config
    from stackwright.release.manifest import DATACARD_HTML, ReleaseError
    from stackwright.release.writer import make_release, remove_release
    from stackwright.sources.installed import InstalledPythonSource

    config = load_build_config(None, workers=workers, shard_size=16_000_000)
    source = InstalledPythonSource(limit_bytes=limit_mb * 1_000_000)
    # The demo ends with a release of what it built, remade on every run: OUT/release/v0.1.0.
    release_dir = out_dir / "release" / DEMO_RELEASE
    try:
        remove_release(release_dir)
    except ReleaseError as exc:
        fail(str(exc))
    if not as_json:
        err.print(f"demo: reading the Python installation at {source.location} (about {limit_mb} MB)")
    result = _run_build([source], out_dir, config, True, progress and not as_json)
    try:
        make_release(out_dir, DEMO_RELEASE, release_dir)
    except ReleaseError as exc:
        fail(str(exc))
    summary = _summary(result)
    summary.update(release=str(release_dir), datacard=str(release_dir / DATACARD_HTML))
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    _print_summary(summary, "stackwright demo")
    out.print(f"release {DEMO_RELEASE}: {release_dir}  (data card: {summary['datacard']})", highlight=False,
              markup=False, soft_wrap=True)
    out.print(
        "next: python -c \"import pyarrow.dataset as ds; "
        f"print(ds.dataset('{summary['dataset']}/data').head(3).to_pandas())\""
    )


license_app = typer.Typer(help="License detection.", no_args_is_help=True)
app.add_typer(license_app, name="license")


@license_app.command("detect")
def license_detect_cmd(
    path: Annotated[Path, typer.Argument(help="A license file (judged by its text) or a repository folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    explain: Annotated[bool, typer.Option(help="Show which file and reference text decided.")] = False,
    backend: Annotated[
        str, typer.Option(help="fast, fast+scancode (ScanCode for texts the fast matcher cannot match), "
                               "or scancode.")
    ] = "fast",
    permissive: Annotated[
        str | None,
        typer.Option(help="Comma-separated SPDX ids counted as permissive [default: built-in list]."),
    ] = None,
) -> None:
    """Detect the license of a file or a repository: an SPDX expression and a category."""
    from stackwright.config import LicenseConfig
    from stackwright.curate.licenses.database import LicenseDataError
    from stackwright.curate.licenses.repository import detect_file, detect_repository
    from stackwright.sources.base import SourceError

    if backend not in ("fast", "fast+scancode", "scancode"):
        fail(f"unknown backend {backend!r}; use fast, fast+scancode or scancode")
    if not path.exists():
        fail(f"{path}: no such file or directory")
    allow = None if permissive is None else [p.strip() for p in permissive.split(",") if p.strip()]
    settings = LicenseConfig(backend=backend, permissive=allow)  # type: ignore[arg-type]
    try:
        verdict = detect_repository(path, settings) if path.is_dir() else detect_file(path, settings)
    except (SourceError, LicenseDataError, RuntimeError) as exc:
        fail(str(exc))
    data = verdict.to_json(explain)
    if as_json:
        print(json.dumps(data, indent=2 if explain else None))
        return
    show = {"highlight": False, "soft_wrap": True}
    out.print(f"[bold]{data['spdx']}[/] ({data['category']})  {data['path']}", **show)
    for item in data["evidence"]:
        reason = f" [{item['reason']}]" if item.get("reason") else ""
        out.print(f"  {item['kind']:12} {item['path'] or '(declared)'}: {item['spdx']}{reason}", **show)
        for match in item.get("matches", []):
            out.print(f"      lines {match['lines'][0]}-{match['lines'][1]}: {match['spdx']} "
                      f"({match['rule']}, score {match['score']})", **show)
    for sub in data.get("subtrees", []):
        out.print(f"  subtree {sub['folder']}/: {sub['spdx']} ({sub['category']})", **show)
    if not data["evidence"]:
        out.print("  no license file, manifest declaration or README license section found")


lang_app = typer.Typer(help="Language detection (GitHub Linguist rules, go-enry).", no_args_is_help=True)
app.add_typer(lang_app, name="lang")


@lang_app.command("detect")
def lang_detect_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files, or folders (walked, .git skipped).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Detect the language of files: the Linguist name and type, and the vendored/generated flags."""
    from stackwright.curate.languages import detector
    from stackwright.sources.base import TOO_LARGE

    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(f"{missing[0]}: no such file or directory")
    found = detector()
    limit = 10_000_000
    for path in _walk_files(paths):
        try:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            err.print(f"warning: {path}: cannot read ({exc.strerror})", highlight=False, soft_wrap=True)
            continue
        guess = found.detect(str(path), data[:limit])
        record = guess.to_json(str(path))
        if len(data) > limit:
            record["note"] = TOO_LARGE
        if as_json:
            print(json.dumps(record))
        else:
            flags = [k for k in ("vendored", "generated", "documentation", "dotfile") if record[k]]
            shown = f"{guess.language} ({guess.type})" if guess.language else "unknown"
            out.print(f"{path}: {shown}{'  ' + ', '.join(flags) if flags else ''}", highlight=False,
                      soft_wrap=True)


def _walk_files(paths: list[Path]) -> Any:
    import os

    for path in paths:
        if not path.is_dir():
            yield path
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            for name in sorted(files):
                full = Path(folder) / name
                if not full.is_symlink():
                    yield full


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
    executor: Annotated[str | None, typer.Option(help="local (process pool) or ray.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel workers [default: CPU count].")] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="TOML or JSON settings file.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier dedup output in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Remove exact and near duplicates from a dataset (or the files near-duplicated in --against)."""
    from stackwright.config import ConfigError, load_build_config
    from stackwright.dedup.run import DedupError, deduplicate

    for path in (dataset, against):
        if path is not None and not (path / "manifest.json").is_file():
            fail(f"{path} is not a finished stackwright dataset (no manifest.json)")
    try:
        base = load_build_config(config_file, executor=executor, workers=workers)
        settings = base.dedup.model_dump()
        for key, value in {"threshold": threshold, "num_perm": num_perm, "ngram": ngram, "bands": bands,
                           "rows": rows}.items():
            if value is not None:
                settings[key] = value
        settings.update(exact=exact, near=near, verify=verify)
        config = base.model_copy(update={"dedup": type(base.dedup).model_validate(settings)})
    except ConfigError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(f"invalid dedup settings: {exc}".splitlines()[0])
    try:
        result = deduplicate(dataset, out_dir, config, against=against, overwrite=overwrite,
                             console=None if as_json else err)
    except DedupError as exc:
        fail(str(exc))
    report = {**result.report, "dataset": str(result.out), "seconds": round(result.seconds, 3)}
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(f"dedup: {report['files']:,} files, {report['removed']:,} removed "
              f"({report['removed_exact']:,} exact, {report['removed_near']:,} near) in "
              f"{report['clusters']:,} clusters; kept {report['kept']:,} in {result.out} "
              f"({report['seconds']:.1f} s)", highlight=False, soft_wrap=True)


pii_app = typer.Typer(help="PII and secrets: scan and redact.", no_args_is_help=True)
app.add_typer(pii_app, name="pii")
eval_app = typer.Typer(help="Evaluations.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read ({exc.strerror})")
    from stackwright.curate.licenses.matcher import decode_license_bytes

    text = decode_license_bytes(data)
    if text is None:
        fail(f"{path}: not decodable text")
    return text


@pii_app.command("scan")
def pii_scan_cmd(
    path: Annotated[str, typer.Argument(help="A file, or - for standard input.")] = "-",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show_values: Annotated[bool, typer.Option(help="Include the detected values (careful).")] = False,
) -> None:
    """Find emails, IP addresses, keys and passwords; character offsets into the decoded text."""
    from stackwright.curate.pii.scan import scan

    text = _read_text(path)
    entities = scan(text)
    records = []
    for e in entities:
        record: dict[str, Any] = e.to_json()
        record["rule"] = e.detail
        record["redact"] = e.redact
        if show_values:
            record["value"] = text[e.start:e.end]
        records.append(record)
    if as_json:
        print(json.dumps({"entities": records}))
        return
    for r in records:
        shown = f"  {r['value']!r}" if show_values else ""
        out.print(f"{r['start']}-{r['end']} {r['label']} ({r['rule']}){shown}", highlight=False)
    if not records:
        out.print("no PII or secrets found")


@pii_app.command("redact")
def pii_redact_cmd(
    source: Annotated[Path, typer.Argument(help="A file, or a stackwright dataset folder.")],
    target: Annotated[Path, typer.Argument(help="The redacted file, or a new dataset folder.")],
) -> None:
    """Redact a file, or every file of a dataset (written as a new dataset)."""
    from stackwright.config import BuildConfig
    from stackwright.curate.pii.scan import redact, scan

    if not source.exists():
        fail(f"{source}: no such file or directory")
    if source.is_dir():
        from stackwright.curate.pii.dataset import redact_dataset

        try:
            counts = redact_dataset(source, target, BuildConfig())
        except (FileNotFoundError, FileExistsError) as exc:
            fail(str(exc))
        out.print(f"redacted {sum(counts.values())} entities {dict(counts)} into {target}", highlight=False)
        return
    text = _read_text(str(source))
    redacted, counts = redact(text, scan(text))
    target.write_text(redacted, encoding="utf-8")
    out.print(f"redacted {sum(counts.values())} entities {dict(counts)} into {target}", highlight=False)


@eval_app.command("pii")
def eval_pii_cmd(
    cases: Annotated[Path, typer.Option("--cases", help="JSONL: text, entities [{start, end, label}].")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ip_scope: Annotated[str, typer.Option(help="all: score every IP; redacted: only those the policy "
                                                "redacts (references with ip_scope).")] = "all",
) -> None:
    """Score the detectors on labelled cases with BigCode's rule (overlap > 80% of both spans)."""
    from stackwright.curate.pii.evaluate import score_cases

    if not cases.is_file():
        fail(f"{cases}: no such file")
    try:
        result = score_cases(cases, ip_scope=ip_scope)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table(title=f"PII detection on {cases.name}")
    for column in ("label", "precision", "recall", "F1", "true", "predicted"):
        table.add_column(column, justify="right" if column != "label" else "left")
    for label, r in result["per_label"].items():
        table.add_row(label, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                      str(r["reference"]), str(r["predicted"]))
    out.print(table)


decontaminate_app = typer.Typer(help="Benchmark decontamination.", no_args_is_help=True)
app.add_typer(decontaminate_app, name="decontaminate")


@decontaminate_app.command("export")
def decontaminate_export_cmd(
    benchmarks: Annotated[list[str], typer.Argument(help="Built-in benchmarks (humaneval) or benchmark files "
                                                         "(JSONL, or text files of one snippet each).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")],
    fields: Annotated[str | None, typer.Option(help="Comma-separated JSONL fields [all strings].")] = None,
    min_chars: Annotated[int, typer.Option(min=1, help="Leave out snippets shorter than this.")] = 50,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier export in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write benchmark snippets as a dataset, for `stackwright dedup DATASET --against OUT`."""
    from stackwright.build import BuildError, write_benchmark_dataset
    from stackwright.config import ConfigError

    field_list = [f.strip() for f in fields.split(",") if f.strip()] if fields else []
    try:
        result = write_benchmark_dataset(benchmarks, out_dir, fields=field_list, min_chars=min_chars,
                                         overwrite=overwrite)
    except (ConfigError, BuildError) as exc:
        fail(str(exc))
    manifest = result.manifest
    summary = {"dataset": str(result.out), "rows": manifest["rows"],
               "repositories": [r["repo"] for s in manifest["sources"] for r in s["repositories"]]}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    out.print(f"exported {summary['rows']:,} benchmark snippets ({', '.join(summary['repositories'])}) "
              f"to {summary['dataset']}", highlight=False, soft_wrap=True)


class _ReleaseGroup(TyperGroup):
    """``stackwright release DATASET ...`` is ``stackwright release make DATASET ...``: a first argument
    that names no sub-command (``diff``, ``verify``, ``make``) is the dataset to release."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] != "--help":
            args = ["make", *args]
        return super().parse_args(ctx, args)


release_app = typer.Typer(
    cls=_ReleaseGroup, no_args_is_help=True,
    help="Versioned releases: make (stackwright release DATASET --version vX.Y.Z --out DIR), verify, diff.",
)
app.add_typer(release_app, name="release")


@release_app.command("make")
def release_make_cmd(
    dataset: Annotated[Path, typer.Argument(help="A built stackwright dataset folder.")],
    version: Annotated[str, typer.Option("--version", help="Release version: vMAJOR.MINOR.PATCH[-pre].")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New release folder (must not exist).")],
    exclude: Annotated[Path | None, typer.Option(help="Opt-out list: owner or owner/repo per line.")] = None,
    db: Annotated[str | None, typer.Option("--db", show_default=False, help=(
        "Opt-out registry URL (default: $STACKWRIGHT_REGISTRY, else the default registry file when it "
        "exists): its verified opt-outs are left out and marked applied."))] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Make an immutable release of a dataset: shards, manifest with checksums, data card, username index.

    Also: `stackwright release DATASET --version vX.Y.Z --out DIR`.
    """
    manifest, applied = _make_release(dataset, version, out_dir, exclude=exclude, db=db,
                                      from_release=False, quiet=as_json)
    _print_release(out_dir, manifest, applied, as_json, f"release {version}")


def _make_release(dataset: Path, version: str, out_dir: Path, *, exclude: Path | None, db: str | None,
                  from_release: bool, quiet: bool) -> tuple[dict[str, Any], list[str]]:
    from stackwright.registry import RegistryError
    from stackwright.release.manifest import ReleaseError
    from stackwright.release.registry import make_release_honouring_registry

    def progress(message: str) -> None:
        err.print(f"release: {message}", highlight=False, markup=False, soft_wrap=True)

    try:
        return make_release_honouring_registry(dataset, version, out_dir, db=db, exclude=exclude,
                                               from_release=from_release,
                                               progress=None if quiet else progress)
    except (ReleaseError, RegistryError) as exc:
        fail(str(exc))


def _print_release(out_dir: Path, manifest: dict[str, Any], applied: list[str], as_json: bool,
                   title: str) -> None:
    summary = _release_summary(out_dir, manifest)
    summary["requests_applied"] = applied
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    version = manifest["version"]
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("files", f"{summary['rows']:,}")
    table.add_row("repositories", f"{summary['repositories']:,}")
    table.add_row("content", f"{summary['content_bytes'] / 1e6:,.2f} MB")
    table.add_row("parquet (zstd)", f"{summary['file_bytes'] / 1e6:,.2f} MB in {summary['shards']} shard(s)")
    if manifest["optouts"]["source"]:
        removed = manifest["optouts"]["removed"]
        table.add_row("opt-outs removed", f"{sum(removed.values()):,} files of {len(removed):,} repositories")
    if applied:
        table.add_row("requests applied", f"{len(applied):,} (now applied in {version})")
    out.print(table)
    out.print(f"release: {summary['release']}\ndata card: {summary['datacard']}", highlight=False,
              markup=False, soft_wrap=True)


def _release_summary(out_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    from stackwright.release.manifest import DATACARD_HTML

    return {"release": str(out_dir), "version": manifest["version"], "rows": manifest["rows"],
            "repositories": manifest["repositories"], "content_bytes": manifest["content_bytes"],
            "file_bytes": manifest["file_bytes"], "shards": len(manifest["shards"]),
            "optouts": manifest["optouts"], "datacard": str(out_dir / DATACARD_HTML)}


@release_app.command("verify")
def release_verify_cmd(
    release: Annotated[Path, typer.Argument(help="A release folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check every file of a release against its manifest; exit 1 on any problem."""
    from stackwright.release.manifest import ReleaseError
    from stackwright.release.verify import verify_release

    try:
        problems = verify_release(release)
    except ReleaseError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps({"release": str(release), "ok": not problems, "problems": problems}, indent=2))
    else:
        for problem in problems:
            out.print(f"problem: {problem}", highlight=False, markup=False, soft_wrap=True)
        if not problems:
            out.print(f"ok: {release} matches its manifest", highlight=False, markup=False, soft_wrap=True)
    if problems:
        if not as_json:
            err.print(f"error: {release} failed verification: {len(problems)} problem(s)", highlight=False,
                      markup=False, soft_wrap=True)
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
    from stackwright.release.manifest import ReleaseError

    try:
        result = diff_releases(a, b, limit=limit)
    except ReleaseError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    show = {"highlight": False, "markup": False, "soft_wrap": True}
    ra, rb, repos, files = result["a"], result["b"], result["repositories"], result["files"]
    out.print(f"release diff {ra['version']} -> {rb['version']}", **show)
    out.print(f"files: {ra['files']:,} -> {rb['files']:,} (+{files['added']['count']:,}, "
              f"-{files['removed']['count']:,}, {files['unchanged']:,} unchanged)", **show)
    out.print(f"repositories: {ra['repositories']:,} -> {rb['repositories']:,} "
              f"(+{repos['added']['count']:,}, -{repos['removed']['count']:,})", **show)
    for title, listed, line in (
        ("repositories removed", repos["removed"],
         lambda r: f"{r['repo']} ({_files(r['files'])}): {r['reason']}"),
        ("repositories added", repos["added"], lambda r: f"{r['repo']} ({_files(r['files'])})"),
        ("files removed", files["removed"], lambda r: f"{r['repo']}: {r['path']}"),
        ("files added", files["added"], lambda r: f"{r['repo']}: {r['path']}"),
    ):
        if not listed["count"]:
            continue
        out.print(f"{title}:", **show)
        for item in listed["items"]:
            out.print(f"  {line(item)}", **show)
        if listed["truncated"]:
            out.print(f"  ... and {listed['count'] - len(listed['items']):,} more (--limit, --json)", **show)


def _files(n: int) -> str:
    return f"{n:,} file" if n == 1 else f"{n:,} files"


@app.command("attribute")
def attribute_cmd(
    source: Annotated[str, typer.Argument(help="A file holding the snippet (a model completion), or -.")],
    release: Annotated[Path, typer.Option("--release", help="A release folder.")],
    min_overlap: Annotated[int | None, typer.Option(
        help="Least characters shared with a file to report it [default: the index's, 111].")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most matches to report.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Does a snippet appear in a release? Matching repositories, paths, licenses and the overlap."""
    from stackwright.release.attribution import AttributionIndex
    from stackwright.release.manifest import ATTRIBUTION_INDEX, ReleaseError, read_release_manifest

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{source}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{source}: cannot read it as UTF-8 text ({type(exc).__name__})")
    try:
        version = read_release_manifest(release).get("version")
        index = AttributionIndex.open(release / ATTRIBUTION_INDEX)
        matches = index.query(text, min_overlap=min_overlap, limit=limit)
    except ReleaseError as exc:
        fail(str(exc))
    except FileNotFoundError as exc:
        fail(f"{release}: no attribution index ({exc})")
    except ValueError as exc:
        fail(str(exc))
    result = {"release": str(release), "version": version, "found": bool(matches),
              "query_chars": len(text), "matches": [m.to_json() for m in matches]}
    if as_json:
        print(json.dumps(result, indent=2))
        return
    show = {"highlight": False, "markup": False, "soft_wrap": True}
    if not matches:
        out.print(f"not found in release {version}", **show)
        return
    table = Table(title=f"found in release {version}", title_justify="left")
    for column in ("repository", "path", "license", "overlap"):
        table.add_column(column, justify="right" if column == "overlap" else "left")
    for m in matches:
        overlap = f"{m.overlap_chars:,} chars ({m.overlap_fraction:.0%})"
        table.add_row(m.repo, m.path, m.license or "-", overlap)
    out.print(table)


optout_app = typer.Typer(
    no_args_is_help=True,
    help="The opt-out registry: developers' requests to leave the dataset (add, list, show, verify, reject).",
)
app.add_typer(optout_app, name="optout")

_DB_HELP = ("Registry database URL, sqlite:///PATH or postgresql://USER@HOST/DB (default: "
            "$STACKWRIGHT_REGISTRY, else registry.sqlite in $STACKWRIGHT_DATA or "
            "~/.local/share/stackwright).")
OptOutDb = Annotated[str | None, typer.Option("--db", help=_DB_HELP, show_default=False)]
OptOutActor = Annotated[str | None, typer.Option(help="Who decides, for the audit log (default: cli:$USER).")]


def _optout_registry(db: str | None, *, create: bool = False) -> Any:
    """The registry; only ``optout add`` creates one, the other commands never make an empty database."""
    from stackwright.registry import Registry, RegistryError

    try:
        return Registry.open(db, create=create)
    except RegistryError as exc:
        fail(str(exc))


def _optout_actor(actor: str | None) -> str:
    if actor:
        return actor
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _print_request(request: Any, *, contact: bool = False) -> None:
    show = {"highlight": False, "markup": False, "soft_wrap": True}
    data = request.admin_json(contact=contact)
    for key in ("id", "username", "scope", "status", "verifier", "decided_by", "reason", "applied_release",
                "created_at", "updated_at", "challenge", "contact"):
        if key in data and data[key] is not None:
            out.print(f"{key + ':':17}{data[key]}", **show)
    out.print(f"{'entries:':17}{', '.join(data['entries'])}", **show)


@optout_app.command("add")
def optout_add_cmd(
    username: Annotated[str, typer.Argument(help="GitHub user or organisation that opts out.")],
    contact: Annotated[str, typer.Option(help="Email address or URL to reach the requester (kept private).")],
    repos: Annotated[list[str] | None, typer.Argument(help="Repositories: NAME or USERNAME/NAME.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Opt out every repository of USERNAME.")] = False,
    db: OptOutDb = None,
    actor: OptOutActor = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the request as JSON.")] = False,
) -> None:
    """Record an opt-out request (pending) and print the token that proves ownership."""
    from stackwright.registry import RegistryError
    from stackwright.registry.request import OPTOUT_FILE

    if everything and repos:
        fail("give repositories or --all, not both")
    if not everything and not repos:
        fail("name the repositories to opt out, or --all for every repository of the user")
    with _optout_registry(db, create=True) as registry:
        try:
            request = registry.request_optout(username, "all" if everything else list(repos or []), contact,
                                              actor=_optout_actor(actor))
        except RegistryError as exc:
            fail(str(exc))
    how = (f"To verify it, commit a file named {OPTOUT_FILE} holding the token at the root of any "
           f"repository of {request.username}: the next build that reads it verifies the request. "
           f"A maintainer may also verify it: stackwright optout verify {request.id}")
    if as_json:
        print(json.dumps({**request.public_json(), "challenge": request.challenge, "instructions": how},
                         indent=2))
        return
    show = {"highlight": False, "markup": False, "soft_wrap": True}
    out.print(f"request {request.id}: {request.status} ({request.scope}: {', '.join(request.entries)})",
              **show)
    out.print(f"token: {request.challenge}", **show)
    out.print(how, **show)


@optout_app.command("list")
def optout_list_cmd(
    status: Annotated[str | None, typer.Option(help="pending, verified, rejected or applied.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most requests listed.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Requests skipped first (oldest first).")] = 0,
    db: OptOutDb = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the requests as JSON.")] = False,
) -> None:
    """List opt-out requests, oldest first (never their contacts)."""
    from stackwright.registry import RegistryError

    with _optout_registry(db) as registry:
        try:
            requests = registry.list(status, limit=limit, offset=offset)
        except RegistryError as exc:
            fail(str(exc))
    if as_json:
        print(json.dumps([r.public_json() for r in requests], indent=2))
        return
    if not requests:
        out.print(f"no {status + ' ' if status else ''}opt-out requests in {registry.url}", highlight=False,
                  markup=False, soft_wrap=True)
        return
    table = Table(title_justify="left")
    table.add_column("id", no_wrap=True, min_width=max(len(r.id) for r in requests))  # copied by users
    for column in ("username", "status", "verifier", "entries", "created"):
        table.add_column(column)
    for r in requests:
        entries = ", ".join(r.entries) if len(r.entries) <= 3 else f"{len(r.entries):,} repositories"
        table.add_row(r.id, r.username, r.status, r.verifier or "", entries,
                      r.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table, markup=False, highlight=False)


@optout_app.command("show")
def optout_show_cmd(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    db: OptOutDb = None,
    show_contact: Annotated[bool, typer.Option(help="Also print the requester's contact.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the request and its audit log as JSON.")
                       ] = False,
) -> None:
    """Show one request (token, decision) and its audit log; the contact only with --show-contact."""
    from stackwright.registry import RegistryError

    with _optout_registry(db) as registry:
        try:
            request = registry.get(request_id)
            events = registry.audit(request_id) if request is not None else []
        except RegistryError as exc:
            fail(str(exc))
    if request is None:
        fail(f"no opt-out request {ascii(request_id)[:60]}")
    if as_json:
        print(json.dumps({**request.admin_json(contact=show_contact), "audit": events}, indent=2))
        return
    _print_request(request, contact=show_contact)
    for event in events:
        detail = ", ".join(f"{k}={v}" for k, v in event["detail"].items())
        out.print(f"  {event['at'][:19]}  {event['action']:9} by {event['actor']}  {detail}", highlight=False,
                  markup=False, soft_wrap=True)


@optout_app.command("verify")
def optout_verify_cmd(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    db: OptOutDb = None,
    actor: OptOutActor = None,
) -> None:
    """Verify a pending request by hand (after checking that the requester owns the accounts)."""
    from stackwright.registry import RegistryError

    with _optout_registry(db) as registry:
        try:
            request = registry.verify(request_id, actor=_optout_actor(actor))
        except RegistryError as exc:
            fail(str(exc))
    out.print(f"request {request.id}: {request.status} ({', '.join(request.entries)})", highlight=False,
              markup=False, soft_wrap=True)


@optout_app.command("reject")
def optout_reject_cmd(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    reason: Annotated[str, typer.Option(help="Why (shown to the requester).")],
    db: OptOutDb = None,
    actor: OptOutActor = None,
) -> None:
    """Reject a pending request, with the reason."""
    from stackwright.registry import RegistryError

    with _optout_registry(db) as registry:
        try:
            request = registry.reject(request_id, actor=_optout_actor(actor), reason=reason)
        except RegistryError as exc:
            fail(str(exc))
    out.print(f"request {request.id}: {request.status}", highlight=False, markup=False, soft_wrap=True)


@optout_app.command("apply")
def optout_apply_cmd(
    release: Annotated[Path, typer.Argument(help="The release to start from.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New release folder (must not exist).")],
    version: Annotated[str | None, typer.Option("--version", help="New version [default: next patch].")] = (
        None
    ),
    db: OptOutDb = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Make a new release from RELEASE without the code of verified opt-outs, and mark them applied."""
    from stackwright.registry.location import default_url
    from stackwright.release.manifest import ReleaseError, next_version, read_release_manifest

    try:
        previous = read_release_manifest(release)
        version = version or next_version(previous.get("version"))  # type: ignore[arg-type]
    except ReleaseError as exc:
        fail(str(exc))
    manifest, applied = _make_release(release, version, out_dir, exclude=None, db=db or default_url(),
                                      from_release=True, quiet=as_json)
    _print_release(out_dir, manifest, applied, as_json, f"release {version} (from {previous.get('version')})")
    if not as_json:
        removed = manifest["optouts"]["removed"]
        show = {"highlight": False, "markup": False, "soft_wrap": True}
        out.print(f"removed: {sum(removed.values()):,} files of {len(removed):,} repositories", **show)
        for repo, files in removed.items():
            out.print(f"  {repo}: {files:,} file(s)", **show)


portal_app = typer.Typer(
    no_args_is_help=True,
    help='The "Am I in the dataset?" web portal (the portal extra): serve, hash-password.',
)
app.add_typer(portal_app, name="portal")


@portal_app.command("serve")
def portal_serve_cmd(
    db: Annotated[str | None, typer.Option("--db", show_default=False, help=(
        "Opt-out registry URL (default: $STACKWRIGHT_REGISTRY, else the default registry file)."))] = None,
    releases: Annotated[Path, typer.Option(help="Folder of release folders (v0.1.0/, v0.2.0/, ...).")] = Path(
        "releases"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    admin_token_env: Annotated[str, typer.Option(
        help="Environment variable holding the admin API token.")] = "STACKWRIGHT_ADMIN_TOKEN",
    admin_password_hash_env: Annotated[str, typer.Option(
        help="Environment variable holding the admin password hash (stackwright portal hash-password).")] = (
        "STACKWRIGHT_ADMIN_PASSWORD_HASH"),
    secret_key_env: Annotated[str, typer.Option(
        help="Environment variable holding the cookie signing key (random per start when unset).")] = (
        "STACKWRIGHT_PORTAL_SECRET"),
    rate_limit: Annotated[int, typer.Option(min=0, help="Requests per minute per client IP (0: off).")] = 120,
    max_body: Annotated[int, typer.Option(min=256, help="Largest request body accepted, in bytes.")] = 16384,
    access_log: Annotated[bool, typer.Option(help="Log every request (with its query string).")] = False,
) -> None:
    """Serve the portal: look-ups in every release of --releases, opt-out requests, admin review.

    Secrets come from environment variables, never from the command line (where `ps` shows them).
    """
    import logging
    import os

    try:
        import uvicorn
        from pydantic import ValidationError

        from stackwright.portal.app import create_app
        from stackwright.portal.settings import PortalSettings
    except ImportError as exc:
        fail(f"the portal needs the portal extra ({exc.name} is missing): pip install 'stackwright[portal]'")

    from stackwright.registry.errors import RegistryError

    if not releases.is_dir():
        fail(f"{releases}: no such releases folder")
    try:
        settings = PortalSettings(
            releases=releases, registry_url=db, admin_token=os.environ.get(admin_token_env) or None,
            admin_password_hash=os.environ.get(admin_password_hash_env) or None,
            secret_key=os.environ.get(secret_key_env) or None, rate_limit=rate_limit, max_body_bytes=max_body)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"invalid portal settings: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    try:
        application = create_app(settings)
    except RegistryError as exc:
        fail(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    registry = application.state.portal.registry.url
    configured = (("token", settings.admin_token), ("password", settings.admin_password_hash))
    admin = " and ".join(k for k, v in configured if v) or "off"
    err.print(f"portal: http://{host}:{port}/  releases: {releases}  registry: {registry}  admin: {admin}",
              highlight=False, markup=False, soft_wrap=True)
    uvicorn.run(application, host=host, port=port, access_log=access_log, server_header=False,
                log_level="info")


@portal_app.command("hash-password")
def portal_hash_password_cmd(
    method: Annotated[str, typer.Option(help="scrypt or pbkdf2_sha256.")] = "scrypt",
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Print a hash of the admin password for $STACKWRIGHT_ADMIN_PASSWORD_HASH (asked twice, not echoed)."""
    from stackwright.portal.passwords import PasswordHashError, hash_password

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        print(hash_password(password, method))
    except PasswordHashError as exc:
        fail(str(exc))


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
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fetch a list of repositories (shallow, bare, default branch or the listed ref) into a folder
    that `stackwright build` reads, with their stars, forks and host license as columns.

    A rerun with the same list fetches only what is not done yet. Exit 1 when a repository failed
    or a line of the list is invalid (see the report), 130 when interrupted.
    """
    from stackwright.crawl import DEFAULT_HOST, CrawlError, CrawlSettings, crawl

    settings = CrawlSettings(host=host or DEFAULT_HOST, concurrency=concurrency, max_size_mb=max_size,
                             timeout=timeout, retries=retries, backoff=backoff)
    bar = None
    if progress and not as_json:
        from stackwright.crawl.progress import CrawlProgressBar

        bar = CrawlProgressBar(err)
    try:
        report = crawl(list_file, out_dir, settings, progress=bar)
    except CrawlError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; rerun the same command to fetch the rest", 130)
    data = {"out": str(out_dir), **report.to_json()}
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        show = {"highlight": False, "markup": False, "soft_wrap": True}
        table = Table(title="crawl interrupted" if report.interrupted else "crawl finished",
                      show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_row("listed", f"{data['listed']:,}")
        table.add_row("fetched", f"{data['fetched']:,}")
        table.add_row("skipped (already done)", f"{data['skipped']:,}")
        for reason, failed in data["failed_by_reason"].items():
            more = ", ..." if failed["count"] > len(failed["examples"]) else ""
            table.add_row(f"failed {reason}", f"{failed['count']:,} ({', '.join(failed['examples'])}{more})")
        if data["retries"]:
            table.add_row("retries", f"{data['retries']:,}")
        table.add_row("fetched bytes", f"{data['bytes'] / 1e6:,.2f} MB")
        table.add_row("done in folder", f"{data['done']:,} ({data['total_bytes'] / 1e6:,.2f} MB)")
        table.add_row("time", f"{data['seconds']:.2f} s")
        out.print(table)
        out.print(f"crawl: {out_dir}  (repos/, crawl-state.jsonl, repositories.jsonl, crawl-report.json)",
                  **show)
    if report.interrupted:
        err.print("interrupted; rerun the same command to fetch the rest", highlight=False)
        raise typer.Exit(130)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED_CHECK)


def run() -> None:
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    run()
