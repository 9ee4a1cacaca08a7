"""The releases the portal answers for, and each one's username index held in memory.

A look-up must be fast over an index of a million repositories, so an index is read once (lazily, on
the first look-up of its release) into three arrays: the repository names, their file counts, and the
start of each username's run of rows; a dict maps a username to its run. A look-up is then one dict
probe and a slice, with no Parquet read per request. At most ``max_loaded`` indexes stay in memory.

The releases folder is listed again on every call (one ``scandir``), so a release written while the
portal runs shows up at once; releases are immutable, so a manifest is read once per folder.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stackwright.release.manifest import (
    USERNAMES_INDEX,
    ReleaseError,
    is_version,
    read_release_manifest,
    version_key,
)
from stackwright.release.usernames import FILES, REPO, USERNAME

log = logging.getLogger("stackwright.portal")



class IndexReadError(ReleaseError):
    """A release whose username index cannot be read."""


class UsernameIndex:
    """One release's username -> repositories index, in memory (see the module docstring)."""

    def __init__(self, table: pa.Table) -> None:
        table = table.combine_chunks()
        names = table.column(USERNAME).chunk(0) if table.num_rows else pa.array([], pa.string())
        if table.num_rows > 1 and pc.any(pc.less(names[1:], names[:-1])).as_py():
            # Written sorted by the release writer; sort anything else rather than answer wrongly.
            table = table.sort_by([(USERNAME, "ascending"), (REPO, "ascending")]).combine_chunks()
            names = table.column(USERNAME).chunk(0)
        rows = table.num_rows
        if rows:
            changed = pc.not_equal(names[1:], names[:-1]).to_numpy(zero_copy_only=False)
            starts = np.concatenate(([0], np.flatnonzero(changed) + 1)).astype(np.int64)
            self._repos: pa.Array = table.column(REPO).chunk(0)
            self._files = table.column(FILES).to_numpy().astype(np.int64, copy=False)
            keys = names.take(pa.array(starts)).to_pylist()
        else:
            starts = np.zeros(0, np.int64)
            self._repos = pa.array([], pa.string())
            self._files = np.zeros(0, np.int64)
            keys = []
        self._bounds = np.append(starts, rows).tolist()
        self._runs: dict[str, int] = {key: i for i, key in enumerate(keys)}
        self.rows = rows
        self.usernames = len(keys)

    @classmethod
    def read(cls, path: Path) -> UsernameIndex:
        try:
            table = pq.read_table(path, columns=[USERNAME, REPO, FILES])
        except FileNotFoundError:
            raise IndexReadError(f"{path.parent.parent.name}: the release has no username index") from None
        except (OSError, pa.ArrowException, ValueError) as exc:
            raise IndexReadError(f"{path.parent.parent.name}: unreadable username index "
                              f"({type(exc).__name__})") from None
        for name, kind in ((USERNAME, pa.string()), (REPO, pa.string())):
            if not table.schema.field(name).type.equals(kind):
                raise IndexReadError(f"{path.parent.parent.name}: username index column {name} is not text")
        if not pa.types.is_integer(table.schema.field(FILES).type):
            raise IndexReadError(f"{path.parent.parent.name}: username index column {FILES} is not integer")
        if table.column(USERNAME).null_count or table.column(REPO).null_count:
            raise IndexReadError(f"{path.parent.parent.name}: username index has empty names")
        return cls(table.cast(pa.schema([(USERNAME, pa.string()), (REPO, pa.string()), (FILES, pa.int64())])))

    def lookup(self, username: str) -> list[tuple[str, int]]:
        """(repository, files) of a lower-cased username, sorted by repository; [] when absent."""
        run = self._runs.get(username)
        if run is None:
            return []
        start, stop = self._bounds[run], self._bounds[run + 1]
        return list(zip(self._repos.slice(start, stop - start).to_pylist(),
                        self._files[start:stop].tolist(), strict=True))


@dataclass
class Release:
    """What the portal shows about a release: from its manifest, never from its data."""

    version: str
    path: Path
    created_at: str | None
    rows: int
    repositories: int
    optout_removed: frozenset[str] = field(default_factory=frozenset)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def public_json(self) -> dict[str, Any]:
        return {"version": self.version, "created_at": self.created_at, "rows": self.rows,
                "repositories": self.repositories}


class ReleaseCatalog:
    """Every release under a folder, newest last, with lazily loaded, cached username indexes."""

    def __init__(self, root: Path, max_loaded: int = 8) -> None:
        self.root = Path(root)
        self.max_loaded = max_loaded
        self._manifests: dict[str, tuple[tuple[int, int], Release | None]] = {}
        self._indexes: OrderedDict[str, UsernameIndex] = OrderedDict()
        self._lock = threading.Lock()

    def releases(self) -> list[Release]:
        """The releases now in the folder, oldest first by semantic version."""
        found: list[Release] = []
        seen: set[str] = set()
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            seen.add(entry.name)
            release = self._release(entry.name)
            if release is not None:
                found.append(release)
        with self._lock:
            for gone in set(self._manifests) - seen:
                del self._manifests[gone]
        by_version = {r.version: r for r in sorted(found, key=lambda r: r.path.name)}
        return sorted(by_version.values(), key=lambda r: version_key(r.version))

    def get(self, version: str) -> Release | None:
        return next((r for r in self.releases() if r.version == version), None)

    def latest(self) -> Release | None:
        listed = self.releases()
        return listed[-1] if listed else None

    def cached_index(self, release: Release) -> UsernameIndex | None:
        """The release's index if it is in memory already (no I/O: safe on the event loop)."""
        key = str(release.path)
        with self._lock:
            index = self._indexes.get(key)
            if index is not None:
                self._indexes.move_to_end(key)
            return index

    def index(self, release: Release) -> UsernameIndex:
        """The release's index, read on first use (blocking: call it from a worker thread)."""
        cached = self.cached_index(release)
        if cached is not None:
            return cached
        with release._lock:  # one reader per release; others wait for its result
            cached = self.cached_index(release)
            if cached is not None:
                return cached
            index = UsernameIndex.read(release.path / USERNAMES_INDEX)
            with self._lock:
                self._indexes[str(release.path)] = index
                while len(self._indexes) > self.max_loaded:
                    self._indexes.popitem(last=False)
            log.info("loaded the username index of %s: %d repositories of %d users", release.version,
                     index.rows, index.usernames)
            return index

    def _release(self, name: str) -> Release | None:
        folder = self.root / name
        manifest_path = folder / "manifest.json"
        try:
            st = manifest_path.stat()
            stamp = (st.st_mtime_ns, st.st_ino)
        except OSError:
            return None
        with self._lock:
            cached = self._manifests.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        release: Release | None
        try:
            manifest = read_release_manifest(folder)
            release = _from_manifest(folder, manifest)
        except ReleaseError as exc:
            log.warning("skipping %s: %s", name, exc)
            release = None
        with self._lock:
            self._manifests[name] = (stamp, release)
        return release


def _from_manifest(folder: Path, manifest: dict[str, Any]) -> Release:
    version = manifest.get("version")
    if not isinstance(version, str) or not is_version(version):
        raise ReleaseError(f"{folder.name}: manifest.json has no valid version")
    optouts = manifest.get("optouts") if isinstance(manifest.get("optouts"), dict) else {}
    removed = optouts.get("removed") if isinstance(optouts.get("removed"), dict) else {}
    created = manifest.get("created_at")
    return Release(
        version=version,
        path=folder,
        created_at=created if isinstance(created, str) else None,
        rows=_count(manifest.get("rows")),
        repositories=_count(manifest.get("repositories")),
        optout_removed=frozenset(str(r).lower() for r in removed),
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
