"""The ground floor for files: atomic writes, checksums, and size-limited reads of user files.

Every file the project writes appears whole or not at all: it is written under a temporary name in
the same folder, flushed to disk, then renamed over its final name. Files a user hands us are read
with a size limit, and failures become one-line :class:`FileReadError` messages.
"""

from __future__ import annotations

import hashlib
import os
import sys
import uuid
from collections.abc import Iterator
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


def read_limited(path: Path, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a file and whether it holds more; never reads more than limit + 1.
    OSError propagates (the caller decides whether a failed read is a skip or an error)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return data[:limit], len(data) > limit


def read_user_bytes(source: str | Path, limit: int) -> bytes:
    """The bytes of a file a user named (``-`` reads standard input), at most ``limit`` of them:
    a :class:`FileReadError` with a one-line message when it is missing, a folder, unreadable or
    larger than ``limit``."""
    if str(source) == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise FileReadError(f"standard input is larger than {limit:,} bytes")
        return data
    path = Path(source)
    try:
        data, more = read_limited(path, limit)
    except FileNotFoundError:
        raise FileReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FileReadError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise FileReadError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if more:
        raise FileReadError(f"{path}: larger than {limit:,} bytes")
    return data
