"""A crawl folder and its resumable state.

Layout of a crawl folder::

    DIR/crawl-state.jsonl      append-only, one JSON line per finished repository (the last line of a
                               repository wins), each written whole and fsync'd
    DIR/repos/<owner>/<name>.git   bare, shallow repositories, each renamed into place when complete
    DIR/repositories.jsonl     the done repositories with their metadata, rewritten after each run
    DIR/crawl-report.json      the last run's report
    DIR/_tmp/                  copies being fetched; whatever a killed run left here is removed first
    DIR/.crawl.lock            held while a crawl runs, so two crawls never share a folder

A repository is done when its last line says so and its folder exists; a rerun fetches every other
listed repository again (missing, failed, or done but deleted since).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from stackwright.errors import StackwrightError
from stackwright.files import write_atomic

STATE_FILE = "crawl-state.jsonl"
REPOSITORIES_FILE = "repositories.jsonl"
REPORT_FILE = "crawl-report.json"
REPOS_DIR = "repos"
WORK_DIR = "_tmp"
LOCK_FILE = ".crawl.lock"

# What repositories.jsonl keeps of each done repository.
METADATA_KEYS = ("repo", "url", "commit", "stars", "forks", "default_branch", "license", "path", "bytes",
                 "finished")

DONE = "done"
FAILED = "failed"


class StateError(StackwrightError):
    """A crawl folder that cannot be used (locked by another crawl, not writable)."""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def repo_path(owner: str, name: str) -> str:
    """Where a repository lives, relative to the crawl folder."""
    return f"{REPOS_DIR}/{owner}/{name}.git"


def is_crawl_folder(path: Path) -> bool:
    return (path / STATE_FILE).is_file()


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The state's lines in order. A line cut short by a killed run (only ever the last) is skipped."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        for raw in fh:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("repo"), str):
                yield record


def latest_records(root: Path) -> dict[str, dict[str, Any]]:
    """The last record of each repository, by case-insensitive owner/name."""
    latest: dict[str, dict[str, Any]] = {}
    for record in read_records(root / STATE_FILE):
        latest[record["repo"].lower()] = record
    return latest


def done_records(root: Path) -> list[dict[str, Any]]:
    """Done repositories whose folder exists, sorted by owner/name."""
    found = [r for r in latest_records(root).values()
             if r.get("status") == DONE and isinstance(r.get("path"), str) and (root / r["path"]).is_dir()]
    return sorted(found, key=lambda r: r["repo"].lower())


class CrawlState:
    """The open state of a crawl folder: holds its lock, appends records from any thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._lock_fh: IO[bytes] = open(root / LOCK_FILE, "ab")
        except OSError as exc:
            raise StateError(f"{root}: cannot use it as a crawl folder ({exc.strerror or exc})") from None
        try:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_fh.close()
            raise StateError(f"{root}: another crawl is running in this folder") from None
        self.latest = latest_records(root)
        self._write_lock = threading.Lock()
        path = root / STATE_FILE
        self._fh = open(path, "ab")
        # A run killed mid-write may have left a partial last line: start on a fresh line.
        if self._fh.tell() > 0:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    self._fh.write(b"\n")
        self._fsync()

    def clean_work_dir(self) -> int:
        """Remove the copies a killed run left half-fetched; returns how many there were."""
        work = self.root / WORK_DIR
        if not work.is_dir():
            return 0
        leftovers = list(work.iterdir())
        shutil.rmtree(work, ignore_errors=True)
        return len(leftovers)

    def is_done(self, key: str) -> bool:
        record = self.latest.get(key)
        return (record is not None and record.get("status") == DONE and isinstance(record.get("path"), str)
                and (self.root / record["path"]).is_dir())

    def record(self, record: dict[str, Any]) -> None:
        """Append one repository's outcome, whole and on disk before this returns."""
        line = json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"
        with self._write_lock:
            self._fh.write(line)
            self._fsync()
            self.latest[record["repo"].lower()] = record

    def _fsync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write_repositories(self) -> int:
        """Rewrite ``repositories.jsonl``: each done repository's metadata, sorted by owner/name."""
        rows = []
        for record in done_records(self.root):
            rows.append({k: record.get(k) for k in METADATA_KEYS})
        data = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
        write_atomic(self.root / REPOSITORIES_FILE, data.encode("utf-8"))
        return len(rows)

    def close(self) -> None:
        try:
            (self.root / WORK_DIR).rmdir()  # only when empty
        except OSError:
            pass
        self._fh.close()
        self._lock_fh.close()  # releases the lock

    def __enter__(self) -> CrawlState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
