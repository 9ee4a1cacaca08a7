"""The sandbox for generated programs: hostile programs are contained and reported, the harness
goes on, and nothing outside the sandbox changes."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwright.evaluate.sandbox import Limits, Sandbox, SandboxError

SECRET = "hunter2-not-a-real-token"


def _processes() -> int:
    return sum(name.isdigit() for name in os.listdir("/proc"))


@pytest.fixture()
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Sandbox]:
    """A bubblewrap sandbox started by a caller with a secret in its environment and a home folder
    full of files. Without bubblewrap the containment tests skip here, and fail in CI."""
    if shutil.which("bwrap") is None and not os.environ.get("CI"):
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("private key\n")
    (home / "notes.txt").write_text("keep me\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("STACKWRIGHT_TEST_SECRET", SECRET)
    with Sandbox(workers=2, mode="bubblewrap") as box:
        yield box


class _Listener:
    """A TCP server on a loopback port that records whether anyone connected."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_hostile_programs_are_contained_and_the_harness_goes_on(sandbox: Sandbox, tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    outside = tmp_path / "outside"
    outside.mkdir()
    listener = _Listener()
    before = _processes()
    programs = {
        "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n"
                     "    except OSError:\n        pass\n",
        "infinite loop": "while True:\n    pass\n",
        "10 GB allocation": "data = bytearray(10 * 1024 ** 3)\n",
        "writes outside": (f"open({str(outside / 'escaped.txt')!r}, 'w').write('x')\n"),
        "writes up the tree": "import os\nfor up in ('..', '../..', '/tmp', '/'):\n"
                              "    try:\n        open(os.path.join(up, 'escaped.txt'), 'w').write('x')\n"
                              "    except OSError:\n        pass\n"
                              f"open({str(tmp_path / 'escaped.txt')!r}, 'w').write('x')\n",
        "loopback socket": "import socket\n"
                           f"socket.create_connection(('127.0.0.1', {listener.port}), timeout=2)\n",
        "rm -rf ~": f"import os\nos.system('rm -rf ~ {home} 2>/dev/null')\n",
        "environment secret": "import os, sys\nleaked = [v for v in os.environ.values() if 'hunter2' in v]\n"
                              "for pid in os.listdir('/proc'):\n    try:\n"
                              "        if b'hunter2' in open(f'/proc/{pid}/environ', 'rb').read():\n"
                              "            leaked.append(pid)\n    except OSError:\n        pass\n"
                              "print(sorted(os.environ))\nsys.exit(3 if leaked else 0)\n",
        "closed stdout": "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(600)\n",
        "well behaved": "print(sum(range(10)))\n",
    }
    started = time.monotonic()
    outcomes = dict(zip(programs, sandbox.map((src, Limits(wall_seconds=2.0)) for src in programs.values()),
                        strict=True))
    elapsed = time.monotonic() - started
    listener.close()

    assert outcomes["fork bomb"].status in ("timeout", "error")
    assert outcomes["infinite loop"].status == "timeout"
    assert outcomes["10 GB allocation"].status == "error"
    assert "memory limit" in outcomes["10 GB allocation"].reason
    assert outcomes["writes outside"].status == "failed"
    assert "FileNotFoundError" in outcomes["writes outside"].reason
    assert outcomes["writes up the tree"].status == "failed"
    assert not list(outside.iterdir()) and not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/escaped.txt").exists() or Path("/tmp/escaped.txt").stat().st_mtime < started
    assert outcomes["loopback socket"].status == "failed" and listener.connections == 0
    assert outcomes["rm -rf ~"].status == "passed"  # it ran, on a home folder of its own
    assert (home / "notes.txt").read_text() == "keep me\n" and (home / ".ssh" / "id_ed25519").exists()
    assert outcomes["environment secret"].status == "passed", outcomes["environment secret"].reason
    assert "STACKWRIGHT_TEST_SECRET" not in outcomes["environment secret"].stdout
    assert outcomes["closed stdout"].status == "timeout"
    assert outcomes["well behaved"].status == "passed" and outcomes["well behaved"].stdout == "45\n"
    for name, outcome in outcomes.items():
        assert outcome.seconds < 4.5, name  # everything killed at its deadline
    assert elapsed < 30
    time.sleep(0.2)
    assert _processes() <= before + 5  # no program left anything running (a fork bomb leaves dozens)


def test_outcomes_and_their_reasons(sandbox: Sandbox) -> None:
    cases = {
        "assert 1 + 1 == 3, 'arithmetic'": ("failed", "AssertionError: arithmetic"),
        "def broken(:\n": ("failed", "SyntaxError"),
        "import sys\nsys.exit(4)\n": ("failed", "exit status 4"),
        "import sys\nsys.exit(0)\n": ("passed", ""),
        "open('big', 'wb').write(b'x' * (64 << 20))\n": ("error", "file size limit of 16 MiB"),
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n": ("error", "killed by SIGSEGV"),
        "import time\nwhile True:\n    time.sleep(0.01)\n": ("timeout", "wall time limit of 1 s"),
    }
    for (source, (status, reason)), outcome in zip(
            cases.items(), sandbox.map((s, Limits(wall_seconds=1.0)) for s in cases), strict=True):
        assert outcome.status == status, (source, outcome)
        assert outcome.reason.startswith(reason), (source, outcome.reason)


def test_output_is_capped_and_stdin_is_empty(sandbox: Sandbox) -> None:
    spam = sandbox.run("import sys\nprint(repr(sys.stdin.read()))\n"
                       "for _ in range(10**5):\n    print('x' * 100)\n", Limits(output_bytes=1000))
    assert spam.passed and spam.truncated
    assert spam.stdout.startswith("''\n") and len(spam.stdout.encode()) == 1000


def test_nothing_is_left_for_the_next_program() -> None:
    if shutil.which("bwrap") is None and not os.environ.get("CI"):
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    with Sandbox(workers=1, mode="bubblewrap") as box:
        first = box.run("import os, subprocess\nopen('/tmp/left-behind', 'w').write('x')\n"
                        "open('here', 'w').write('x')\n"
                        "subprocess.Popen(['sleep', '600'], start_new_session=True)\n")
        assert first.passed, first.reason
        second = box.run("import os\nprint(os.listdir('/tmp'), os.listdir('.'))\n"
                         "print(sorted(p for p in os.listdir('/proc') if p.isdigit()))\n")
        assert second.passed, second.reason
        folders, processes = second.stdout.splitlines()
        assert "left-behind" not in folders and "here" not in folders
        assert len(eval(processes)) == 2  # the server (process 1) and this program


def test_the_process_fallback_says_what_it_does_not_isolate() -> None:
    with Sandbox(mode="process") as box:
        assert box.isolation.mechanism == "process"
        assert box.isolation.network == "host" and box.isolation.filesystem == "host"
        outcome = box.run("print('still limited')\nwhile True:\n    pass\n", Limits(wall_seconds=1.0))
        assert outcome.status == "timeout" and outcome.stdout == "still limited\n"


def test_a_server_killed_by_its_program_is_replaced() -> None:
    """Without namespaces a program can kill the server that runs it: that program is an error and
    the next one runs on a fresh server."""
    limits = Limits(wall_seconds=1.0)
    with Sandbox(mode="process") as box:
        killer = box.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", limits)
        assert killer.status == "error" and "restarted" in killer.reason
        assert box.run("print('again')", limits).stdout == "again\n"


def test_unknown_isolation_is_refused() -> None:
    with pytest.raises(SandboxError, match="unknown isolation"):
        Sandbox(mode="docker")
