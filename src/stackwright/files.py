"""The ground floor for files: atomic writes, checksums, and size-limited reads of user files.

Every file the project writes appears whole or not at all: it is written under a temporary name in
the same folder, flushed to disk, then renamed over its final name. Files a user hands us are read
with a size limit, and failures become one-line :class:`FileReadError` messages.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stackwright.errors import StackwrightError

CHUNK = 1 << 20
STDIN = "-"


class FileReadError(StackwrightError):
    """A user's file could not be read: missing, a folder, unreadable or too large."""


def temp_name(path: Path) -> Path:
    """A hidden, unique sibling of ``path`` to write before renaming (same folder, same file system)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` through; on success it is flushed to disk and renamed
    over ``path``, on any error (or interrupt) it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary name, fsync, rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def fsync_tree(root: Path) -> None:
    """Flush every file below ``root`` to disk (before the folder gets its final name)."""
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_file(Path(folder) / name)


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def walk_files(paths: Iterable[Path], skip_dirs: frozenset[str] = frozenset({".git"})) -> Iterator[Path]:
    """The files named, and the files below the folders named (sorted, ``.git`` and symbolic links
    skipped), in a stable order."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
            for name in sorted(files):
                full = Path(folder) / name
                if not full.is_symlink():
                    yield full


def read_limited(path: Path, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a file and whether it holds more; never reads more than limit + 1.
    OSError propagates (the caller decides whether a failed read is a skip or an error)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return data[:limit], len(data) > limit


def read_user_bytes(source: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a file a user named (``-`` reads standard input), at most ``limit`` of them: a
    :class:`FileReadError` with a one-line message naming ``what`` it should be when it is missing, a
    folder, unreadable or larger than ``limit``."""
    if str(source) == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise FileReadError(f"standard input: {what} larger than {limit:,} bytes")
        return data
    path = Path(source)
    try:
        data, more = read_limited(path, limit)
    except FileNotFoundError:
        raise FileReadError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise FileReadError(f"{path}: is a folder; a {what} was expected") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise FileReadError(f"{path}: cannot read the {what} ({reason})") from None
    if more:
        raise FileReadError(f"{path}: {what} larger than {limit:,} bytes")
    return data


def read_user_text(source: str | Path, limit: int, what: str = "file") -> str:
    """:func:`read_user_bytes` decoded as UTF-8 (a byte-order mark is dropped); a one-line
    :class:`FileReadError` when it is not UTF-8 text."""
    return decode_user_text(read_user_bytes(source, limit, what), source, what)


def decode_user_text(data: bytes, source: str | Path, what: str = "file") -> str:
    """UTF-8 text (a byte-order mark dropped), or a one-line :class:`FileReadError`."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileReadError(f"{source}: the {what} is not UTF-8 text (byte {exc.start})") from None


def replace_folder(tmp: Path, folder: Path) -> None:
    """Put the finished folder ``tmp`` at ``folder``; an old one is moved aside first and removed
    after, so a reader finds the old folder or the new one, each whole."""
    old = folder.with_name(f".old-{folder.name}")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
