"""Repositories on disk: one repository folder, or a folder whose subfolders are repositories.

Subfolders that are git repositories are read from their object store at ``rev`` (so every row
matches the recorded commit); plain folders are walked without following any symlink.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stackwright.config import ReadConfig
from stackwright.records import RepoInfo
from stackwright.sources.base import (
    NOT_REGULAR,
    SUBMODULE,
    SYMLINK,
    SYMLINK_OUTSIDE,
    TOO_DEEP,
    TOO_LARGE,
    UNREADABLE,
    PathFilter,
    RawFile,
    RepositoryEntry,
    SkipCounter,
    SourceError,
    repo_name_from_folder,
)
from stackwright.sources.git import chunk_entries, looks_like_git, plan_git_repository

GIT_INTERNALS = "git_internals"


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # relative, "/"-separated
    size: int
    mtime_ns: int = 0  # part of the plan, so an edited file is never served from an old shard


def _points_inside(link: str, root: str) -> bool:
    target = os.path.realpath(link)
    return target == root or target.startswith(root + os.sep)


def walk_repository(root: Path, config: ReadConfig, skips: SkipCounter,
                    exclude: tuple[str, ...] = (), skip_real: frozenset[str] = frozenset()
                    ) -> list[FileEntry]:
    """Regular files under ``root`` that pass the walk rules, sorted by path.

    ``exclude`` lists relative folder paths (ending in "/") not to enter; ``skip_real`` resolved
    folder paths, such as the build's own output folder when it lies inside a source.
    """
    real_root = os.path.realpath(root)
    entries: list[FileEntry] = []
    stack: list[tuple[str, str, int]] = [(str(root), "", 0)]
    while stack:
        folder, prefix, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = list(it)
        except OSError:
            skips.add(UNREADABLE)
            continue
        for child in children:
            rel = prefix + child.name
            if child.name == ".git":
                if depth == 0:
                    skips.add(GIT_INTERNALS)
                else:  # a submodule's (or nested repository's) gitfile or folder
                    skips.add(SUBMODULE)
                continue
            try:
                if child.is_symlink():
                    skips.add(SYMLINK if _points_inside(child.path, real_root) else SYMLINK_OUTSIDE)
                    continue
                st = child.stat(follow_symlinks=False)
            except OSError:
                skips.add(UNREADABLE)
                continue
            if stat.S_ISDIR(st.st_mode):
                if (rel + "/").startswith(exclude):
                    continue
                if skip_real and os.path.realpath(child.path) in skip_real:
                    continue
                if depth + 1 >= config.max_depth:
                    skips.add(TOO_DEEP)
                    continue
                if os.path.lexists(os.path.join(child.path, ".git")):
                    skips.add(SUBMODULE)
                    continue
                stack.append((child.path, rel + "/", depth + 1))
            elif stat.S_ISREG(st.st_mode):
                if st.st_size > config.max_file_size:
                    skips.add(TOO_LARGE)
                    continue
                entries.append(FileEntry(rel, st.st_size, st.st_mtime_ns))
            else:
                skips.add(NOT_REGULAR)
    entries.sort(key=lambda e: e.path)
    return entries


@dataclass(frozen=True, slots=True)
class FolderWorkItem:
    root: str
    repo: RepoInfo
    entries: tuple[FileEntry, ...]
    weight: int
    files: int

    def read(self, config: ReadConfig, skips: SkipCounter, wanted: PathFilter | None = None
             ) -> Iterator[RawFile]:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        limit = config.max_file_size + 1
        for entry in self.entries:
            if wanted is not None and not wanted(entry.path):
                continue
            try:
                fd = os.open(os.path.join(self.root, entry.path), flags)
            except OSError:
                skips.add(UNREADABLE)
                continue
            try:
                with os.fdopen(fd, "rb") as fh:
                    # Read the binary probe first: a binary file needs no more than that to be
                    # recognised (and skipped by the content rules).
                    data = fh.read(config.binary_probe_bytes)
                    if b"\x00" not in data and len(data) == config.binary_probe_bytes:
                        data += fh.read(limit - len(data))
            except OSError:
                skips.add(UNREADABLE)
                continue
            yield RawFile(self.repo, entry.path, data)


def plan_folder_repository(
    path: Path,
    config: ReadConfig,
    skips: SkipCounter,
    chunk_bytes: int,
    repositories: list[RepositoryEntry],
    name: str | None = None,
    declared_license: str | None = None,
    skip_real: frozenset[str] = frozenset(),
) -> Iterator[FolderWorkItem]:
    repo_name = name or repo_name_from_folder(path.name, path.parent.name or None)
    entries = walk_repository(path, config, skips, skip_real=skip_real)
    repositories.append(RepositoryEntry(repo_name, None, len(entries)))
    repo = RepoInfo(repo_name, None, declared_license)
    root = str(path)
    for chunk in chunk_entries(entries, chunk_bytes):
        yield FolderWorkItem(root, repo, tuple(chunk), sum(e.size for e in chunk), len(chunk))


def _holds_repositories(path: Path, skip_real: frozenset[str]) -> bool:
    """Auto layout: a folder of repositories unless it has files of its own at the top."""
    children = [c for c in sorted(path.iterdir()) if os.path.realpath(c) not in skip_real]
    if any(c.is_dir() and not c.is_symlink() and looks_like_git(c) for c in children):
        return True
    return not any(c.is_file() and not c.name.startswith(".") for c in children)


class DirectorySource:
    """A repository folder, or a folder of repositories (``owner__name`` names give owner/name)."""

    kind = "directory"

    def __init__(self, path: Path) -> None:
        if not path.is_dir():
            raise SourceError(f"{path} is not a directory")
        self.path = path
        self.location = str(path)
        self.repositories: list[RepositoryEntry] = []
        # Resolved folders never read, such as the build's output when it lies inside this source.
        self.skip_real: frozenset[str] = frozenset()

    def plan(self, config: ReadConfig, skips: SkipCounter, chunk_bytes: int) -> Iterator:
        self.repositories = []
        many = {"repos": True, "repo": False}.get(config.layout)
        if many is None:
            many = not looks_like_git(self.path) and _holds_repositories(self.path, self.skip_real)
        if not many:
            yield from self._plan_one(self.path, config, skips, chunk_bytes, None)
            return
        for child in sorted(self.path.iterdir()):
            if os.path.realpath(child) in self.skip_real:
                continue
            if child.is_symlink():
                skips.add(SYMLINK)
                continue
            if child.name.startswith(".") or not child.is_dir():
                if child.is_file() or child.name.startswith("."):
                    continue
                skips.add(NOT_REGULAR)
                continue
            yield from self._plan_one(child, config, skips, chunk_bytes, self.path.name)

    def _plan_one(
        self, path: Path, config: ReadConfig, skips: SkipCounter, chunk_bytes: int, parent: str | None
    ) -> Iterator:
        folder_name = repo_name_from_folder(path.name, parent) if parent else None
        if looks_like_git(path):
            named = folder_name if "__" in path.name else None
            yield from plan_git_repository(
                path, config, skips, chunk_bytes, self.repositories, name=named, parent=parent
            )
        else:
            yield from plan_folder_repository(
                path, config, skips, chunk_bytes, self.repositories, name=folder_name,
                skip_real=self.skip_real,
            )

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "location": self.location,
            "repositories": [vars(r) for r in self.repositories],
        }
