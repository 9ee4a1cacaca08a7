"""Git repositories, bare or not: the files of one commit, read from the object store.

Nothing is checked out. The tree is listed with ``git ls-tree`` on the driver, and workers read the
blobs they were given through one ``git cat-file --batch`` process each.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stackwright.config import ReadConfig
from stackwright.records import RepoInfo
from stackwright.sources.base import (
    EMPTY_REPOSITORY,
    NOT_REGULAR,
    SUBMODULE,
    SYMLINK,
    TOO_DEEP,
    TOO_LARGE,
    UNREADABLE,
    PathFilter,
    RawFile,
    RepositoryEntry,
    SkipCounter,
    SourceError,
    repo_name_from_folder,
    repo_name_from_remote,
)

_GIT_ENV = {
    **os.environ,
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(git_dir: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    cmd = ["git", "-c", "safe.directory=*", "--git-dir", git_dir, *args]
    try:
        return subprocess.run(cmd, capture_output=True, env=_GIT_ENV, check=check)
    except FileNotFoundError:
        raise SourceError("git is not installed; it is needed to read git repositories") from None


def looks_like_git(path: Path) -> bool:
    """A working tree with ``.git`` (folder or file) or a bare repository."""
    if (path / ".git").exists():
        return True
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def git_dir_of(path: Path) -> str:
    """The repository's git directory (``path/.git``, the target of a gitfile, or ``path``)."""
    proc = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(path), "rev-parse", "--absolute-git-dir"],
        capture_output=True,
        env=_GIT_ENV,
    )
    if proc.returncode != 0:
        raise SourceError(f"{path} is not a readable git repository")
    return proc.stdout.decode().strip()


def resolve_commit(git_dir: str, rev: str) -> str | None:
    """The commit SHA of ``rev``, or None when the repository has no such commit (e.g. empty)."""
    proc = _git(git_dir, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.decode().strip()


def remote_repo_name(git_dir: str) -> str | None:
    proc = _git(git_dir, "config", "--get", "remote.origin.url", check=False)
    if proc.returncode != 0:
        return None
    return repo_name_from_remote(proc.stdout.decode(errors="replace"))


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str
    blob: str
    size: int


def list_tree(git_dir: str, commit: str, config: ReadConfig, skips: SkipCounter) -> list[TreeEntry]:
    """Regular files of the commit's tree that pass the size and depth rules, sorted by path."""
    proc = _git(git_dir, "ls-tree", "-r", "-l", "-z", "--full-tree", commit, check=False)
    if proc.returncode != 0:
        skips.add(UNREADABLE)
        return []
    entries: list[TreeEntry] = []
    for raw in proc.stdout.split(b"\x00"):
        if not raw:
            continue
        meta, _, raw_path = raw.partition(b"\t")
        mode, kind, blob, size = meta.split(None, 3)
        path = raw_path.decode("utf-8", errors="replace")
        if mode == b"160000":
            skips.add(SUBMODULE)
            continue
        if mode == b"120000":
            skips.add(SYMLINK)
            continue
        if kind != b"blob":
            skips.add(NOT_REGULAR)
            continue
        if path.count("/") >= config.max_depth:
            skips.add(TOO_DEEP)
            continue
        nbytes = int(size)
        if nbytes > config.max_file_size:
            skips.add(TOO_LARGE)
            continue
        entries.append(TreeEntry(path, blob.decode(), nbytes))
    entries.sort(key=lambda e: e.path)
    return entries


class CatFile:
    """A ``git cat-file --batch`` process that returns blob contents by object id."""

    def __init__(self, git_dir: str) -> None:
        self._proc = subprocess.Popen(
            ["git", "-c", "safe.directory=*", "--git-dir", git_dir, "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_GIT_ENV,
        )

    def read(self, blob: str) -> bytes | None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(blob.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline()
        parts = header.split()
        if len(parts) != 3:  # "<oid> missing" or a broken pipe
            return None
        size = int(parts[2])
        data = self._proc.stdout.read(size)
        self._proc.stdout.read(1)  # the newline after each object
        return data

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class GitWorkItem:
    git_dir: str
    repo: RepoInfo
    entries: tuple[TreeEntry, ...]
    weight: int
    files: int

    def read(self, config: ReadConfig, skips: SkipCounter, wanted: PathFilter | None = None
             ) -> Iterator[RawFile]:
        entries = self.entries if wanted is None else [e for e in self.entries if wanted(e.path)]
        if not entries:
            return
        with CatFile(self.git_dir) as cat:
            for entry in entries:
                data = cat.read(entry.blob)
                if data is None:
                    skips.add(UNREADABLE)
                    continue
                yield RawFile(self.repo, entry.path, data)


def chunk_entries(entries: list, chunk_bytes: int) -> Iterator[list]:
    """Consecutive runs of entries whose sizes add up to about ``chunk_bytes``."""
    chunk: list = []
    weight = 0
    for entry in entries:
        chunk.append(entry)
        weight += entry.size
        if weight >= chunk_bytes:
            yield chunk
            chunk, weight = [], 0
    if chunk:
        yield chunk


def plan_git_repository(
    path: Path,
    config: ReadConfig,
    skips: SkipCounter,
    chunk_bytes: int,
    repositories: list[RepositoryEntry],
    name: str | None = None,
    parent: str | None = None,
) -> Iterator[GitWorkItem]:
    git_dir = git_dir_of(path)
    commit = resolve_commit(git_dir, config.rev)
    repo_name = name or remote_repo_name(git_dir) or repo_name_from_folder(
        path.name.removesuffix(".git"), parent
    )
    if commit is None:
        skips.add(EMPTY_REPOSITORY)
        repositories.append(RepositoryEntry(repo_name, None, 0))
        return
    entries = list_tree(git_dir, commit, config, skips)
    repositories.append(RepositoryEntry(repo_name, commit, len(entries)))
    repo = RepoInfo(repo_name, commit)
    for chunk in chunk_entries(entries, chunk_bytes):
        yield GitWorkItem(git_dir, repo, tuple(chunk), sum(e.size for e in chunk), len(chunk))
