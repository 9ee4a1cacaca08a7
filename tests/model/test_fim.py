"""Fill-in-the-middle as pure functions: layouts, round trips and rates (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwright.model.fim import (
    FimConfig,
    FimMarks,
    FimTokens,
    fim_ids,
    permute_document,
    permute_sample,
    permute_text,
    prompt_ids,
    split_text,
    unpermute_text,
)

MARKS = FimMarks("\ufdd1", "\ufdd2", "\ufdd3")  # placeholders, never in generated text below
T = FimTokens()
OFFSET = 100  # a character-level "tokenizer": id = code point + OFFSET


def char_encode(texts: list[str]) -> list[list[int]]:
    return [[ord(c) + OFFSET for c in t] for t in texts]


def char_decode(ids: list[int]) -> str:
    return "".join(chr(i - OFFSET) for i in ids)


texts = st.text(alphabet=st.characters(blacklist_characters="\ufdd1\ufdd2\ufdd3",
                                       blacklist_categories=("Cs",)), max_size=400)


@given(texts, st.integers(0, 2**32 - 1), st.floats(0, 1))
def test_document_fim_text_round_trips(text: str, seed: int, spm_rate: float) -> None:
    out = permute_text(text, np.random.default_rng(seed), FimConfig(rate=1.0, spm_rate=spm_rate), MARKS)
    parts = unpermute_text(out, MARKS)
    assert parts is not None
    prefix, middle, suffix, _ = parts
    assert prefix + middle + suffix == text


@given(texts, st.integers(0, 2**32 - 1))
def test_split_is_at_characters_and_covers_the_text(text: str, seed: int) -> None:
    prefix, middle, suffix = split_text(text, np.random.default_rng(seed))
    assert prefix + middle + suffix == text


def test_layouts_are_starcoders() -> None:
    p, m, s = [10, 11], [20], [30, 31, 32]
    assert fim_ids(p, m, s) == [T.prefix, 10, 11, T.suffix, 30, 31, 32, T.middle, 20]
    assert fim_ids(p, m, s, spm=True) == [T.prefix, T.suffix, 30, 31, 32, T.middle, 10, 11, 20]
    assert prompt_ids(char_encode, "ab", "c") == [T.prefix, 97 + OFFSET, 98 + OFFSET, T.suffix, 99 + OFFSET,
                                                  T.middle]
    assert (T.eot, T.prefix, T.middle, T.suffix, T.pad) == (0, 1, 2, 3, 4)


@given(texts.filter(lambda t: len(t) >= 1), st.integers(0, 2**32 - 1), st.booleans())
def test_token_fim_keeps_the_length_and_the_text_but_the_trimmed_suffix(text: str, seed: int,
                                                                         spm: bool) -> None:
    ids = np.asarray(char_encode([text])[0], dtype=np.int64)
    config = FimConfig(rate=1.0, spm_rate=1.0 if spm else 0.0)
    out = permute_document(ids, np.random.default_rng(seed), config, char_encode, char_decode)
    assert len(out) == len(ids)
    if np.array_equal(out, ids):
        return  # too short to trim: left as it is
    # Character tokens re-encode to as many tokens: the three FIM tokens cost three suffix tokens.
    specials = {T.prefix: MARKS.prefix, T.middle: MARKS.middle, T.suffix: MARKS.suffix}
    as_text = "".join(specials.get(int(i)) or chr(int(i) - OFFSET) for i in out)
    prefix, middle, suffix, _ = unpermute_text(as_text, MARKS)
    assert prefix + middle + suffix == text[: len(text) - 3]
    assert len(suffix) >= 1


def test_short_documents_are_padded_after_the_suffix() -> None:
    """Re-encoding the parts may give fewer tokens than the whole (merges across the cut points are
    lost the other way round too): the document is padded with <fim_pad> after its suffix."""
    def encode(texts: list[str]) -> list[list[int]]:  # every part one token, whatever its length
        return [[500] if t else [] for t in texts]

    ids = np.arange(200, 240)
    rng = np.random.default_rng(3)
    out = permute_document(ids, rng, FimConfig(rate=1.0, spm_rate=0.0), encode, lambda i: "x" * len(i))
    assert len(out) == len(ids)
    pads = np.flatnonzero(out == T.pad)
    middle_at = int(np.flatnonzero(out == T.middle)[0])
    assert len(pads) > 0 and pads.max() < middle_at  # after the suffix, before <fim_middle>


def test_context_fim_treats_each_document_alone() -> None:
    eot = T.eot
    doc = [ord(c) + OFFSET for c in "def f(x):\n    return x\n"]
    sample = np.asarray([*doc, eot, *doc, eot, *doc[:10]], dtype=np.int64)
    out = permute_sample(sample, np.random.default_rng(0), FimConfig(rate=1.0), char_encode, char_decode)
    assert len(out) == len(sample)
    assert list(np.flatnonzero(out == eot)) == list(np.flatnonzero(sample == eot))
    # Each stretch between end-of-text tokens is a document (the last may be too short to trim).
    assert (out == T.prefix).sum() >= 2
    off = permute_sample(sample, np.random.default_rng(0), FimConfig(mode="off"), char_encode, char_decode)
    assert np.array_equal(off, sample)


@settings(max_examples=10, deadline=None)
@given(st.floats(0.1, 0.9), st.floats(0.1, 0.9), st.integers(0, 1000))
def test_rates_match_the_configuration(rate: float, spm_rate: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    config = FimConfig(rate=rate, spm_rate=spm_rate)
    n = 4000
    fim = spm = 0
    for i in range(n):
        out = permute_text(f"document {i} " * 300, rng, config, MARKS)  # long: a split at 0 is rare
        parts = unpermute_text(out, MARKS)
        if parts is not None:
            fim += 1
            spm += parts[3] and out.count(MARKS.suffix) == 1 and out.index(MARKS.suffix) == 1
    # Four standard deviations of a binomial: the test fails by chance about once in 15,000 runs.
    assert abs(fim / n - rate) <= 4 * (rate * (1 - rate) / n) ** 0.5
    assert abs(spm / fim - spm_rate) <= 4 * (spm_rate * (1 - spm_rate) / fim) ** 0.5 + 0.01


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        FimConfig(rate=1.5)
    with pytest.raises(ValueError):
        FimConfig(mode="sometimes")  # type: ignore[arg-type]


@given(st.integers(0, 10))
def test_the_same_seed_gives_the_same_sample(seed: int) -> None:
    text = "x = 1\ny = 2\nprint(x + y)\n"
    a = permute_text(text, np.random.default_rng(seed), FimConfig(rate=1.0), MARKS)
    b = permute_text(text, np.random.default_rng(seed), FimConfig(rate=1.0), MARKS)
    assert a == b
