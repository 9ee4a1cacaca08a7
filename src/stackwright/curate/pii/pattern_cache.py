"""Compiled Hyperscan databases, kept on disk between processes.

Compiling the trigger databases is a fixed cost of every process that scans (about 12 ms of a
``stackwright pii scan``; a fifth of what the detectors need before the first byte is read).
A compiled database is serialised (``hyperscan.dumpb``) into the user's cache folder
(``$STACKWRIGHT_CACHE``, else ``$XDG_CACHE_HOME/stackwright``, else ``~/.cache/stackwright``), under
``hyperscan/<key>.hsdb`` where the key hashes everything the database depends on: the expressions,
their flags, the Hyperscan version and the machine. A file starts with the SHA-256 of its payload.

Everything here is best effort: a missing, unreadable, truncated or corrupted file, one from another
machine, or a read-only cache folder means compiling as if there were no cache (and, where it can,
writing a fresh file with an atomic rename). ``STACKWRIGHT_NO_PATTERN_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["cache_key", "cached_database", "pattern_cache_dir"]

_FORMAT = b"stackwright-hsdb-1\n"


def pattern_cache_dir() -> Path | None:
    """The folder of cached databases; None when the cache is turned off."""
    if os.environ.get("STACKWRIGHT_NO_PATTERN_CACHE"):
        return None
    root = os.environ.get("STACKWRIGHT_CACHE")
    if root:
        return Path(root) / "hyperscan"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stackwright" / "hyperscan"


def cache_key(expressions: list[bytes], flags: list[int], version: str) -> str:
    digest = hashlib.sha256()
    machine = os.uname().machine if hasattr(os, "uname") else sys.platform
    for part in (_FORMAT, version.encode(), machine.encode(), sys.version.encode()):
        digest.update(part + b"\0")
    for expression, flag in zip(expressions, flags, strict=True):
        digest.update(len(expression).to_bytes(4, "big") + expression + flag.to_bytes(8, "big"))
    return digest.hexdigest()[:32]


def _read(path: Path) -> bytes | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if not raw.startswith(_FORMAT) or len(raw) < len(_FORMAT) + 32:
        return None
    checksum, body = raw[len(_FORMAT) : len(_FORMAT) + 32], raw[len(_FORMAT) + 32 :]
    return body if hashlib.sha256(body).digest() == checksum else None


def _write(path: Path, body: bytes) -> None:
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".hsdb")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_FORMAT + hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass  # a read-only or full cache folder: the next process compiles again


def cached_database(expressions: list[bytes], flags: list[int], compile_db: Callable[[], Any]) -> Any:
    """The block-mode database of ``expressions`` (ids 0..n-1, ``flags`` each): loaded from the cache, or
    ``compile_db()`` (stored for the next process)."""
    import hyperscan

    folder = pattern_cache_dir()
    if folder is None:
        return compile_db()
    path = folder / f"{cache_key(expressions, flags, str(hyperscan.__version__))}.hsdb"
    body = _read(path)
    if body is not None:
        try:
            return hyperscan.loadb(body, hyperscan.HS_MODE_BLOCK)
        except hyperscan.error:
            pass  # another machine's database, or damage the checksum did not see: compile afresh
    db = compile_db()
    try:
        _write(path, hyperscan.dumpb(db))
    except hyperscan.error:
        pass
    return db
