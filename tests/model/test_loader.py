"""The training loader: deterministic, shuffled per epoch, restartable at any sample (hypothesis)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import run_cli
from stackwright.model.corpus import ModelDataError
from stackwright.model.loader import TokenLoader, TokenSplit


@pytest.fixture(scope="module")
def tokens(release: Path, tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loader") / "tokens"
    proc = run_cli("tokenize", release, "--tokenizer", tokenizer, "--out", out, "--seq-len", "128",
                   "--validation", "0.2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


def take(loader: TokenLoader, n: int) -> list[tuple[int, list[int]]]:
    return [(k, s.tolist()) for k, s in itertools.islice(loader.samples(), n)]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 3))
def test_resumed_at_k_yields_what_an_uninterrupted_loader_yields_from_k(tokens: Path, k: int,
                                                                        seed: int) -> None:
    n = len(TokenSplit(tokens))
    k = k % (2 * n + 7)  # across an epoch boundary too
    uninterrupted = take(TokenLoader(tokens, seed=seed), k + 5)[k:]
    assert take(TokenLoader(tokens, seed=seed, start=k), 5) == uninterrupted


def test_each_epoch_is_a_permutation_and_epochs_differ(tokens: Path) -> None:
    loader = TokenLoader(tokens, seed=7)
    n = len(loader.data)
    first = [loader.order(i) for i in range(n)]
    second = [loader.order(i) for i in range(n, 2 * n)]
    assert sorted(first) == list(range(n)) == sorted(second)
    assert first != second
    assert first == [TokenLoader(tokens, seed=7).order(i) for i in range(n)]


def test_batches_and_splits(tokens: Path) -> None:
    batch = next(iter(TokenLoader(tokens, batch_size=4)))
    assert batch.shape == (4, 128) and batch.dtype == np.uint16
    validation = TokenSplit(tokens, "validation")
    assert len(validation) >= 1 and validation[0].shape == (128,)
    with pytest.raises(ModelDataError):
        TokenSplit(tokens, "test")
    with pytest.raises(ModelDataError):
        TokenLoader(tokens.parent / "nowhere")
