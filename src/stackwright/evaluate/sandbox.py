"""Running generated programs without trusting them, and without Docker.

Each worker is one long-lived sandbox: bubblewrap (Debian's ``bubblewrap`` package) puts a small
server (:mod:`stackwright.evaluate.sandbox_server`) into new user, PID, network, IPC and UTS
namespaces, as user ``nobody``, with the system folders and the interpreter read-only, a private
size-limited ``/tmp`` and nothing else of the machine visible: no home folder, no project, no network
but the namespace's own loopback. The server forks one child per program, so a program costs a fork
rather than an interpreter start; the child gets its own session, a fresh empty working folder,
CPU-time, memory, file-size, open-file and process-count limits, an empty environment but ``PATH``,
``HOME`` and ``TMPDIR``, and ``/dev/null`` as stdin. At the deadline, or as soon as the program ends,
everything else in the namespace is killed and the private ``/tmp`` is emptied, so one program
cannot leave anything for the next.

Where bubblewrap is missing or the kernel refuses user namespaces the same server runs as a plain
process (``isolation: process``): limits, process group, scrubbed environment and, as root, the user
``nobody``, but the network and the file system are the host's; :attr:`Sandbox.isolation` says so and
callers print it.
"""

from __future__ import annotations

import json
import os
import queue
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stackwright.errors import StackwrightError

SERVER = Path(__file__).with_name("sandbox_server.py")
NOBODY = 65534
PRIVATE_TMP_BYTES = 512 << 20
STATUSES = ("passed", "failed", "timeout", "error")
START_SECONDS = 20.0
GRACE_SECONDS = 5.0  # the server's own answer may come this late before the host gives up on it


class SandboxError(StackwrightError):
    """The sandbox cannot be started."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one program may use. ``cpu_seconds`` defaults to the wall time."""

    wall_seconds: float = 3.0
    cpu_seconds: float | None = None
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    processes: int = 32
    open_files: int = 128
    output_bytes: int = 16 << 10

    def request(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu_seconds"] = self.cpu_seconds or self.wall_seconds
        return data


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a program ended: ``passed`` (exit status 0), ``failed`` (an exception or another exit
    status), ``timeout`` (wall or CPU time), ``error`` (another limit, a signal, or the sandbox)."""

    status: str
    reason: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True, slots=True)
class Isolation:
    """What the sandbox in use can promise, as results report it."""

    mechanism: str  # bubblewrap | process
    network: str  # namespace (own loopback only) | host
    filesystem: str  # private (read-only system, private /tmp) | host
    processes: str  # pid namespace | process group
    user: str
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


def _size(n: float) -> str:
    return f"{n / (1 << 30):g} GiB" if n >= 1 << 30 else f"{n / (1 << 20):g} MiB"


def classify(raw: dict[str, Any], limits: Limits) -> Outcome:
    """The outcome of one program from the server's account of it."""
    common = {"seconds": float(raw.get("seconds", 0.0)), "cpu_seconds": float(raw.get("cpu_seconds", 0.0)),
              "stdout": raw.get("stdout", ""), "stderr": raw.get("stderr", ""),
              "truncated": bool(raw.get("truncated"))}
    if "server_error" in raw:
        return Outcome("error", f"sandbox: {raw['server_error']}"[:200], **common)
    reported = raw.get("reported") or {}
    exception, errno = reported.get("exception"), reported.get("errno")
    sig, cpu_limit = raw.get("signal"), limits.request()["cpu_seconds"]
    if raw.get("timed_out"):
        return Outcome("timeout", f"wall time limit of {limits.wall_seconds:g} s", **common)
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and common["cpu_seconds"] >= cpu_limit - 0.05):
        return Outcome("timeout", f"CPU time limit of {cpu_limit:g} s", **common)
    if exception == "MemoryError":
        return Outcome("error", f"memory limit of {_size(limits.memory_bytes)}", **common)
    if sig == signal.SIGXFSZ or errno == 27:  # EFBIG
        return Outcome("error", f"file size limit of {_size(limits.file_bytes)}", **common)
    if exception == "BlockingIOError" and errno == 11:  # EAGAIN from fork: the process limit
        return Outcome("error", f"process limit of {limits.processes}", **common)
    if raw.get("exit") == 0 and not exception:
        return Outcome("passed", **common)
    if exception:
        message = (reported.get("message") or "").strip().splitlines()
        return Outcome("failed", (f"{exception}: {message[0]}" if message else exception)[:200], **common)
    if sig:
        return Outcome("error", f"killed by {signal.Signals(sig).name}", **common)
    return Outcome("failed", f"exit status {raw.get('exit')}", **common)


def interpreter() -> str:
    """The base interpreter (not a virtual environment's): programs see the standard library only."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def bubblewrap_command(bwrap: str, python: str) -> list[str]:
    """The bwrap command line for one sandbox: the system read-only, nothing private, no network."""
    cmd = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--as-pid-1",
           "--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "sandbox", "--clearenv",
           "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
           "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp",
           "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    prefix = os.path.dirname(os.path.dirname(python))  # .../bin/python3.11 -> ...
    if not prefix.startswith("/usr"):
        cmd += ["--ro-bind", prefix, prefix]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(PRIVATE_TMP_BYTES), "--tmpfs", "/tmp",
            "--chdir", "/tmp"]
    return cmd


class _Worker:
    """One running sandbox server and the pipe to it."""

    def __init__(self, mechanism: str, as_nobody: bool = False) -> None:
        self.mechanism = mechanism
        self.as_nobody = as_nobody  # process mode started by root: the programs run as nobody
        self.proc: subprocess.Popen[bytes] | None = None
        self.root: str | None = None

    def start(self) -> None:
        python = interpreter()
        server = [python, "-I", "-S", "-B", "-c", SERVER.read_text(encoding="utf-8")]
        if self.mechanism == "bubblewrap":
            cmd = [*bubblewrap_command(shutil.which("bwrap") or "bwrap", python), *server, "/tmp", "init"]
            env = {"PATH": "/usr/bin:/bin"}
        else:
            self.root = tempfile.mkdtemp(prefix="stackwright-sandbox-")
            if self.as_nobody:
                os.chown(self.root, NOBODY, NOBODY)
            cmd = [*server, self.root, "group"]
            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self.root, "TMPDIR": self.root}
        kwargs: dict[str, Any] = {}
        if self.as_nobody:
            kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=env, cwd=self.root or "/",
                                         start_new_session=True, **kwargs)
        except OSError as exc:
            self.close()
            raise SandboxError(f"the {self.mechanism} sandbox did not start: {exc.strerror}") from None
        line = self._line(START_SECONDS)
        if line is None or not line.startswith(b'{"ready"'):
            error = self._stderr()
            self.close()
            raise SandboxError(f"the {self.mechanism} sandbox did not start: {error or 'no answer'}")

    def _line(self, timeout: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        with selectors.DefaultSelector() as sel:
            sel.register(stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return None
        line = stdout.readline()
        return line or None

    def _stderr(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        try:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=2)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            return ""
        return err.decode("utf-8", "replace").strip().splitlines()[-1][:200] if err.strip() else ""

    def run(self, source: str, limits: Limits) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        body = json.dumps({"source": source, "limits": limits.request()}).encode()
        try:
            self.proc.stdin.write(struct.pack(">I", len(body)) + body)
            self.proc.stdin.flush()
            line = self._line(limits.wall_seconds + GRACE_SECONDS)
        except (BrokenPipeError, OSError, ValueError):
            line = None
        if line is None:  # the server died or hangs: start a fresh one for the next program
            self.close()
            return {"server_error": "the sandbox server stopped answering and was restarted"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self.proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def _bubblewrap_isolation() -> Isolation:
    return Isolation("bubblewrap", "namespace", "private", "pid namespace", "nobody")


def _process_isolation(note: str, as_nobody: bool) -> Isolation:
    user = "nobody" if as_nobody else "root" if os.getuid() == 0 else "the current user"
    return Isolation("process", "host", "host", "process group", user, note)


def _start_process_worker(note: str) -> tuple[_Worker, Isolation]:
    """As root the programs run as nobody, unless nobody cannot run the interpreter."""
    if os.getuid() == 0:
        worker = _Worker("process", as_nobody=True)
        try:
            worker.start()
            return worker, _process_isolation(note, True)
        except SandboxError:
            note = "; ".join(filter(None, [note, f"runs as root: nobody cannot run {interpreter()}"]))
    worker = _Worker("process")
    worker.start()
    return worker, _process_isolation(note, False)


@dataclass
class Sandbox:
    """A pool of sandbox servers. ``isolation``: ``auto`` (bubblewrap when it works, else a process
    with the reason in :attr:`isolation`), ``bubblewrap`` (or fail) or ``process``."""

    workers: int = 1
    mode: str = "auto"
    isolation: Isolation = field(init=False)
    _idle: queue.Queue[_Worker] = field(init=False, repr=False)
    _all: list[_Worker] = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "bubblewrap", "process"):
            raise SandboxError(f"unknown isolation {self.mode!r}: auto, bubblewrap or process")
        self.workers = max(1, int(self.workers))
        mechanism, note = "bubblewrap", ""
        if self.mode == "process":
            mechanism = "process"
        elif shutil.which("bwrap") is None:
            if self.mode == "bubblewrap":
                raise SandboxError("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
            mechanism, note = "process", "bubblewrap is not installed (apt-get install bubblewrap)"
        if mechanism == "bubblewrap":
            first = _Worker(mechanism)
            try:
                first.start()
                self.isolation = _bubblewrap_isolation()
            except SandboxError as exc:
                if self.mode == "bubblewrap":
                    raise
                mechanism, note = "process", f"bubblewrap could not start here ({exc})"
        if mechanism == "process":
            first, self.isolation = _start_process_worker(note)
        self._all = [first] + [_Worker(mechanism, first.as_nobody) for _ in range(self.workers - 1)]
        try:
            for worker in self._all[1:]:
                worker.start()
        except SandboxError:
            self.close()
            raise
        self._idle = queue.Queue()
        for worker in self._all:
            self._idle.put(worker)

    def run(self, source: str, limits: Limits = Limits()) -> Outcome:
        """Run one program and say how it ended."""
        worker = self._idle.get()
        try:
            return classify(worker.run(source, limits), limits)
        finally:
            self._idle.put(worker)

    def map(self, jobs: Iterable[tuple[str, Limits]], on_result: Callable[[int, Outcome], None] | None = None
            ) -> Iterator[Outcome]:
        """Run programs on every worker at once; outcomes in the order of ``jobs``."""
        def one(item: tuple[int, tuple[str, Limits]]) -> Outcome:
            index, (source, limits) = item
            outcome = self.run(source, limits)
            if on_result is not None:
                with self._lock:
                    on_result(index, outcome)
            return outcome

        with ThreadPoolExecutor(self.workers, thread_name_prefix="sandbox") as pool:
            yield from pool.map(one, enumerate(jobs))

    def close(self) -> None:
        for worker in self._all:
            worker.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
