"""License detection with ScanCode Toolkit (the optional `scancode` extra).

ScanCode is heavy: importing it and loading its license index takes several seconds, and its
per-file ``deadline`` is only cooperative (a 2.5 MB text given a 1 ms deadline still runs for
seconds). So detection runs in one long-lived worker process (a ``python -c`` subprocess) that loads
the index once; a call that runs past its time limit kills that worker and answers
``TextDetection(NOASSERTION, reason=TIMEOUT)``, and the next call starts a fresh worker.

Nothing from scancode is imported when this module is imported.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from stackwright.curate.licenses.model import (
    EMPTY,
    NO_MATCH,
    NOASSERTION,
    TIMEOUT,
    LicenseMatch,
    TextDetection,
)
from stackwright.errors import StackwrightError

BACKEND = "scancode"
INSTALL_HINT = "the scancode backend needs scancode-toolkit: pip install 'stackwright[scancode]'"

# How long past the time limit the worker may take to hand back a (cooperatively stopped) result
# before it is killed; killing costs a fresh index load (~6 s) on the next call.
_KILL_GRACE_S = 0.5


def scancode_available() -> bool:
    """True when scancode-toolkit can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("scancode.api") is not None
    except (ImportError, ValueError):
        return False


# The directory holding the `stackwright` package, so the worker imports this same copy.
_SRC_ROOT = str(Path(__file__).resolve().parents[3])


# ---------------------------------------------------------------- worker process


def _worker_entry(fd: int) -> None:
    """The worker's entry point (``python -c``): serve requests on the socket `fd`."""
    conn = Connection(fd)
    try:
        _worker_main(conn)
    finally:
        conn.close()
    # skip the interpreter's teardown of the index (seconds of garbage collection)
    sys.stderr.flush()
    os._exit(0)


def _worker_main(conn: Any) -> None:
    """Runs in the worker: load the index once, then answer (path, timeout_s) requests."""
    try:
        from licensedcode.cache import get_index
        from scancode.api import get_licenses

        get_index()
    except BaseException as exc:  # reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        path, timeout_s = request
        start = time.time()
        try:
            result = get_licenses(location=path, min_score=0, include_text=False,
                                  license_text_diagnostics=False, deadline=start + timeout_s)
        except Exception as exc:  # reported to the parent
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ok", (result, time.time() - start)))


# ---------------------------------------------------------------- result mapping


def _to_detection(result: dict[str, Any]) -> TextDetection:
    matches: list[LicenseMatch] = []
    for detection in result.get("license_detections") or ():
        for m in detection.get("matches") or ():
            key = m.get("license_expression") or ""
            matches.append(LicenseMatch(
                spdx=m.get("spdx_license_expression") or m.get("license_expression_spdx") or NOASSERTION,
                key=key,
                rule=m.get("rule_identifier") or "",
                score=float(m.get("score") or 0.0) / 100.0,
                start_line=int(m.get("start_line") or 0),
                end_line=int(m.get("end_line") or 0),
            ))
    extra = {
        "expression": result.get("detected_license_expression"),
        "percentage_of_license_text": result.get("percentage_of_license_text"),
        "clues": len(result.get("license_clues") or ()),
    }
    spdx = result.get("detected_license_expression_spdx")
    if not spdx:
        return TextDetection(NOASSERTION, tuple(matches), reason=NO_MATCH, backend=BACKEND, extra=extra)
    return TextDetection(spdx, tuple(matches), backend=BACKEND, extra=extra)


# ---------------------------------------------------------------- backend


class ScancodeError(StackwrightError, RuntimeError):
    """ScanCode is not installed, failed to load, or failed on a file."""


class ScancodeBackend:
    """Detects licenses with ScanCode in a worker process; one index load per worker.

    Not meant for concurrent use from several threads (calls are serialized by a lock).
    """

    def __init__(self, timeout_s: float = 10.0, *, load_timeout_s: float = 600.0) -> None:
        if not scancode_available():
            raise ScancodeError(INSTALL_HINT)
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.timeout_s = float(timeout_s)
        self.load_timeout_s = float(load_timeout_s)
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Any = None
        self._ready = False
        self._tmpdir: str | None = tempfile.mkdtemp(prefix="stackwright-scancode-")
        self._closed = False
        self._start_worker()  # the index loads in the background while the caller goes on

    # -- worker lifecycle

    def _start_worker(self) -> None:
        # A plain subprocess rather than multiprocessing's spawn: spawn re-runs the parent's
        # __main__ in the worker (a CLI, a script on stdin), which is slow or fails outright.
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC_ROOT, env.get("PYTHONPATH")) if p)
        code = f"from {__name__} import _worker_entry; _worker_entry({child_sock.fileno()})"
        try:
            proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(child_sock.fileno(),),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        except BaseException:
            parent_sock.close()
            raise
        finally:
            child_sock.close()
        self._proc, self._ready = proc, False
        self._conn = Connection(parent_sock.detach())

    def _stop_worker(self, kill: bool) -> None:
        proc, conn = self._proc, self._conn
        self._proc, self._conn, self._ready = None, None, False
        if proc is None:
            return
        if not kill and conn is not None:
            try:
                conn.send(None)
                proc.wait(2.0)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            pass
        if conn is not None:
            conn.close()

    def _ensure_ready(self) -> None:
        if self._proc is None:
            self._start_worker()
        if self._ready:
            return
        if not self._conn.poll(self.load_timeout_s):
            self._stop_worker(kill=True)
            raise ScancodeError(f"scancode did not load its license index in {self.load_timeout_s:g} s")
        try:
            status, payload = self._conn.recv()
        except (EOFError, OSError):
            self._stop_worker(kill=True)
            raise ScancodeError("the scancode worker died while loading its license index") from None
        if status != "ready":
            self._stop_worker(kill=True)
            raise ScancodeError(f"scancode failed to load: {payload}")
        self._ready = True

    # -- detection

    def _detect_path(self, path: str) -> TextDetection:
        with self._lock:
            if self._closed:
                raise ScancodeError("the scancode backend is closed")
            self._ensure_ready()
            try:
                self._conn.send((path, self.timeout_s))
            except OSError:
                self._stop_worker(kill=True)
                raise ScancodeError("the scancode worker is gone; the next call starts a new one") from None
            if not self._conn.poll(self.timeout_s + _KILL_GRACE_S):
                self._stop_worker(kill=True)  # the next call starts (and loads) a fresh worker
                return TextDetection(NOASSERTION, reason=TIMEOUT, backend=BACKEND)
            try:
                status, payload = self._conn.recv()
            except (EOFError, OSError):
                self._stop_worker(kill=True)
                raise ScancodeError(f"the scancode worker died on {path}") from None
        if status != "ok":
            raise ScancodeError(f"scancode failed on {path}: {payload}")
        result, elapsed = payload
        if elapsed >= self.timeout_s:  # scancode stopped at its deadline: results may be partial
            return TextDetection(NOASSERTION, reason=TIMEOUT, backend=BACKEND)
        return _to_detection(result)

    def detect_file(self, path: str) -> TextDetection:
        """Detect the licenses in the file at `path`."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(path)
        if os.path.getsize(path) == 0:
            return TextDetection(NOASSERTION, reason=EMPTY, backend=BACKEND)
        return self._detect_path(os.path.abspath(path))

    def detect_text(self, text: str) -> TextDetection:
        """Detect the licenses in `text` (written to a private temporary file as UTF-8)."""
        if not text.strip():
            return TextDetection(NOASSERTION, reason=EMPTY, backend=BACKEND)
        if self._tmpdir is None:
            raise ScancodeError("the scancode backend is closed")
        fd, path = tempfile.mkstemp(suffix=".txt", dir=self._tmpdir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="") as f:
                f.write(text)
            return self._detect_path(path)
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass

    # -- shutdown

    def close(self) -> None:
        """Stop the worker and remove the temporary directory; safe to call twice."""
        with self._lock:
            self._closed = True
            self._stop_worker(kill=False)
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    def __enter__(self) -> ScancodeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed:
                self.close()
        except Exception:  # interpreter shutdown
            pass
