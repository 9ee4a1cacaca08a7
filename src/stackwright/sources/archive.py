"""Archives of repositories (.tar, .tar.gz/.tgz, .tar.zst/.tzst, .zip), read without extracting.

Members are streamed: tar archives through ``tarfile`` (stream mode for compressed ones), zip
archives through ``zipfile``; nothing is ever written to disk, links are never followed, and member
paths that could leave the archive root are refused. An archive is one work item, read in archive
order (deterministic for the same file).

Layout (``config.layout``):

* ``repo``: the archive is one repository, named after the archive (``local/<stem>``).
* ``repos``: each top-level folder is a repository (``owner__name`` folders give owner/name, other
  folders ``<stem>/<folder>``); files at the top, hidden folders and ``__MACOSX`` are ignored.
* ``auto``: the archive is one repository when it has a ``.git`` folder or non-hidden files at the
  top (or no folder at all); a single top-level folder (as in GitHub's ``name-sha/`` tarballs) is
  one repository named after that folder; several top-level folders are ``repos``.

Limits: a member over ``max_file_size`` is skipped unread; a zip member over 64 KiB that expands
more than ``max_compression_ratio`` is skipped unread; reading stops (counted once) when the
members seen exceed ``max_archive_members`` or the uncompressed bytes exceed ``max_archive_bytes``
(for tar every member's size counts, since the stream passes over it; for zip the declared size of
each member read, and ``zipfile`` never returns more than the declared size). A corrupt or
truncated archive is read up to the damage and counted once. A gzip stream cut anywhere, and a tar
cut inside a member or a header, are detected; a zstd stream cut exactly between tar members cannot
be told from its end by the zstd library and reads as a shorter archive.
"""

from __future__ import annotations

import gzip
import io
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, BinaryIO

import zstandard

from stackwright.config import ReadConfig
from stackwright.records import RepoInfo
from stackwright.sources.base import (
    ARCHIVE_LIMIT,
    COMPRESSION_RATIO,
    CORRUPT_ARCHIVE,
    NOT_REGULAR,
    SYMLINK,
    TOO_DEEP,
    TOO_LARGE,
    UNREADABLE,
    UNSAFE_PATH,
    PathFilter,
    RawFile,
    RepositoryEntry,
    SkipCounter,
    SourceError,
    is_safe_relative,
    repo_name_from_folder,
)
from stackwright.sources.directory import GIT_INTERNALS

_STEM_SUFFIXES = (".tar.gz", ".tar.zst", ".tgz", ".tzst", ".tar", ".zip")
RATIO_MIN_BYTES = 1 << 16  # the compression ratio rule applies to members larger than this (64 KiB)
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_FILE, _DIR = "file", "dir"
# What damaged archive content raises while it is read (never a reason to stop the build).
CORRUPT_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError, zipfile.BadZipFile, zstandard.ZstdError, zlib.error, EOFError, OSError,
    ValueError, struct.error,
)


def archive_stem(path: Path) -> str:
    """The archive's name without its archive suffix (``repos.tar.gz`` -> ``repos``)."""
    lower = path.name.lower()
    for suffix in _STEM_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def decompressed(fh: BinaryIO) -> BinaryIO | None:
    """A buffered reader of ``fh``'s content when it is gzip or zstd compressed, else None.

    Neither closes ``fh``. A truncated gzip stream raises EOFError at its end.
    """
    head = fh.read(4)
    fh.seek(0)
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    if head == _ZSTD_MAGIC:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=False)
        return io.BufferedReader(reader, 1 << 20)  # type: ignore[arg-type]
    return None


@dataclass(frozen=True, slots=True)
class _Member:
    name: str  # as stored, "/"-separated
    kind: str  # _FILE, _DIR, or the skip reason for anything else
    size: int  # declared uncompressed size
    packed: int  # compressed size (zip), -1 when unknown (tar)
    streamed: bool  # passing over the member decompresses it (tar)
    open: Callable[[], IO[bytes] | None]


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return _FILE
    if info.isdir():
        return _DIR
    if info.issym() or info.islnk():
        return SYMLINK
    return NOT_REGULAR


def _zip_kind(info: zipfile.ZipInfo) -> str:
    if info.is_dir():
        return _DIR
    if info.flag_bits & 0x1:  # encrypted
        return UNREADABLE
    fmt = stat.S_IFMT(info.external_attr >> 16)  # unix mode, 0 for archives made elsewhere
    if fmt in (0, stat.S_IFREG):
        return _FILE
    if fmt == stat.S_IFLNK:
        return SYMLINK
    return _DIR if fmt == stat.S_IFDIR else NOT_REGULAR


def _clean_name(name: str) -> str:
    """Tar names that are not UTF-8 come with surrogates; replace them so the path can be stored."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _members(fh: BinaryIO, is_zip: bool) -> Iterator[_Member]:
    """The archive's members in archive order, each to be used before asking for the next."""
    if is_zip:
        with zipfile.ZipFile(fh) as zf:
            for info in zf.infolist():
                name = info.filename.replace("\\", "/")
                yield _Member(name, _zip_kind(info), info.file_size, info.compress_size, False,
                              partial(zf.open, info))
        return
    stream = decompressed(fh)
    try:
        with tarfile.open(fileobj=stream or fh, mode="r|" if stream else "r:") as tf:
            while (info := tf.next()) is not None:
                tf.members.clear()  # tarfile keeps every header otherwise
                yield _Member(_clean_name(info.name), _tar_kind(info), info.size, -1, True,
                              partial(tf.extractfile, info))
            if stream is None:  # tarfile ends quietly at a cut or damaged header: check the end marker
                fh.seek(tf.offset)
                if fh.read(tarfile.BLOCKSIZE) != bytes(tarfile.BLOCKSIZE):
                    raise tarfile.ReadError("truncated or damaged tar archive")
    finally:
        if stream is not None:
            stream.close()


@dataclass
class _Limits:
    config: ReadConfig
    members: int = 0
    nbytes: int = 0

    def exceeded(self, members: int = 0, nbytes: int = 0) -> bool:
        self.members += members
        self.nbytes += nbytes
        return self.members > self.config.max_archive_members or self.nbytes > self.config.max_archive_bytes


def _scan(
    members: Iterator[_Member], skips: SkipCounter, limits: _Limits
) -> Iterator[tuple[_Member, list[str]]]:
    """Members with safe paths, as (member, path parts); stops at the member and stream limits."""
    for member in members:
        if limits.exceeded(1, member.size if member.streamed else 0):
            skips.add(ARCHIVE_LIMIT)
            return
        if not is_safe_relative(member.name):
            skips.add(UNSAFE_PATH)
            continue
        parts = [p for p in member.name.split("/") if p and p != "."]
        if parts:
            yield member, parts


def _file_reason(rel: list[str], member: _Member, config: ReadConfig) -> str | None:
    """Why a member (at ``rel`` inside its repository) is skipped before reading, or None."""
    if ".git" in rel:
        return GIT_INTERNALS
    if member.kind != _FILE:
        return member.kind
    if len(rel) > config.max_depth:
        return TOO_DEEP
    if (member.packed >= 0 and member.size > RATIO_MIN_BYTES
            and member.size > config.max_compression_ratio * max(member.packed, 1)):
        return COMPRESSION_RATIO
    if member.size > config.max_file_size:
        return TOO_LARGE
    return None


def _read_member(member: _Member, config: ReadConfig) -> bytes | None:
    """The member's bytes (at most ``max_file_size + 1``; only the probe of a binary file)."""
    fh = member.open()
    if fh is None:
        return None
    with fh:
        data = fh.read(config.binary_probe_bytes)
        if len(data) == config.binary_probe_bytes and b"\x00" not in data:
            data += fh.read(config.max_file_size + 1 - len(data))
    return data


def _is_repo_folder(name: str) -> bool:
    return not name.startswith(".") and name != "__MACOSX"


@dataclass(frozen=True, slots=True)
class ArchiveWorkItem:
    path: str
    is_zip: bool
    root: str | None  # "": the whole archive is the repository; a folder name; None: every top folder
    name: str | None  # the repository's name when root is not None
    owner: str | None  # owner of folder repositories without ``owner__name`` (root None)
    weight: int
    files: int = 0

    def _place(self, parts: list[str], repos: dict[str, RepoInfo]) -> tuple[RepoInfo, list[str]] | None:
        """The repository of a member and its path inside it; None for members outside any."""
        if self.root == "":
            key, rel = "", parts
        else:
            key, rel = parts[0], parts[1:]
            if not rel or key != (self.root or key) or not _is_repo_folder(key):
                return None
        repo = repos.get(key)
        if repo is None:
            repo = repos[key] = RepoInfo(self.name or repo_name_from_folder(key, self.owner))
        return repo, rel

    def read(self, config: ReadConfig, skips: SkipCounter, wanted: PathFilter | None = None
             ) -> Iterator[RawFile]:
        try:
            fh = open(self.path, "rb")
        except OSError:
            skips.add(UNREADABLE)
            return
        limits = _Limits(config)
        scan = _scan(_members(fh, self.is_zip), skips, limits)
        repos: dict[str, RepoInfo] = {}
        git_dirs: set[tuple[str, ...]] = set()
        try:
            while True:
                try:
                    found = next(scan, None)
                except CORRUPT_ERRORS:
                    skips.add(CORRUPT_ARCHIVE)
                    return
                if found is None:
                    return
                member, parts = found
                placed = None if member.kind == _DIR else self._place(parts, repos)
                if placed is None:
                    continue
                repo, rel = placed
                if wanted is not None and not wanted("/".join(rel)):
                    continue
                reason = _file_reason(rel, member, config)
                if reason == GIT_INTERNALS:  # counted once per .git folder, as for directories
                    key = (repo.name, *rel[: rel.index(".git") + 1])
                    if key not in git_dirs:
                        git_dirs.add(key)
                        skips.add(GIT_INTERNALS)
                    continue
                if reason is not None:
                    skips.add(reason)
                    continue
                if not member.streamed and limits.exceeded(nbytes=member.size):
                    skips.add(ARCHIVE_LIMIT)
                    return
                try:
                    data = _read_member(member, config)
                except NotImplementedError:  # a zip compression method Python cannot read
                    data = None
                except CORRUPT_ERRORS:
                    skips.add(CORRUPT_ARCHIVE)
                    return
                if data is None:
                    skips.add(UNREADABLE)
                    continue
                yield RawFile(repo, "/".join(rel), data)
        finally:
            scan.close()
            fh.close()


@dataclass
class _Listing:
    """What ``plan`` learns from one pass over the headers."""

    members: int = 0
    root_git: bool = False  # a .git folder at the top
    root_files: bool = False  # non-hidden files at the top
    root_count: int = 0  # files kept when the archive is one repository
    folders: dict[str, int] = field(default_factory=dict)  # top folder -> files kept if it is one


def _list(fh: BinaryIO, is_zip: bool, config: ReadConfig, listing: _Listing) -> None:
    scratch = SkipCounter()  # skips are counted when the item is read
    for member, parts in _scan(_members(fh, is_zip), scratch, _Limits(config)):
        listing.members += 1
        top, is_dir = parts[0], member.kind == _DIR
        if len(parts) > 1 or is_dir:
            listing.folders.setdefault(top, 0)
        if top == ".git":
            listing.root_git = True
        elif len(parts) == 1 and not is_dir and not top.startswith("."):
            listing.root_files = True
        if is_dir:
            continue
        if _file_reason(parts, member, config) is None:
            listing.root_count += 1
        if len(parts) > 1 and _file_reason(parts[1:], member, config) is None:
            listing.folders[top] += 1


class ArchiveSource:
    """A tar (optionally gzip or zstd compressed) or zip archive of one or more repositories."""

    kind = "archive"

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise SourceError(f"{path} is not a file")
        self.path = path
        self.location = str(path)
        self.is_zip = path.name.lower().endswith(".zip")
        self.repositories: list[RepositoryEntry] = []

    def plan(self, config: ReadConfig, skips: SkipCounter, chunk_bytes: int) -> Iterator[ArchiveWorkItem]:
        self.repositories = []
        listing = _Listing()
        try:
            with open(self.path, "rb") as fh:
                try:
                    _list(fh, self.is_zip, config, listing)
                except CORRUPT_ERRORS:
                    if listing.members == 0:  # not an archive at all: nothing to read
                        skips.add(CORRUPT_ARCHIVE)
                        return
                    # damaged further on: the item reads up to the damage and counts it
        except OSError:
            skips.add(UNREADABLE)
            return
        stem = archive_stem(self.path)
        tops = sorted(f for f in listing.folders if _is_repo_folder(f))
        root: str | None
        if config.layout == "repo" or (
            config.layout == "auto" and (listing.root_git or listing.root_files or not tops)
        ):
            root, name = "", repo_name_from_folder(stem)
            self.repositories = [RepositoryEntry(name, None, listing.root_count)]
        elif config.layout == "auto" and len(tops) == 1:
            root, name = tops[0], repo_name_from_folder(tops[0])
            self.repositories = [RepositoryEntry(name, None, listing.folders[root])]
        else:
            root, name = None, None
            self.repositories = sorted(
                (RepositoryEntry(repo_name_from_folder(f, stem), None, listing.folders[f]) for f in tops),
                key=lambda r: r.repo,
            )
        yield ArchiveWorkItem(
            str(self.path), self.is_zip, root, name, stem, self.path.stat().st_size
        )

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "location": self.location,
            "repositories": [vars(r) for r in self.repositories],
        }
