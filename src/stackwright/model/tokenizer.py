"""The code tokenizer: byte-level BPE with StarCoder's special tokens, trained on a release.

Training uses Hugging Face ``tokenizers``: digits are split individually, then GPT-2's byte-level
pre-tokenizer applies; the 19 special tokens take ids 0..18 in StarCoder's order. The folder is saved
by ``transformers`` so that ``AutoTokenizer.from_pretrained(DIR)`` loads it as it is.

Inside the model stages text carries special tokens as placeholder characters, never as their
strings: a file that contains ``<fim_prefix>`` literally (this project's own source does) is encoded
as the text it is, and only the tokens the pipeline places (metadata, FIM) are special. The
placeholders are Unicode noncharacters (U+FDD0 + id), which text interchange does not use.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stackwright.files import sha256_file, write_atomic
from stackwright.model.corpus import (
    ModelDataError,
    ReleaseCorpus,
    iter_texts,
    repositories,
    validation_repositories,
)
from stackwright.model.tokens import EOT, SPECIAL_TOKENS

TOKENIZER_FILE = "tokenizer.json"
INFO_FILE = "stackwright-tokenizer.json"
DEFAULT_VOCAB = 49152
HELD_OUT = 0.02  # share of repositories held out to measure bytes per token
HELD_OUT_MAX_BYTES = 20_000_000
SPECIAL_BASE = 0xFDD0
# Where a word ends and plain whitespace begins: always a pre-tokenizer piece boundary (see encode_split).
_ANCHOR = re.compile(r"(?<=\S)(?=[ \t\n\r])")
_PLACEHOLDER = re.compile(f"[{chr(SPECIAL_BASE)}-{chr(SPECIAL_BASE + len(SPECIAL_TOKENS) - 1)}]")


def special(token: str) -> str:
    """The placeholder character of a special token, for text that the pipeline encodes."""
    return chr(SPECIAL_BASE + SPECIAL_TOKENS.index(token))


def visible(text: str) -> str:
    """``text`` with special-token placeholders shown as the tokens' names (for people to read)."""
    return _PLACEHOLDER.sub(lambda m: SPECIAL_TOKENS[ord(m.group()) - SPECIAL_BASE], text)


def _quiet_transformers() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class _NotAligned(Exception):
    """No token boundary where an anchor is: ids that are not this text's encoding."""


class CodeTokenizer:
    """A trained tokenizer for the pipeline: batch encoding with placeholders, decoding back to them."""

    def __init__(self, folder: Path, engine: str = "tokenizers") -> None:
        """``engine``: ``tokenizers`` (HF), or ``tiktoken`` for the same ids faster (see
        :mod:`stackwright.model.fast_encoder`; checked by the caller on its text)."""
        from tokenizers import Tokenizer

        folder = Path(folder)
        path = folder / TOKENIZER_FILE
        if not path.is_file():
            raise ModelDataError(f"{folder} is not a tokenizer folder (no {TOKENIZER_FILE})")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises its own Exception types
            raise ModelDataError(f"{path}: not a tokenizer ({str(exc).splitlines()[0][:120]})") from None
        for i, token in enumerate(SPECIAL_TOKENS):
            if tok.token_to_id(token) != i:
                raise ModelDataError(f"{folder}: not a stackwright tokenizer ({token} is not token {i}; "
                                     "train one with stackwright tokenizer train)")
        tok.encode_special_tokens = True  # special strings in files are text
        self.folder = folder
        self.tokenizer = tok
        self.sha256 = sha256_file(path)
        self.vocab_size = tok.get_vocab_size()
        self._lengths: np.ndarray | None = None
        self.engine = "tokenizers"
        self._plain = lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
        self._decode_plain = lambda ids: tok.decode(ids, skip_special_tokens=False)
        if engine == "tiktoken":
            from stackwright.model.fast_encoder import fast_encoder

            fast = fast_encoder(str(path))
            if fast is not None:
                self.engine, self._plain = "tiktoken", fast.encode_batch
                self._lengths = fast.lengths
                self._decode_plain = lambda ids: fast.encoding.decode(ids, errors="replace")

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text; placeholder characters become their special tokens."""
        if not any(_PLACEHOLDER.search(t) for t in texts):
            return self._plain(texts)
        pieces: list[str] = []
        plans: list[list[int | None]] = []
        for text in texts:
            plan: list[int | None] = []
            start = 0
            for match in _PLACEHOLDER.finditer(text):
                if match.start() > start:
                    pieces.append(text[start : match.start()])
                    plan.append(None)
                plan.append(ord(match.group()) - SPECIAL_BASE)
                start = match.end()
            if start < len(text):
                pieces.append(text[start:])
                plan.append(None)
            plans.append(plan)
        encoded = iter(self._plain(pieces))
        out = []
        for plan in plans:
            ids: list[int] = []
            for item in plan:
                ids.extend(next(encoded) if item is None else (item,))
            out.append(ids)
        return out

    def encode_split(self, ids: np.ndarray, text: str, a: int, b: int
                     ) -> tuple[list[int], list[int], list[int]]:
        """``encode([text[:a], text[a:b], text[b:]])`` for ``text = decode(ids)``, re-encoding only the
        lines around the cuts and the two ends and taking the rest from ``ids``: the same result.

        Why it is the same: between a non-space character and a space, tab or line break, every
        pre-tokenizer piece ends and a new one begins, in any text that holds the two (no pattern of
        GPT-2's, nor the digit split, runs from a non-space into following whitespace, and how a
        non-space run is cut does not depend on what follows it), and BPE never merges across pieces.
        So the tokens between two such anchors are the same alone as in the whole; the ends are
        re-encoded because a packed stretch may start or stop inside a piece.
        """
        if self._lengths is None:
            from stackwright.model.fast_encoder import token_byte_lengths

            self._lengths = token_byte_lengths(self.folder / TOKENIZER_FILE)
        ends = np.cumsum(self._lengths[ids])
        if int(ends[-1]) != len(text.encode("utf-8", "surrogatepass")):  # a character cut at an end
            return tuple(self.encode([text[:a], text[a:b], text[b:]]))  # type: ignore[return-value]

        def token_at(char: int) -> int:
            """The index of the token that starts at an anchor (one always does)."""
            offset = len(text[:char].encode("utf-8", "surrogatepass"))
            j = int(np.searchsorted(ends, offset, side="right"))
            if j == 0 or int(ends[j - 1]) != offset:
                raise _NotAligned
            return j

        def last_anchor(lo: int, hi: int) -> int | None:
            for window in (256, 8192, hi - lo):
                found = None
                for match in _ANCHOR.finditer(text, max(lo, hi - window), hi):
                    found = match.start()
                if found is not None or window >= hi - lo:
                    return found
            return None

        def piece(lo: int, hi: int) -> list[int]:
            """Tokens of text[lo:hi]: re-encoded up to the first anchor inside and after the last,
            taken from ``ids`` between them."""
            match = _ANCHOR.search(text, lo + 1, hi)
            last = last_anchor(lo + 1, hi)
            if match is None or last is None or last <= match.start():
                return self.encode([text[lo:hi]])[0]
            first = match.start()
            head, tail = self.encode([text[lo:first], text[last:hi]])
            return [*head, *ids[token_at(first) : token_at(last)].tolist(), *tail]

        try:
            return piece(0, a), piece(a, b), piece(b, len(text))
        except _NotAligned:
            return tuple(self.encode([text[:a], text[a:b], text[b:]]))  # type: ignore[return-value]

    def decode(self, ids: list[int] | np.ndarray) -> str:
        """The text of ``ids`` with special tokens as placeholders (inverse of :meth:`encode` on
        whole characters; a character cut at either end decodes to U+FFFD, as in HF)."""
        ids = np.asarray(ids, dtype=np.int64)
        specials = np.flatnonzero(ids < len(SPECIAL_TOKENS))
        if len(specials) == 0:
            return self._decode_plain(ids.tolist())
        out: list[str] = []
        start = 0
        for at in specials.tolist():
            if at > start:
                out.append(self._decode_plain(ids[start:at].tolist()))
            out.append(chr(SPECIAL_BASE + int(ids[at])))
            start = at + 1
        if start < len(ids):
            out.append(self._decode_plain(ids[start:].tolist()))
        return "".join(out)


# ---------------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class TokenizerResult:
    out: Path
    info: dict[str, Any]


def new_bpe(vocab_size: int) -> tuple[Any, Any]:
    """An untrained byte-level BPE with StarCoder's pre-tokenization, and its trainer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    return tok, trainer


def _training_texts(corpus: ReleaseCorpus, held_out: frozenset[str], max_bytes: int | None,
                    on_bytes: Callable[[int], None], held: list[str]) -> Iterator[str]:
    seen = held_bytes = 0
    for batch in iter_texts(corpus):
        for row in batch:
            text = row["content"] or ""
            size = len(text.encode("utf-8", "surrogatepass"))
            if row["repo"] in held_out:
                if held_bytes < HELD_OUT_MAX_BYTES:
                    held.append(text)
                    held_bytes += size
                continue
            if max_bytes is not None and seen >= max_bytes:
                continue
            seen += size
            on_bytes(size)
            yield text


def save_tokenizer(tok: Any, out: Path, model_max_length: int = 8192) -> None:
    """Save as a ``transformers`` fast tokenizer folder (what AutoTokenizer loads)."""
    _quiet_transformers()
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOT, eos_token=EOT, unk_token=EOT,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]), model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
    fast.save_pretrained(str(out))


def bytes_per_token(encode: Callable[[list[str]], list[list[int]]], texts: Iterable[str]) -> float | None:
    texts = list(texts)
    tokens = sum(len(ids) for ids in encode(texts))
    size = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    return round(size / tokens, 4) if tokens else None


def train_tokenizer(release: Path, out: Path, *, vocab_size: int = DEFAULT_VOCAB,
                    max_bytes: int | None = None, progress: Callable[[int, int], None] | None = None,
                    seed: int = 0) -> TokenizerResult:
    """Train on the release's files (all of them, or the first ``max_bytes``), holding out
    :data:`HELD_OUT` of its repositories to measure bytes per token; write the folder ``out``."""
    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ModelDataError(f"--vocab-size must be at least {256 + len(SPECIAL_TOKENS)} (the bytes and the "
                             "special tokens)")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ModelDataError(f"{out} exists and is not empty; a tokenizer is never overwritten")
    corpus = ReleaseCorpus.open(release)
    held_out = validation_repositories(repositories(corpus), HELD_OUT, seed)
    total = min(max_bytes or corpus.content_bytes, corpus.content_bytes)
    done = [0]

    def on_bytes(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(min(done[0], total), total)

    started = time.perf_counter()
    held: list[str] = []
    tok, trainer = new_bpe(vocab_size)
    tok.train_from_iterator(_training_texts(corpus, held_out, max_bytes, on_bytes, held), trainer=trainer)
    seconds = time.perf_counter() - started
    if done[0] == 0:
        raise ModelDataError(f"{release}: no text to train on outside the held-out repositories")
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_tokenizer(tok, tmp)
    trained = CodeTokenizer(tmp)
    info = {
        "format": "stackwright-tokenizer",
        "release": corpus.describe(),
        "vocab_size": trained.vocab_size,
        "vocab_size_asked": vocab_size,
        "special_tokens": list(SPECIAL_TOKENS),
        "pre_tokenizer": "digits split individually, then GPT-2 byte-level",
        "training_bytes": done[0],
        "max_bytes": max_bytes,
        "seconds": round(seconds, 2),
        "held_out": {"repositories": len(held_out), "files": len(held),
                     "bytes_per_token": bytes_per_token(trained.encode, held)},
        "tokenizer_sha256": trained.sha256,
    }
    write_atomic(tmp / INFO_FILE, json.dumps(info, indent=2).encode())
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
    return TokenizerResult(out, info)
