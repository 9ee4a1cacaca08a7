"""The Python installation that runs stackwright, as a source of real code for the demo.

The standard library is one repository (``python/cpython``, PSF-2.0), and each installed
distribution is one repository (``pypi/<name>``) with the license its metadata declares.
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from stackwright.config import ReadConfig
from stackwright.records import RepoInfo
from stackwright.sources.base import (
    SYMLINK_OUTSIDE,
    TOO_LARGE,
    RepositoryEntry,
    SkipCounter,
    is_safe_relative,
)
from stackwright.sources.directory import FileEntry, FolderWorkItem, walk_repository
from stackwright.sources.git import chunk_entries

_SKIP_DIRS = ("site-packages/", "dist-packages/", "__pycache__/", "test/", "idlelib/", "tkinter/")


def declared_license(meta: metadata.PackageMetadata) -> str | None:
    """The license a distribution declares: License-Expression, a short License field, classifiers."""
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 80 and text.upper() != "UNKNOWN":
        return text
    classifiers = [
        c.rsplit("::", 1)[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::")
    ]
    return "; ".join(classifiers) if classifiers else None


class InstalledPythonSource:
    kind = "python-installation"

    def __init__(self, limit_bytes: int | None = None, stdlib: bool = True) -> None:
        self.limit_bytes = limit_bytes
        self.stdlib = stdlib
        self.location = sysconfig.get_paths()["purelib"]
        self.repositories: list[RepositoryEntry] = []

    def plan(self, config: ReadConfig, skips: SkipCounter, chunk_bytes: int) -> Iterator[FolderWorkItem]:
        self.repositories = []
        budget = self.limit_bytes if self.limit_bytes is not None else float("inf")
        for root, repo, entries, repo_skips in self._repositories(config):
            weight = sum(e.size for e in entries)
            if weight > budget:
                continue  # not read, so its skips are not counted either
            budget -= weight
            skips.merge(repo_skips)
            self.repositories.append(RepositoryEntry(repo.name, None, len(entries)))
            for chunk in chunk_entries(entries, chunk_bytes):
                yield FolderWorkItem(root, repo, tuple(chunk), sum(e.size for e in chunk), len(chunk))

    def _repositories(self, config: ReadConfig
                      ) -> Iterator[tuple[str, RepoInfo, list[FileEntry], SkipCounter]]:
        if self.stdlib:
            stdlib = Path(sysconfig.get_paths()["stdlib"])
            skips = SkipCounter()
            entries = [e for e in walk_repository(stdlib, config, skips, exclude=_SKIP_DIRS)
                       if "/__pycache__/" not in e.path]
            yield str(stdlib), RepoInfo("python/cpython", None, "PSF-2.0"), entries, skips
        seen: set[str] = set()
        dists = sorted(metadata.distributions(), key=lambda d: (d.metadata["Name"] or "").lower())
        for dist in dists:
            name = (dist.metadata["Name"] or "").strip()
            key = name.lower().replace("_", "-")
            if not name or key in seen or not dist.files:
                continue
            seen.add(key)
            skips = SkipCounter()
            root = os.path.realpath(dist.locate_file(""))
            entries: list[FileEntry] = []
            for file in dist.files:
                rel = str(file).replace("\\", "/")
                if not is_safe_relative(rel) or "__pycache__" in rel or ".dist-info/" in rel:
                    continue
                full = os.path.join(root, rel)
                try:
                    if os.path.islink(full):
                        skips.add(SYMLINK_OUTSIDE)
                        continue
                    st = os.stat(full)
                except OSError:
                    continue
                size = st.st_size
                if size > config.max_file_size:
                    skips.add(TOO_LARGE)
                    continue
                entries.append(FileEntry(rel, size, st.st_mtime_ns))
            entries.sort(key=lambda e: e.path)
            if entries:
                yield root, RepoInfo(f"pypi/{key}", None, declared_license(dist.metadata)), entries, skips

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "location": self.location,
            "repositories": [vars(r) for r in self.repositories],
        }
