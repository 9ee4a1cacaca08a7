"""Serving fixtures: a randomly initialised GPTBigCode over the test tokenizer (its greedy tokens vary,
so comparing the engine with ``generate`` means something), and a running server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from helpers import cli_env, stackwright_cmd


@pytest.fixture(scope="session")
def random_model(tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    from stackwright.model.tokenizer import CodeTokenizer

    folder = tmp_path_factory.mktemp("random-model") / "model"
    shutil.copytree(tokenizer, folder)
    vocab = CodeTokenizer(folder).vocab_size
    torch.manual_seed(0)
    config = GPTBigCodeConfig(vocab_size=vocab, n_positions=256, n_embd=64, n_layer=2, n_head=4, n_inner=128,
                              multi_query=True, bos_token_id=0, eos_token_id=0, tie_word_embeddings=False)
    model = GPTBigCodeForCausalLM(config)
    with torch.no_grad():  # an untied, wider output layer: greedy tokens vary instead of repeating
        model.lm_head.weight.normal_(0.0, 0.5)
    model.save_pretrained(folder)
    return folder


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


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[Server]:
    """``stackwright serve`` on the tiny trained model, a small queue so overload is reachable."""
    running = start_server(tiny_model, "--max-batch", "4", "--max-queue", "4", "--name", "tiny")
    try:
        yield running
    finally:
        stop_server(running)
