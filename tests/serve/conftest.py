"""Serving fixtures: a randomly initialised GPTBigCode over the test tokenizer (its greedy tokens vary,
so comparing the engine with ``generate`` means something), and a running server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from server_process import Server, start_server, stop_server


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


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[Server]:
    """``stackwright serve`` on the tiny trained model, a small queue so overload is reachable."""
    running = start_server(tiny_model, "--max-batch", "4", "--max-queue", "4", "--name", "tiny")
    try:
        yield running
    finally:
        stop_server(running)
