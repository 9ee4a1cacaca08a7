"""What every source shares: the work-item protocol, skip counting and the content rules."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from charset_normalizer import from_bytes

from stackwright.config import ReadConfig
from stackwright.errors import StackwrightError
from stackwright.records import RepoInfo

# Reasons a file or input is skipped. Stats and manifests count these names.
BINARY = "binary"
UNDECODABLE = "undecodable"
TOO_LARGE = "too_large"
EMPTY_REPOSITORY = "empty_repository"
SYMLINK = "symlink"
SYMLINK_OUTSIDE = "symlink_outside_repository"
SUBMODULE = "submodule"
NOT_REGULAR = "not_regular_file"
TOO_DEEP = "too_deep"
UNREADABLE = "unreadable"
UNSAFE_PATH = "unsafe_path"
ARCHIVE_LIMIT = "archive_limit"
COMPRESSION_RATIO = "compression_ratio"
CORRUPT_ARCHIVE = "corrupt_archive"
CORRUPT_TABLE = "corrupt_table"
MALFORMED_ROW = "malformed_row"


PathFilter = Callable[[str], bool]


class SourceError(StackwrightError):
    """An input that cannot be used at all (missing path, unknown format); shown to the user."""


@dataclass
class SkipCounter:
    """Counts skipped files and inputs by reason. Never records values or contents."""

    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, reason: str, n: int = 1) -> None:
        self.reasons[reason] += n

    def merge(self, other: SkipCounter) -> None:
        self.reasons.update(other.reasons)

    def total(self) -> int:
        return sum(self.reasons.values())


@dataclass(frozen=True, slots=True)
class RawFile:
    """One file as a source read it, before the content rules are applied."""

    repo: RepoInfo
    path: str
    data: bytes | str


@runtime_checkable
class WorkItem(Protocol):
    """A picklable unit of reading planned on the driver and executed in a worker.

    ``weight`` is the estimated number of input bytes; ``files`` the planned number of files
    (0 when unknown before reading, as for archives and tables). ``read`` yields files in a
    deterministic order and counts what it skips; with ``wanted`` it yields only the paths that
    predicate accepts, and does not read the others where it can avoid it (license scans).
    """

    weight: int
    files: int

    def read(self, config: ReadConfig, skips: SkipCounter, wanted: PathFilter | None = None
             ) -> Iterator[RawFile]: ...


@dataclass
class RepositoryEntry:
    """A repository as recorded in the manifest."""

    repo: str
    commit: str | None = None
    files: int = 0


class Source(Protocol):
    """An input. ``plan`` runs on the driver: it lists work items in a deterministic order, each
    about ``chunk_bytes`` heavy or less where the source can split, and counts what it skips.
    ``describe`` (after ``plan``) gives the manifest entry: kind, location, repositories.
    """

    kind: str
    location: str

    def plan(self, config: ReadConfig, skips: SkipCounter, chunk_bytes: int) -> Iterator[WorkItem]: ...

    def describe(self) -> dict: ...


def decode_content(data: bytes | str, config: ReadConfig) -> tuple[str | None, str | None]:
    """Apply the content rules: (text, None) for a kept file, (None, reason) for a skipped one."""
    if isinstance(data, str):
        if len(data) > config.max_file_size and len(data.encode("utf-8")) > config.max_file_size:
            return None, TOO_LARGE
        if "\x00" in data[: config.binary_probe_bytes]:
            return None, BINARY
        return data, None
    if len(data) > config.max_file_size:
        return None, TOO_LARGE
    if b"\x00" in data[: config.binary_probe_bytes]:
        return None, BINARY
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        return None, UNDECODABLE
    try:
        return data.decode(best.encoding), None
    except (UnicodeDecodeError, LookupError):
        return None, UNDECODABLE


_OWNER_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_REMOTE = re.compile(r"(?:[:/])([^/:]+)/([^/]+?)(?:\.git)?/?$")


def repo_name_from_folder(folder_name: str, parent: str | None = None) -> str:
    """``owner__name`` folders give ``owner/name``; otherwise ``parent/name`` or ``local/name``."""
    if "__" in folder_name:
        owner, _, name = folder_name.partition("__")
        if owner and name:
            return f"{owner}/{name}"
    owner = parent if parent and _OWNER_NAME.fullmatch(parent) else "local"
    return f"{owner}/{folder_name}"


def repo_name_from_remote(url: str) -> str | None:
    """``owner/name`` from a git remote URL (https, ssh or scp-like), or None."""
    match = _REMOTE.search(url.strip())
    if not match:
        return None
    owner, name = match.groups()
    if not owner or not name or owner in {".", ".."}:
        return None
    return f"{owner}/{name}"


def is_safe_relative(path: str) -> bool:
    """A member path that stays inside its root: relative, no ``..`` component, no drive."""
    if not path or path.startswith(("/", "\\")) or "\x00" in path:
        return False
    if len(path) >= 2 and path[1] == ":":
        return False
    parts = path.replace("\\", "/").split("/")
    return ".." not in parts
