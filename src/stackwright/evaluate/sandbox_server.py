"""The process inside the sandbox: it forks one child per program and reports how each ended.

This file is run as a script by a bare interpreter (``python -I -S``), so it imports the standard
library only and nothing from stackwright. Inside bubblewrap it is process 1 of its own PID
namespace: its children cannot signal it (the kernel drops signals to a namespace's init that it does
not handle), cannot trace it (it is not dumpable), and everything they leave behind (processes,
files in the private ``/tmp``) is removed before the next program starts.

Protocol on stdin/stdout: the host writes a 4-byte big-endian length and a JSON request
``{"source", "limits"}``; the server answers one JSON line per request. The child reports an
uncaught exception on a private pipe as ``{"exception", "message", "errno"}``.
"""

import json
import os
import resource
import selectors
import shutil
import signal
import struct
import sys
import time

# What HumanEval-like programs import, loaded once so each forked child finds it in memory.
PRELOAD = ("math", "re", "string", "collections", "itertools", "functools", "typing", "hashlib", "heapq",
           "bisect", "random", "statistics", "fractions", "decimal", "operator", "copy")
READ = 65536


def _preload() -> None:
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass


def _limit(kind: int, value: int) -> None:
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        _, hard = resource.getrlimit(kind)
        if hard == resource.RLIM_INFINITY or value < hard:
            resource.setrlimit(kind, (min(value, hard) if hard != resource.RLIM_INFINITY else value, hard))


def _child(source: str, limits: dict, workdir: str, out_w: int, err_w: int, status_w: int) -> None:
    """Runs in the forked child and never returns."""
    status = status_w
    try:
        os.setsid()
        os.chdir(workdir)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        status = os.dup2(status_w, 3)
        os.closerange(4, 1 << 16)
        for stream in (sys.stdout, sys.stderr):  # what was printed before a kill still counts
            stream.reconfigure(line_buffering=True)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        cpu = max(1, int(limits["cpu_seconds"] + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        _limit(resource.RLIMIT_AS, int(limits["memory_bytes"]))
        _limit(resource.RLIMIT_FSIZE, int(limits["file_bytes"]))
        _limit(resource.RLIMIT_NOFILE, int(limits["open_files"]))
        _limit(resource.RLIMIT_CORE, 0)
        if limits.get("processes"):
            _limit(resource.RLIMIT_NPROC, int(limits["processes"]))
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"})
        sys.argv = ["program.py"]
        code = compile(source, "program.py", "exec")
    except BaseException as exc:  # a program that does not compile is a result
        _report(status, exc)
        os._exit(1)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "__file__": "program.py"}
    try:
        exec(code, namespace)
    except SystemExit as exc:
        _flush()
        code_ = exc.code
        os._exit(0 if code_ is None else code_ if isinstance(code_, int) else 1)
    except BaseException as exc:
        _report(status, exc)
        os._exit(1)
    _flush()
    os._exit(0)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # a program may have closed its streams
            pass


def _report(fd: int, exc: BaseException) -> None:
    _flush()
    try:
        message = str(exc)
    except BaseException:
        message = ""
    payload = {"exception": type(exc).__name__, "message": message[:300],
               "errno": getattr(exc, "errno", None)}
    try:
        os.write(fd, json.dumps(payload).encode()[:4096])
    except OSError:
        pass


class Server:
    def __init__(self, root: str, init: bool) -> None:
        self.root = root  # the private writable folder (the sandbox's /tmp)
        self.init = init  # process 1 of a PID namespace: may kill everything else in it
        self.count = 0

    def run(self, source: str, limits: dict) -> dict:
        self.count += 1
        workdir = os.path.join(self.root, f"run-{self.count}")
        os.mkdir(workdir, 0o700)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        status_r, status_w = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            for fd in (out_r, err_r, status_r):
                os.close(fd)
            _child(source, limits, workdir, out_w, err_w, status_w)
        for fd in (out_w, err_w, status_w):
            os.close(fd)
        result = self._watch(pid, started, limits, out_r, err_r, status_r)
        self._clean(pid)
        return result

    def _watch(self, pid: int, started: float, limits: dict, out_r: int, err_r: int, status_r: int) -> dict:
        cap = int(limits["output_bytes"])
        buffers = {out_r: bytearray(), err_r: bytearray(), status_r: bytearray()}
        truncated = False
        pidfd = os.pidfd_open(pid)
        sel = selectors.DefaultSelector()
        for fd in buffers:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        sel.register(pidfd, selectors.EVENT_READ)
        deadline = started + float(limits["wall_seconds"])
        timed_out = False
        exited = False
        while not exited:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                self._kill(pid)
                break
            for key, _ in sel.select(left):
                if key.fd == pidfd:
                    exited = True
                    continue
                truncated |= self._read(key.fd, buffers[key.fd], cap if key.fd != status_r else 4096, sel)
        if not timed_out:
            self._kill(pid)  # what the program left running
        _, status, usage = os.wait4(pid, 0)
        seconds = time.monotonic() - started
        # Everything else holding the pipes is dead now: read what is left, briefly.
        end = time.monotonic() + 0.5
        while sel.get_map() and len(sel.get_map()) > 1 and time.monotonic() < end:
            for key, _ in sel.select(0.05):
                if key.fd != pidfd:
                    truncated |= self._read(key.fd, buffers[key.fd], cap if key.fd != status_r else 4096, sel)
        sel.close()
        for fd in (*buffers, pidfd):
            os.close(fd)
        try:
            reported = json.loads(bytes(buffers[status_r]).decode()) if buffers[status_r] else None
        except ValueError:
            reported = None
        return {
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "timed_out": timed_out,
            "seconds": round(seconds, 4),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 4),
            "max_rss_kb": usage.ru_maxrss,
            "reported": reported if isinstance(reported, dict) else None,
            "stdout": bytes(buffers[out_r]).decode("utf-8", "replace"),
            "stderr": bytes(buffers[err_r]).decode("utf-8", "replace"),
            "truncated": truncated,
        }

    @staticmethod
    def _read(fd: int, buffer: bytearray, cap: int, sel: selectors.BaseSelector) -> bool:
        try:
            chunk = os.read(fd, READ)
        except BlockingIOError:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            sel.unregister(fd)
            return False
        room = cap - len(buffer)
        if room > 0:
            buffer += chunk[:room]
        return len(chunk) > room

    def _kill(self, pid: int) -> None:
        try:
            if self.init:
                os.kill(-1, signal.SIGKILL)  # every process in this namespace but its init (us)
            else:
                os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _clean(self, pid: int) -> None:
        if self.init:  # orphans of the program were reparented to us
            while True:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    break
        for name in os.listdir(self.root):
            _remove(os.path.join(self.root, name))
        for shared in ("/dev/shm",):
            if self.init and os.path.isdir(shared):
                for name in os.listdir(shared):
                    _remove(os.path.join(shared, name))


def _remove(path: str) -> None:
    def unlock(func, target, _exc):  # a program may have made its folders read-only
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=unlock)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def main() -> None:
    root, init = sys.argv[1], sys.argv[2] == "init"
    if init:
        import ctypes

        try:  # not dumpable: the programs (same user) cannot ptrace us or read /proc/1/mem
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
        except (OSError, AttributeError):
            pass
    _preload()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    server = Server(root, init)
    stdout.write(b'{"ready": true}\n')
    stdout.flush()
    while True:
        header = stdin.read(4)
        if len(header) < 4:
            return
        (size,) = struct.unpack(">I", header)
        request = json.loads(stdin.read(size).decode())
        try:
            answer = server.run(request["source"], request["limits"])
        except Exception as exc:  # the host restarts a server that cannot go on
            answer = {"server_error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()


if __name__ == "__main__":
    main()
