"""Verify a release: every file is the one the manifest lists, and the manifest agrees with itself.

Run by anyone who downloads a release: a missing, extra or changed file, a shard whose Parquet
metadata disagrees with the manifest, or totals that do not add up are reported as problems. No
problems means the folder holds exactly what was released.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stackwright.files import sha256_file
from stackwright.release.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    USERNAMES_INDEX,
    ReleaseError,
    check_version,
    is_inside_path,
)


def verify_release(release: Path) -> list[str]:
    """The problems found in the release folder ``release``; an empty list means it is intact.

    Raises ReleaseError when there is no release to check (no folder, no manifest.json).
    """
    release = Path(release)
    if not release.is_dir():
        raise ReleaseError(f"{release}: no such release folder")
    path = release / MANIFEST
    if not path.is_file():
        raise ReleaseError(f"{release} is not a stackwright release (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return [f"{MANIFEST}: not valid JSON"]
    except OSError as exc:
        raise ReleaseError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(manifest, dict):
        return [f"{MANIFEST}: not a JSON object"]
    problems: list[str] = []
    try:
        _check(release, manifest, problems)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        problems.append(f"{MANIFEST}: malformed ({type(exc).__name__}: {str(exc)[:80]})")
    return problems


def _check(release: Path, manifest: dict[str, Any], problems: list[str]) -> None:
    if manifest.get("format") != FORMAT:
        problems.append(f"{MANIFEST}: format is {manifest.get('format')!r}, not {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        problems.append(f"{MANIFEST}: unknown format_version {manifest.get('format_version')!r}")
    try:
        check_version(manifest.get("version"))  # type: ignore[arg-type]
    except ReleaseError as exc:
        problems.append(f"{MANIFEST}: {exc}")

    expected = {MANIFEST}
    for shard in manifest["shards"]:
        name = shard["path"]
        expected.add(name)
        if not _check_file(release, name, shard["bytes"], shard["sha256"], problems):
            continue
        try:
            rows = pq.read_metadata(release / name).num_rows
        except (OSError, pa.ArrowException) as exc:
            problems.append(f"{name}: unreadable Parquet ({str(exc).splitlines()[0][:80]})")
            continue
        if rows != shard["rows"]:
            problems.append(
                f"{name}: {rows:,} rows in its Parquet metadata, {shard['rows']:,} in the manifest"
            )
    for name, entry in manifest["files"].items():
        expected.add(name)
        _check_file(release, name, entry["bytes"], entry["sha256"], problems)

    for name in _tree(release):
        if name not in expected:
            problems.append(f"{name}: extra file, not in the manifest")

    rows = manifest["rows"]
    if rows != sum(s["rows"] for s in manifest["shards"]):
        problems.append(
            f"{MANIFEST}: rows {rows:,} is not the sum of the shards' rows "
            f"({sum(s['rows'] for s in manifest['shards']):,})"
        )
    if manifest["file_bytes"] != sum(s["bytes"] for s in manifest["shards"]):
        problems.append(f"{MANIFEST}: file_bytes is not the sum of the shards' bytes")
    for column, values in manifest["counts"].items():
        if not values:
            continue
        if sum(v["files"] for v in values.values()) != rows:
            problems.append(
                f"{MANIFEST}: counts.{column} add up to "
                f"{sum(v['files'] for v in values.values()):,} files, not {rows:,}"
            )
        if sum(v["bytes"] for v in values.values()) != manifest["content_bytes"]:
            problems.append(f"{MANIFEST}: counts.{column} bytes do not add up to content_bytes")
    sizes = manifest.get("file_sizes")
    if sizes is not None and sum(b["files"] for b in sizes) != rows:
        problems.append(
            f"{MANIFEST}: file_sizes add up to {sum(b['files'] for b in sizes):,} files, not {rows:,}"
        )
    if USERNAMES_INDEX in manifest["files"] and (release / USERNAMES_INDEX).is_file():
        _check_index(release / USERNAMES_INDEX, manifest, problems)


def _check_file(release: Path, name: str, size: int, sha256: str, problems: list[str]) -> bool:
    if not is_inside_path(name):
        problems.append(f"{MANIFEST}: unsafe path {ascii(name)[:80]}")
        return False
    path = release / name
    if path.is_symlink() or not path.is_file():
        problems.append(f"{name}: missing")
        return False
    if path.stat().st_size != size:
        problems.append(f"{name}: {path.stat().st_size:,} bytes, the manifest says {size:,}")
    if sha256_file(path) != sha256:
        problems.append(f"{name}: sha256 mismatch (the file was changed or damaged)")
        return False
    return True


def _check_index(path: Path, manifest: dict[str, Any], problems: list[str]) -> None:
    try:
        table = pq.read_table(path, columns=["repo", "files"])
    except (OSError, pa.ArrowException, KeyError) as exc:
        problems.append(f"{USERNAMES_INDEX}: unreadable ({str(exc).splitlines()[0][:80]})")
        return
    if table.num_rows != manifest["repositories"]:
        problems.append(
            f"{USERNAMES_INDEX}: {table.num_rows:,} repositories, the manifest says "
            f"{manifest['repositories']:,}"
        )
    files = sum(table.column("files").to_pylist())
    if files != manifest["rows"]:
        problems.append(f"{USERNAMES_INDEX}: {files:,} files, the manifest says {manifest['rows']:,}")


def _tree(root: Path) -> list[str]:
    """Every file (and symlink) under ``root``, relative and "/"-separated, symlinks not followed."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in sorted(files) + [d for d in sorted(dirs) if (here / d).is_symlink()]:
            found.append((here / name).relative_to(root).as_posix())
        dirs[:] = sorted(d for d in dirs if not (here / d).is_symlink())
    return sorted(found)
