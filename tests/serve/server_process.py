"""A ``stackwright serve`` process for tests and its lifecycle."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from helpers import cli_env, stackwright_cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}"


def start_server(model: Path, *args: str, timeout: float = 120) -> Server:
    import httpx

    port = free_port()
    proc = subprocess.Popen([*stackwright_cmd(), "serve", str(model), "--port", str(port), *args],
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return Server(proc, port)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not become healthy")


def stop_server(server: Server) -> str:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=10)
    return server.proc.stderr.read() if server.proc.stderr else ""
