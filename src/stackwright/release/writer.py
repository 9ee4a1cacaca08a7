"""Make a release: an immutable, versioned, verifiable copy of a built dataset.

The release is assembled in a temporary folder next to ``out`` and renamed into place at the end, so a
crash never leaves a half-written release under its final name, and an existing release is never
overwritten. Shards are copied (or rewritten without opted-out rows), never linked: a release must
not change when its dataset folder is rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stackwright import __version__
from stackwright.files import fsync_tree, sha256_file
from stackwright.records import DICTIONARY_COLUMNS, REPO, check_schema, columns_present
from stackwright.release.attribution import build_attribution_index
from stackwright.release.datacard import render_html, render_markdown
from stackwright.release.manifest import (
    ATTRIBUTION_INDEX,
    DATA_DIR,
    DATACARD_HTML,
    DATACARD_MD,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    USERNAMES_INDEX,
    ReleaseError,
    check_version,
    load_manifest,
    read_release_manifest,
)
from stackwright.release.optouts import NO_OPTOUTS, OptOuts, read_optout_list
from stackwright.release.summary import ReleaseSummary
from stackwright.release.usernames import write_usernames_index

READ_ROWS = 4096
DEDUP_REPORT = "dedup/report.json"
PII_STEP = "pii"
# What releases removed for opt-outs (the build's own ``optout`` step keeps its statistics).
OPTOUT_STEP = "release_optout"
_DEDUP_KEYS = ("files", "removed", "removed_exact", "removed_near", "kept", "clusters", "largest_cluster")
_DEDUP_SETTINGS = ("exact", "near", "threshold", "num_perm", "ngram", "bands", "rows")

_ATTRIBUTION_KEYS = (
    "files", "blocks", "fingerprints", "index_bytes", "index_fraction_of_content", "parameters"
)

Progress = Callable[[str], None]


def make_release(
    dataset: Path,
    version: str,
    out: Path,
    *,
    exclude: Path | None = None,
    progress: Progress | None = None,
    optouts: OptOuts | None = None,
    from_release: bool = False,
) -> dict[str, Any]:
    """Write ``dataset`` as release ``version`` into the new folder ``out``; returns its manifest.

    ``exclude`` is an opt-out list file (see :mod:`stackwright.release.optouts`); ``optouts`` may
    instead give any other source of opt-outs with the same interface. With ``from_release``,
    ``dataset`` may be an earlier release (a new release without newly opted-out code).
    """
    check_version(version)
    source = _read_dataset(dataset, from_release)
    out = Path(out)
    _check_out(out, dataset)
    if exclude is not None and optouts is not None:
        raise ReleaseError("give an opt-out list file or an opt-out source, not both")
    chosen: OptOuts = read_optout_list(exclude) if exclude is not None else (optouts or NO_OPTOUTS)
    say = progress or (lambda _message: None)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        (tmp / DATA_DIR).mkdir(parents=True)
        manifest = _write(dataset, source, version, tmp, out.name, chosen, say)
        fsync_tree(tmp)
        if out.exists():
            out.rmdir()  # checked empty above; os.replace needs no folder in the way on every system
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"release {version} written to {out}")
    return manifest


def remove_release(release: Path) -> None:
    """Delete a release folder, refusing anything that is not one (the demo remakes its own release).

    Releases are immutable; this is for throwaway releases such as the demo's, never for published ones.
    """
    if not release.exists() and not release.is_symlink():
        return
    if release.is_symlink() or not release.is_dir():
        raise ReleaseError(f"{release} is not a release folder; not removing it")
    if any(release.iterdir()):
        try:
            read_release_manifest(release)
        except ReleaseError:
            raise ReleaseError(f"{release} is not a stackwright release; not removing it") from None
    shutil.rmtree(release)


def _read_dataset(dataset: Path, from_release: bool = False) -> dict[str, Any]:
    path = dataset / MANIFEST
    manifest = load_manifest(dataset, f"{dataset}: no such dataset folder",
                             f"{dataset} is not a finished stackwright dataset (no {MANIFEST})")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise ReleaseError(f"{path}: not a stackwright dataset manifest (no shards)")
    if manifest.get("format") == FORMAT and not from_release:
        raise ReleaseError(f"{dataset} is already a release; make releases from a built dataset")
    if from_release and manifest.get("format") != FORMAT:
        raise ReleaseError(f"{dataset} is not a stackwright release")
    for shard in manifest["shards"]:
        if not (dataset / shard["path"]).is_file():
            raise ReleaseError(f"{dataset}: shard {shard['path']} is missing; rebuild the dataset")
    return manifest


def _check_out(out: Path, dataset: Path) -> None:
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise ReleaseError(f"{out} exists and is not a folder; releases are never overwritten")
        if any(out.iterdir()):
            raise ReleaseError(f"{out} is not empty; releases are immutable: choose a new --out")
    resolved, data = out.resolve(), dataset.resolve() / DATA_DIR
    if resolved == data or data in resolved.parents:
        raise ReleaseError(f"{out}: a release cannot be written into the dataset's data folder")


def _write(
    dataset: Path,
    source: dict[str, Any],
    version: str,
    tmp: Path,
    folder: str,
    optouts: OptOuts,
    say: Progress,
) -> dict[str, Any]:
    summary = ReleaseSummary()
    removed: dict[str, int] = {}
    shards: list[dict[str, Any]] = []
    level = int(source.get("config", {}).get("compression_level", 3))
    listed = source["shards"]
    for number, entry in enumerate(listed):
        say(f"shard {number + 1}/{len(listed)}: {entry['path']}")
        src = dataset / entry["path"]
        if entry.get("sha256") and sha256_file(src) != entry["sha256"]:
            raise ReleaseError(
                f"{dataset}: shard {entry['path']} does not match its sha256 in the dataset "
                "manifest; the dataset is damaged, rebuild it"
            )
        target = tmp / DATA_DIR / f"part-{len(shards):05d}.parquet"
        rows = _release_shard(src, target, optouts, summary, removed, level)
        if rows == 0:
            target.unlink()
            continue
        shards.append(
            {
                "path": f"{DATA_DIR}/{target.name}",
                "rows": rows,
                "bytes": target.stat().st_size,
                "sha256": sha256_file(target),
            }
        )
    if not shards and listed:
        # Everything was removed: keep one empty shard so that readers still see the schema.
        target = tmp / DATA_DIR / "part-00000.parquet"
        schema = pq.read_schema(dataset / listed[0]["path"])
        pq.write_table(schema.empty_table(), target, compression="zstd")
        shards.append(
            {
                "path": f"{DATA_DIR}/{target.name}",
                "rows": 0,
                "bytes": target.stat().st_size,
                "sha256": sha256_file(target),
            }
        )

    say("username index")
    write_usernames_index(tmp / USERNAMES_INDEX, summary.repo_files, summary.repo_bytes)
    say("attribution index")
    attribution = build_attribution_index([tmp / s["path"] for s in shards], tmp / ATTRIBUTION_INDEX)
    manifest = _manifest(dataset, source, version, summary, shards, optouts, removed)
    manifest["attribution"] = {k: attribution[k] for k in _ATTRIBUTION_KEYS if k in attribution}
    say("data card")
    (tmp / DATACARD_MD).write_text(render_markdown(manifest, folder), encoding="utf-8")
    (tmp / DATACARD_HTML).write_text(render_html(manifest, folder), encoding="utf-8")
    index = sorted(p.relative_to(tmp).as_posix() for p in (tmp / ATTRIBUTION_INDEX).rglob("*") if p.is_file())
    names = [DATACARD_HTML, DATACARD_MD, USERNAMES_INDEX, *index]
    manifest["files"] = {
        name: {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)} for name in names
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def _release_shard(
    src: Path, target: Path, optouts: OptOuts, summary: ReleaseSummary, removed: dict[str, int], level: int
) -> int:
    """Copy one shard, or rewrite it without the opted-out rows; count what is released."""
    try:
        pf = pq.ParquetFile(src)
        check_schema(pf.schema_arrow)
        repos = _shard_repos(pf)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise ReleaseError(f"{src}: unreadable shard ({str(exc).splitlines()[0][:120]})") from None
    with pf:
        return _copy_or_filter(pf, src, target, optouts, summary, removed, level, repos)


def _copy_or_filter(
    pf: pq.ParquetFile,
    src: Path,
    target: Path,
    optouts: OptOuts,
    summary: ReleaseSummary,
    removed: dict[str, int],
    level: int,
    repos: set[str],
) -> int:
    dropped = {r for r in repos if optouts.excludes(r)}
    rows = 0
    if not dropped:
        shutil.copyfile(src, target)
        for batch in pf.iter_batches(READ_ROWS):
            summary.add(batch)
            rows += batch.num_rows
        return rows
    schema = pf.schema_arrow
    writer = pq.ParquetWriter(
        target,
        schema,
        compression="zstd",
        compression_level=level,
        use_dictionary=columns_present(schema, DICTIONARY_COLUMNS),
        write_statistics=True,
    )
    drop = pa.array(sorted(dropped), pa.string())
    try:
        for batch in pf.iter_batches(READ_ROWS):
            repo = batch.column(REPO)
            if pa.types.is_dictionary(repo.type):
                repo = repo.cast(repo.type.value_type)
            gone = pc.is_in(repo, value_set=drop)
            for name in pc.filter(repo, gone).to_pylist():
                removed[name] = removed.get(name, 0) + 1
            kept = batch.filter(pc.invert(gone))
            if kept.num_rows:
                writer.write_batch(kept)
                summary.add(kept)
                rows += kept.num_rows
    finally:
        writer.close()
    return rows


def _shard_repos(pf: pq.ParquetFile) -> set[str]:
    found: set[str] = set()
    for batch in pf.iter_batches(65536, columns=[REPO]):
        column = batch.column(0)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        found.update(pc.unique(column).to_pylist())
    return found


def _manifest(
    dataset: Path,
    source: dict[str, Any],
    version: str,
    summary: ReleaseSummary,
    shards: list[dict[str, Any]],
    optouts: OptOuts,
    removed: dict[str, int],
) -> dict[str, Any]:
    steps = {
        name: {"in": st.get("in", 0), "out": st.get("out", 0), "dropped": dict(st.get("dropped", {}))}
        for name, st in source.get("steps", {}).items()
    }
    described = optouts.describe()
    is_release = source.get("format") == FORMAT
    if described.get("source") is not None or removed:
        files_removed = sum(removed.values())
        before = steps.get(OPTOUT_STEP, {})  # a release made from a release adds to the earlier removals
        dropped = dict(before.get("dropped", {}))
        if files_removed:
            dropped["opt-out"] = dropped.get("opt-out", 0) + files_removed
        steps[OPTOUT_STEP] = {
            "in": before.get("in", summary.rows + files_removed),
            "out": summary.rows,
            "dropped": dropped,
        }
    pii_step = source.get("steps", {}).get(PII_STEP)
    optout_record: dict[str, Any] = {**described, "removed": dict(sorted(removed.items()))}
    if is_release:
        optout_record["earlier"] = source.get("optouts")
    elif source.get("optouts") is not None:
        optout_record["build"] = source["optouts"]  # what the build's optout step honoured
    based_on = (
        {"based_on": {"version": source.get("version"), "path": str(dataset.resolve())}} if is_release else {}
    )
    dataset_record = (
        source.get("dataset", {})
        if is_release
        else {
            "path": str(dataset.resolve()),
            "plan_fingerprint": source.get("plan_fingerprint"),
            "created_at": source.get("created_at"),
            "tool_version": (source.get("tool") or {}).get("version"),
        }
    )
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool": {"name": "stackwright", "version": __version__},
        "dataset": dataset_record,
        **based_on,
        "config": source.get("config", {}),
        "rows": summary.rows,
        "repositories": len(summary.repo_files),
        "content_bytes": summary.content_bytes,
        "file_bytes": sum(s["bytes"] for s in shards),
        "counts": summary.counts(),
        "file_sizes": summary.file_sizes(),
        "steps": steps,
        "pii": dict(sorted(pii_step.get("counted", {}).items())) if pii_step is not None else None,
        "dedup": _dedup_summary(dataset, source),
        "optouts": optout_record,
        "sources": _sources(source.get("sources", []), optouts),
        "shards": shards,
    }


def _dedup_summary(dataset: Path, source: dict[str, Any]) -> dict[str, Any] | None:
    """What deduplication removed: ``dedup/report.json`` when present, else the manifest's summary."""
    report: Any = None
    path = dataset / DEDUP_REPORT
    if path.is_file():
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            raise ReleaseError(f"{path}: unreadable deduplication report") from None
    report = report if isinstance(report, dict) else source.get("dedup")
    if not isinstance(report, dict):
        return None
    out: dict[str, Any] = {k: report[k] for k in _DEDUP_KEYS if k in report}
    settings = report.get("settings") or {}
    out["settings"] = {k: settings[k] for k in _DEDUP_SETTINGS if k in settings}
    out["against"] = report.get("against")
    return out


def _sources(sources: list[dict[str, Any]], optouts: OptOuts) -> list[dict[str, Any]]:
    """The dataset's sources with their repository commits, less the repositories that opted out."""
    out = []
    for s in sources:
        entry = {k: v for k, v in s.items() if k != "repositories"}
        entry["repositories"] = [
            {"repo": r.get("repo"), "commit": r.get("commit"), "files": r.get("files")}
            for r in s.get("repositories", [])
            if not optouts.excludes(str(r.get("repo")))
        ]
        out.append(entry)
    return out
