"""Curation commands: ``license detect``, ``lang detect``, ``pii scan|redact``, ``decontaminate export``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from stackwright.cli._common import (
    PLAIN,
    JsonFlag,
    Names,
    choice,
    comma_list,
    command_group,
    err,
    fail,
    metavar,
    out,
    print_json,
    read_text_argument,
)

app = typer.Typer()

license_app = command_group(app, "license", "License detection.")
lang_app = command_group(app, "lang", "Language detection (GitHub Linguist rules, go-enry).")
pii_app = command_group(app, "pii", "PII and secrets: scan and redact.")
decontaminate_app = command_group(app, "decontaminate", "Benchmark decontamination.")


class Backend(StrEnum):
    fast = "fast"
    fast_scancode = "fast+scancode"
    scancode = "scancode"


@license_app.command("detect")
def license_detect_cmd(
    path: Annotated[Path, typer.Argument(help="A license file (judged by its text) or a repository folder.")],
    as_json: JsonFlag = False,
    explain: Annotated[bool, typer.Option(help="Show which file and reference text decided.")] = False,
    backend: Annotated[Backend, typer.Option(
        parser=choice(Backend, "backend"), metavar=metavar(Backend),
        help="fast, fast+scancode (ScanCode for texts the fast matcher cannot match), or scancode.")
    ] = Backend.fast,
    permissive: Annotated[Names | None, typer.Option(
        parser=comma_list, metavar="ID,ID",
        help="Comma-separated SPDX ids counted as permissive [default: built-in list].")] = None,
) -> None:
    """Detect the license of a file or a repository: an SPDX expression and a category."""
    from rich.markup import escape

    from stackwright.config import LicenseConfig
    from stackwright.curate.licenses.repository import detect_path

    if not path.exists():
        fail(f"{path}: no such file or directory")
    allow = None if permissive is None else list(permissive)
    settings = LicenseConfig(backend=backend.value, permissive=allow)  # type: ignore[arg-type]
    data = detect_path(path, settings).to_json(explain)
    if as_json:
        print_json(data, indent=2 if explain else None)
        return
    head = f"[bold]{escape(data['spdx'])}[/] ({data['category']})  {escape(data['path'])}"
    out.print(head, highlight=False, soft_wrap=True)
    for item in data["evidence"]:
        reason = f" [{item['reason']}]" if item.get("reason") else ""
        out.print(f"  {item['kind']:12} {item['path'] or '(declared)'}: {item['spdx']}{reason}", **PLAIN)
        for match in item.get("matches", []):
            out.print(f"      lines {match['lines'][0]}-{match['lines'][1]}: {match['spdx']} "
                      f"({match['rule']}, score {match['score']})", **PLAIN)
    for sub in data.get("subtrees", []):
        out.print(f"  subtree {sub['folder']}/: {sub['spdx']} ({sub['category']})", **PLAIN)
    if not data["evidence"]:
        out.print("  no license file, manifest declaration or README license section found")


@lang_app.command("detect")
def lang_detect_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files, or folders (walked, .git skipped).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Detect the language of files: the Linguist name and type, and the vendored/generated flags."""
    from stackwright.curate.languages import detect_paths

    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(f"{missing[0]}: no such file or directory")

    def unreadable(path: Path, exc: OSError) -> None:
        err.print(f"warning: {path}: cannot read ({exc.strerror})", **PLAIN)

    for guess, record in detect_paths(paths, unreadable):
        if as_json:
            print_json(record, indent=None)
            continue
        flags = [k for k in ("vendored", "generated", "documentation", "dotfile") if record[k]]
        shown = f"{guess.language} ({guess.type})" if guess.language else "unknown"
        out.print(f"{record['path']}: {shown}{'  ' + ', '.join(flags) if flags else ''}", **PLAIN)


@pii_app.command("scan")
def pii_scan_cmd(
    paths: Annotated[list[str] | None, typer.Argument(
        help="Files or folders (every file below, hidden ones left out), or - for standard input.",
        show_default="-")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show_values: Annotated[bool, typer.Option(help="Include the detected values (careful).")] = False,
) -> None:
    """Find emails, IP addresses, keys and passwords; character offsets into the decoded text.

    One file (or standard input) prints its entities; several files or a folder print each file's, with
    its path (JSON: one object per file). Files that are not text are skipped and counted on stderr."""
    from stackwright.curate.pii.scan import scan

    sources = paths or ["-"]
    single = len(sources) == 1 and (sources[0] == "-" or not Path(sources[0]).is_dir())
    files: list[dict[str, Any]] = []
    skipped = 0
    for source in _scan_sources(sources):
        if single:
            text: str | None = read_text_argument(source)
        else:
            text = _read_text_or_none(source)
            if text is None:
                skipped += 1
                continue
        records: list[dict[str, Any]] = []
        for e in scan(text):
            record: dict[str, Any] = {**e.to_json(), "rule": e.detail, "redact": e.redact}
            if show_values:
                record["value"] = text[e.start:e.end]
            records.append(record)
        files.append({"path": str(source), "entities": records})
    if skipped:
        err.print(f"skipped {skipped} file(s) that are not text or too large", highlight=False)
    if as_json:
        print_json({"entities": files[0]["entities"]} if single else {"files": files}, indent=None)
        return
    for f in files:
        prefix = "" if single else f"{f['path']}:"
        for r in f["entities"]:
            shown = f"  {r['value']!r}" if show_values else ""
            out.print(f"{prefix}{r['start']}-{r['end']} {r['label']} ({r['rule']}){shown}", **PLAIN)
    if not any(f["entities"] for f in files):
        out.print("no PII or secrets found")


def _scan_sources(sources: list[str]) -> Iterator[str]:
    """The files named, and the files below the folders named (sorted; hidden names left out)."""
    for source in sources:
        path = Path(source)
        if source != "-" and path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                yield from (os.path.join(root, n) for n in sorted(names) if not n.startswith("."))
        else:
            yield source


def _read_text_or_none(source: str) -> str | None:
    from stackwright.cli._common import MAX_TEXT_INPUT, decode_text
    from stackwright.files import FileReadError, read_user_bytes

    try:
        return decode_text(read_user_bytes(source, MAX_TEXT_INPUT))
    except FileReadError:
        if not Path(source).exists():
            raise
        return None


@pii_app.command("redact")
def pii_redact_cmd(
    source: Annotated[Path, typer.Argument(help="A file, or a stackwright dataset folder.")],
    target: Annotated[Path, typer.Argument(help="The redacted file, or a new dataset folder.")],
) -> None:
    """Redact a file, or every file of a dataset (written as a new dataset)."""
    from stackwright.config import BuildConfig
    from stackwright.curate.pii.dataset import redact_dataset
    from stackwright.curate.pii.scan import redact, scan

    if not source.exists():
        fail(f"{source}: no such file or directory")
    if source.is_dir():
        try:
            counts = redact_dataset(source, target, BuildConfig())
        except (FileNotFoundError, FileExistsError) as exc:
            fail(str(exc))
    else:
        text = read_text_argument(source)
        redacted, counts = redact(text, scan(text))
        target.write_text(redacted, encoding="utf-8")
    out.print(f"redacted {sum(counts.values())} entities {dict(counts)} into {target}", highlight=False)


@decontaminate_app.command("export")
def decontaminate_export_cmd(
    benchmarks: Annotated[list[str], typer.Argument(help="Built-in benchmarks (humaneval) or benchmark files "
                                                         "(JSONL, or text files of one snippet each).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")],
    fields: Annotated[Names | None, typer.Option(
        parser=comma_list, metavar="A,B", help="Comma-separated JSONL fields [all strings].")] = None,
    min_chars: Annotated[int, typer.Option(min=1, help="Leave out snippets shorter than this.")] = 50,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier export in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write benchmark snippets as a dataset, for `stackwright dedup DATASET --against OUT`."""
    from stackwright.build import write_benchmark_dataset
    from stackwright.dataset.manifest import DatasetManifest

    result = write_benchmark_dataset(benchmarks, out_dir, fields=list(fields or ()), min_chars=min_chars,
                                     overwrite=overwrite)
    manifest = DatasetManifest.from_dict(result.manifest)
    summary = {"dataset": str(result.out), "rows": manifest.rows, "repositories": manifest.repository_names()}
    if as_json:
        print_json(summary)
        return
    out.print(f"exported {summary['rows']:,} benchmark snippets ({', '.join(summary['repositories'])}) "
              f"to {summary['dataset']}", **PLAIN)
