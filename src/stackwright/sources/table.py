"""Tables of files: JSONL (plain, gzip or zstd compressed) and Parquet, one row per file.

Columns (the first present name wins):

* path: ``path`` | ``max_stars_repo_path`` (required); a leading ``./`` is dropped, absolute paths
  and ``..`` components are refused (unsafe_path).
* content: ``content`` (required): text, or bytes from a Parquet binary column.
* repository: ``repo`` | ``repo_name`` | ``max_stars_repo_name``, else ``local/<file stem>``.
* commit: ``commit`` | ``hexsha`` | ``max_stars_repo_head_hexsha``.
* declared license: ``license`` | ``declared_license`` | ``max_stars_repo_licenses``. A list of
  licenses (as The Stack records the licenses found in a repository) is joined with ``AND``: all
  of them apply, which is the conservative reading for license filtering (``OR`` would let a
  permissive entry hide a copyleft one). Compound entries are parenthesised.

Work items: a plain JSONL file is split into byte ranges of about ``chunk_bytes`` that start at
line starts (found in ``plan``), a compressed one is a single item, and a Parquet file gives one
item per run of row groups of about ``chunk_bytes`` (uncompressed size of the columns read).
Rows that are not JSON objects or lack a string path and a string (or bytes) content are counted
as malformed; a JSONL line longer than ``6 * max_file_size + 64 KiB`` (enough for any escaped
content of ``max_file_size`` bytes) is skipped unparsed as too large.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from stackwright.config import ReadConfig
from stackwright.records import RepoInfo
from stackwright.sources.archive import decompressed
from stackwright.sources.base import (
    CORRUPT_TABLE,
    MALFORMED_ROW,
    TOO_LARGE,
    UNREADABLE,
    UNSAFE_PATH,
    PathFilter,
    RawFile,
    SkipCounter,
    SourceError,
    is_safe_relative,
    repo_name_from_folder,
)

PATH_KEYS = ("path", "max_stars_repo_path")
CONTENT_KEY = "content"
REPO_KEYS = ("repo", "repo_name", "max_stars_repo_name")
COMMIT_KEYS = ("commit", "hexsha", "max_stars_repo_head_hexsha")
LICENSE_KEYS = ("license", "declared_license", "max_stars_repo_licenses")
TABLE_SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".jsonl", ".ndjson", ".parquet")
PARQUET_BATCH_ROWS = 256
_READ_ERRORS = (OSError, EOFError, zlib.error, zstandard.ZstdError)
_PARQUET_ERRORS = (pa.ArrowException, OSError, ValueError)


def table_stem(path: Path) -> str:
    lower = path.name.lower()
    for suffix in TABLE_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def declared_license(value: Any) -> str | None:
    """A license column value as one expression: a string as is, a list joined with AND."""
    if isinstance(value, str):
        return value.strip() or None
    if not isinstance(value, list | tuple):
        return None
    items = list(dict.fromkeys(v.strip() for v in value if isinstance(v, str) and v.strip()))
    if len(items) > 1:
        items = [f"({v})" if " " in v else v for v in items]
    return " AND ".join(items) or None


def _first(row: dict[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in row:
            return row[key]
    return None


def _first_name(names: Sequence[str], keys: Sequence[str]) -> str | None:
    return next((k for k in keys if k in names), None)


def _require_columns(location: str, names: Sequence[str]) -> None:
    if CONTENT_KEY in names and _first_name(names, PATH_KEYS):
        return
    shown = ", ".join(list(names)[:12]) + (", ..." if len(names) > 12 else "")
    raise SourceError(
        f"{location}: a table needs a 'path' (or 'max_stars_repo_path') and a 'content' column; "
        f"it has: {shown or 'none'}"
    )


class _Rows:
    """Turns row values into files, sharing one RepoInfo per distinct repository."""

    def __init__(self, default_repo: str, skips: SkipCounter) -> None:
        self.default_repo = default_repo
        self.skips = skips
        self.repos: dict[tuple[str, str | None, str | None], RepoInfo] = {}

    def file(self, path: Any, content: Any, repo: Any, commit: Any, license: Any) -> RawFile | None:
        if not isinstance(path, str) or not isinstance(content, str | bytes):
            self.skips.add(MALFORMED_ROW)
            return None
        while path.startswith("./"):
            path = path[2:]
        if not is_safe_relative(path):
            self.skips.add(UNSAFE_PATH)
            return None
        key = (
            repo if isinstance(repo, str) and repo else self.default_repo,
            commit if isinstance(commit, str) and commit else None,
            declared_license(license),
        )
        info = self.repos.get(key)
        if info is None:
            info = self.repos[key] = RepoInfo(*key)
        return RawFile(info, path, content)


def _line_cap(config: ReadConfig) -> int:
    return 6 * config.max_file_size + (1 << 16)


def _lines(fh: BinaryIO, limit: int | None, cap: int) -> Iterator[bytes | None]:
    """The lines of ``fh`` (the next ``limit`` bytes, or all); None for a line over ``cap`` bytes."""
    left = limit if limit is not None else -1
    while left != 0:
        line = fh.readline(cap)
        if not line:
            return
        left -= len(line) if limit is not None else 0
        if len(line) < cap or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):  # drop the rest of the long line
            line = fh.readline(cap)
            left -= len(line) if limit is not None else 0
        yield None


def _jsonl_files(lines: Iterator[bytes | None], rows: _Rows, skips: SkipCounter) -> Iterator[RawFile]:
    while True:
        try:
            line = next(lines, b"")
        except _READ_ERRORS:  # a damaged or truncated compressed stream
            skips.add(CORRUPT_TABLE)
            return
        if line is None:
            skips.add(TOO_LARGE)
            continue
        if not line:
            return
        if line.isspace():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            skips.add(MALFORMED_ROW)
            continue
        if not isinstance(row, dict):
            skips.add(MALFORMED_ROW)
            continue
        raw = rows.file(_first(row, PATH_KEYS), row.get(CONTENT_KEY), _first(row, REPO_KEYS),
                        _first(row, COMMIT_KEYS), _first(row, LICENSE_KEYS))
        if raw is not None:
            yield raw


@dataclass(frozen=True, slots=True)
class JsonlWorkItem:
    path: str
    start: int
    end: int  # -1: to the end of a compressed file
    default_repo: str
    weight: int
    files: int = 0

    def read(self, config: ReadConfig, skips: SkipCounter, wanted: PathFilter | None = None
             ) -> Iterator[RawFile]:
        files = self._read(config, skips)
        if wanted is None:
            yield from files
        else:
            yield from (raw for raw in files if wanted(raw.path))

    def _read(self, config: ReadConfig, skips: SkipCounter) -> Iterator[RawFile]:
        try:
            fh = open(self.path, "rb")
        except OSError:
            skips.add(UNREADABLE)
            return
        with fh:
            rows = _Rows(self.default_repo, skips)
            if self.end < 0:
                try:
                    stream = decompressed(fh)
                except OSError:
                    skips.add(UNREADABLE)
                    return
                with stream or fh as source:
                    yield from _jsonl_files(_lines(source, None, _line_cap(config)), rows, skips)
                return
            fh.seek(self.start)
            yield from _jsonl_files(_lines(fh, self.end - self.start, _line_cap(config)), rows, skips)


def _line_start(fh: BinaryIO, target: int, size: int) -> int:
    """The first line start at or after ``target`` (``size`` when there is none)."""
    if target >= size:
        return size
    fh.seek(target - 1)
    pos = target - 1
    while block := fh.read(1 << 20):
        found = block.find(b"\n")
        if found >= 0:
            return pos + found + 1
        pos += len(block)
    return size


@dataclass(frozen=True, slots=True)
class ParquetWorkItem:
    path: str
    row_groups: tuple[int, ...]
    columns: tuple[str | None, ...]  # path, content, repo, commit, license (None: absent)
    default_repo: str
    weight: int
    files: int = 0

    def read(self, config: ReadConfig, skips: SkipCounter, wanted: PathFilter | None = None
             ) -> Iterator[RawFile]:
        rows = _Rows(self.default_repo, skips)
        present = [c for c in self.columns if c is not None]
        try:
            pf = pq.ParquetFile(self.path)
        except _PARQUET_ERRORS:
            skips.add(CORRUPT_TABLE)
            return
        with pf:
            batches = pf.iter_batches(PARQUET_BATCH_ROWS, row_groups=list(self.row_groups), columns=present)
            while True:
                try:
                    batch = next(batches, None)
                except _PARQUET_ERRORS:
                    skips.add(CORRUPT_TABLE)
                    return
                if batch is None:
                    return
                n = batch.num_rows
                values = [batch.column(c).to_pylist() if c else [None] * n for c in self.columns]
                for path, content, repo, commit, license in zip(*values, strict=True):
                    if wanted is not None and not (isinstance(path, str) and wanted(path)):
                        continue
                    raw = rows.file(path, content, repo, commit, license)
                    if raw is not None:
                        yield raw


class TableSource:
    """A JSONL or Parquet table with one file per row."""

    kind = "table"

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise SourceError(f"{path} is not a file")
        self.path = path
        self.location = str(path)
        self.is_parquet = path.name.lower().endswith(".parquet")
        self.default_repo = repo_name_from_folder(table_stem(path))
        self.rows: int | None = None

    def plan(self, config: ReadConfig, skips: SkipCounter, chunk_bytes: int) -> Iterator:
        if self.is_parquet:
            yield from self._plan_parquet(skips, chunk_bytes)
        else:
            yield from self._plan_jsonl(config, skips, chunk_bytes)

    def _plan_jsonl(
        self, config: ReadConfig, skips: SkipCounter, chunk_bytes: int
    ) -> Iterator[JsonlWorkItem]:
        path = str(self.path)
        try:
            fh = open(self.path, "rb")
        except OSError:
            skips.add(UNREADABLE)
            return
        with fh:
            size = self.path.stat().st_size
            try:
                stream = decompressed(fh)
                self._check_first_row(stream or fh, config)
            except _READ_ERRORS:
                skips.add(CORRUPT_TABLE)
                return
            if stream is not None:
                stream.close()
                yield JsonlWorkItem(path, 0, -1, self.default_repo, size)
                return
            start = 0
            while start < size:
                end = _line_start(fh, start + max(chunk_bytes, 1), size)
                yield JsonlWorkItem(path, start, end, self.default_repo, end - start)
                start = end

    def _check_first_row(self, fh: BinaryIO, config: ReadConfig) -> None:
        """Bad usage (a table without the needed columns) is refused on its first JSON object."""
        for line in _lines(fh, None, _line_cap(config)):
            if line is None or not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                return
            if isinstance(row, dict):
                _require_columns(self.location, list(row))
            return

    def _plan_parquet(self, skips: SkipCounter, chunk_bytes: int) -> Iterator[ParquetWorkItem]:
        try:
            pf = pq.ParquetFile(self.path)
        except _PARQUET_ERRORS:
            skips.add(CORRUPT_TABLE)
            return
        with pf:
            names = pf.schema_arrow.names
            _require_columns(self.location, names)
            columns = (_first_name(names, PATH_KEYS), CONTENT_KEY, _first_name(names, REPO_KEYS),
                       _first_name(names, COMMIT_KEYS), _first_name(names, LICENSE_KEYS))
            meta = pf.metadata
            self.rows = meta.num_rows
            wanted = {c for c in columns if c}
            leaves = [i for i in range(meta.num_columns)
                      if meta.schema.column(i).path.split(".")[0] in wanted]
            groups: list[int] = []
            weight = 0
            for index in range(meta.num_row_groups):
                group = meta.row_group(index)
                groups.append(index)
                weight += sum(group.column(i).total_uncompressed_size for i in leaves)
                if weight >= chunk_bytes:
                    yield ParquetWorkItem(str(self.path), tuple(groups), columns, self.default_repo, weight)
                    groups, weight = [], 0
            if groups:
                yield ParquetWorkItem(str(self.path), tuple(groups), columns, self.default_repo, weight)

    def describe(self) -> dict:
        described: dict[str, Any] = {"kind": self.kind, "location": self.location, "repositories": []}
        if self.rows is not None:
            described["rows"] = self.rows
        return described
