"""The trained tokenizer: StarCoder's special tokens, digits, loading with AutoTokenizer, errors."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli
from stackwright.model.fim import (
    FimConfig,
    FimMarks,
    fim_ids,
    permute_document,
    permute_text,
    prompt_ids,
    prompt_text,
    split_text,
)
from stackwright.model.tokenizer import INFO_FILE, CodeTokenizer, special
from stackwright.model.tokens import EOT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, REPONAME, SPECIAL_TOKENS


def auto(folder: Path):
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def test_special_tokens_have_starcoders_strings_and_ids(tokenizer: Path) -> None:
    hf = auto(tokenizer)
    assert hf.convert_ids_to_tokens(list(range(19))) == list(SPECIAL_TOKENS)
    assert (hf.bos_token, hf.eos_token, hf.unk_token) == (EOT, EOT, EOT)
    assert len(hf) == 2048
    info = json.loads((tokenizer / INFO_FILE).read_text())
    assert info["vocab_size"] == 2048 and info["special_tokens"] == list(SPECIAL_TOKENS)
    assert info["release"]["version"] == "v1.0.0"
    assert info["held_out"]["files"] >= 1 and 1.5 < info["held_out"]["bytes_per_token"] < 8


def test_digits_are_split_and_text_round_trips(tokenizer: Path) -> None:
    tok = CodeTokenizer(tokenizer)
    hf = auto(tokenizer)
    text = "port = 8080\nprint('héllo wörld', 1234567)\n\tx  =  [1,2]\n"
    ids = tok.encode([text])[0]
    pieces = hf.convert_ids_to_tokens(ids)
    assert all(not any(c.isdigit() for c in p) or len(p.strip("Ġ")) == 1 for p in pieces), pieces
    assert tok.decode(ids) == text
    assert hf.decode(ids) == text
    assert hf(text, add_special_tokens=False)["input_ids"] == ids


def test_special_strings_in_files_are_text(tokenizer: Path) -> None:
    """A file that mentions <fim_prefix> (this project's source does) does not become a FIM sample."""
    tok = CodeTokenizer(tokenizer)
    ids = tok.encode([f"marker = '{FIM_PREFIX}'"])[0]
    assert not any(i < len(SPECIAL_TOKENS) for i in ids)
    placed = tok.encode([f"{special(REPONAME)}team0/project0\nx = 1"])[0]
    assert placed[0] == SPECIAL_TOKENS.index(REPONAME)
    assert tok.decode(placed) == f"{special(REPONAME)}team0/project0\nx = 1"


def test_inference_prompt_is_the_training_layout_token_for_token(tokenizer: Path) -> None:
    """Golden: training samples are laid out by the builder that makes the inference prompt."""
    tok = CodeTokenizer(tokenizer)
    hf = auto(tokenizer)
    document = "def area(width, height):\n    \"\"\"Rectangle area.\"\"\"\n    return width * height\n" * 3
    psm = FimConfig(rate=1.0, spm_rate=0.0)
    marks = FimMarks(special(FIM_PREFIX), special(FIM_MIDDLE), special(FIM_SUFFIX))
    for seed in range(5):
        # Document-level FIM (as the tokenize stage renders it): the sample is the prompt, then the middle.
        rng = np.random.default_rng(seed)
        sample = tok.encode([permute_text(document, rng, psm, marks)])[0]
        replay = np.random.default_rng(seed)
        replay.random()  # the FIM draw
        prefix, middle, suffix = split_text(document, replay)
        prompt = prompt_ids(tok.encode, prefix, suffix)
        assert sample == prompt + tok.encode([middle])[0]
        # Text APIs (an OpenAI-style prompt and suffix) encode to the same ids with the HF tokenizer.
        assert hf(prompt_text(prefix, suffix), add_special_tokens=False)["input_ids"] == prompt
        # Context-level FIM: the same layout, the suffix trimmed so the sequence keeps its length.
        ids = np.asarray(tok.encode([document])[0], dtype=np.int64)
        packed = permute_document(ids, np.random.default_rng(seed), psm, tok.encode, tok.decode).tolist()
        p, m, s = tok.encode([prefix, middle, suffix])
        kept = len(ids) - len(p) - len(m) - 3
        if kept <= 0:  # no suffix left to trim: the document stays as it is
            assert packed == ids.tolist()
            continue
        assert packed == fim_ids(p, m, s[:kept])
        assert packed[: 2 + len(p) + kept] == prompt[: 2 + len(p) + kept]


def test_bad_input_is_one_line(tmp_path: Path, release: Path, tokenizer: Path) -> None:
    assert_one_line_error(run_cli("tokenizer", "train", tmp_path / "none", "--out", tmp_path / "t"),
                          "no such release folder")
    assert_one_line_error(run_cli("tokenizer", "train", release, "--out", tokenizer), "never overwritten")
    not_ours = tmp_path / "gpt2ish"
    not_ours.mkdir()
    from tokenizers import Tokenizer, models

    Tokenizer(models.BPE()).save(str(not_ours / "tokenizer.json"))
    assert_one_line_error(run_cli("tokenize", release, "--tokenizer", not_ours, "--out", tmp_path / "x"),
                          "not a stackwright tokenizer")
    assert_one_line_error(run_cli("tokenize", release, "--tokenizer", tmp_path, "--out", tmp_path / "y"),
                          "not a tokenizer folder")


TRICKY = [
    "a\n\n1", "x  =  1", "\t\t42\n", " 1 2  3", "x=1e10;y=0x1F", "½ ² Ⅻ ٣", "é\u0301 日本語 😀", "it's 1's",
    "  \n  \n9", "a\r\n\r\n 7", "", " ", "\u00a0\u00a01", "foo.bar(12,34)", "'s'll'd", "<fim_prefix> 1",
    "a\x1c b\x1f\tc", "x\u3000 y\u2028 z", "it's \n'll  \t\r\n'd", "1 2\n3\t4 ", "\u00a0 \u00a0x",
    "def f():\n\tif x:\n\t\treturn 'y'  # é\n", "a" * 300 + " " + "b" * 5,
]


def test_tiktoken_gives_the_same_ids_as_tokenizers(tokenizer: Path, release: Path) -> None:
    from stackwright.model.corpus import ReleaseCorpus, iter_texts

    hf = CodeTokenizer(tokenizer)
    fast = CodeTokenizer(tokenizer, "tiktoken")
    assert fast.engine == "tiktoken"
    texts = TRICKY + [r["content"] for rows in iter_texts(ReleaseCorpus.open(release)) for r in rows]
    assert fast.encode(texts) == hf.encode(texts)
    for ids in hf.encode(texts[:40]):
        assert fast.decode(ids) == hf.decode(ids)
        assert fast.decode(ids[1:-1]) == hf.decode(ids[1:-1])  # cut characters decode alike


def test_split_encoding_from_ids_equals_encoding_the_parts(tokenizer: Path, release: Path) -> None:
    """The FIM fast path (re-encode only around the cuts) gives exactly what encoding the three parts
    does, for whole files, for stretches cut anywhere (as packing cuts them), and at every cut."""
    from stackwright.model.corpus import ReleaseCorpus, iter_texts

    rng = np.random.default_rng(0)
    for engine in ("tokenizers", "tiktoken"):
        tok = CodeTokenizer(tokenizer, engine)
        texts = [r["content"] for rows in iter_texts(ReleaseCorpus.open(release)) for r in rows][:40]
        for full in tok.encode(texts + TRICKY):
            full = np.asarray(full, dtype=np.int64)
            for _ in range(6):
                lo, hi = sorted(int(x) for x in rng.integers(0, len(full) + 1, size=2))
                ids = full[lo:hi] if rng.random() < 0.7 else full
                if len(ids) == 0:
                    continue
                text = tok.decode(ids)
                a, b = sorted(int(x) for x in rng.integers(0, len(text) + 1, size=2))
                expected = tuple(tok.encode([text[:a], text[a:b], text[b:]]))
                assert tok.encode_split(ids, text, a, b) == expected


def test_split_encoding_re_encodes_only_around_the_cuts(tokenizer: Path, release: Path) -> None:
    """The fast path is taken: for a long file only a few words around the cuts and the ends are
    encoded again (a fall-back to encoding everything would pass the equality test above)."""
    tok = CodeTokenizer(tokenizer, "tiktoken")
    text = Path(sysconfig.get_paths()["stdlib"], "argparse.py").read_text(encoding="utf-8")
    ids = np.asarray(tok.encode([text])[0], dtype=np.int64)
    encoded: list[str] = []
    whole = tok.encode

    def counting(texts: list[str]) -> list[list[int]]:
        encoded.extend(texts)
        return whole(texts)

    tok.encode = counting  # type: ignore[method-assign]
    a, b = len(text) // 3, 2 * len(text) // 3
    assert tok.encode_split(ids, text, a, b) == tuple(whole([text[:a], text[a:b], text[b:]]))
    assert sum(map(len, encoded)) < len(text) // 50, sum(map(len, encoded))


def held_out_code() -> list[str]:
    """Code the tests' tokenizer never saw, in other languages: this machine's C headers and the
    shared language corpus (where present)."""
    from helpers import corpora_dir

    paths = sorted(Path("/usr/include").glob("*.h"))[:150]
    corpora = corpora_dir()
    if corpora is not None:
        paths += sorted(p for p in (corpora / "languages").rglob("*") if p.is_file())
    texts = []
    for path in paths:
        try:
            texts.append(path.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return texts


def test_tiktoken_and_split_encoding_hold_on_code_of_other_languages(tokenizer: Path) -> None:
    texts = held_out_code()
    if len(texts) < 20:
        pytest.skip("no C headers or language corpus on this machine")
    hf, fast = CodeTokenizer(tokenizer), CodeTokenizer(tokenizer, "tiktoken")
    encoded = hf.encode(texts)
    assert fast.encode(texts) == encoded
    rng = np.random.default_rng(5)
    for full in encoded[:200]:
        ids = np.asarray(full, dtype=np.int64)
        lo, hi = sorted(int(x) for x in rng.integers(0, len(ids) + 1, size=2))
        ids = ids[lo:hi] if hi > lo else ids
        if len(ids) == 0:
            continue
        text = fast.decode(ids)
        a, b = sorted(int(x) for x in rng.integers(0, len(text) + 1, size=2))
        assert fast.encode_split(ids, text, a, b) == tuple(fast.encode([text[:a], text[a:b], text[b:]]))
