"""The trained BPE run by tiktoken: the same ids as HF ``tokenizers``, several times faster.

tiktoken merges by the rank of the merged bytes; a byte-level BPE merges by the rank of the pair. With
ranks taken from the merge list (the 256 bytes first, then each merge's result at its position) and a
pre-tokenizer pattern that reproduces "digits one by one, then GPT-2's pattern" in one expression,
both give the same tokens. That is checked, not assumed: every ``tokenize`` task compares the two on
the start of its own files and uses ``tokenizers`` where they differ
(:func:`stackwright.model.packing.choose_engine`).

The pattern: HF splits digits off first, so whitespace before a digit ends a piece and is kept whole
(``\\s+(?=\\p{N})``), and numbers are never joined to a preceding space or to each other (``\\p{N}``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

PATTERN = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?=\p{N})|\s+(?!\S)|\s+""")


def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-ins for the 256 bytes, reversed (what byte-level BPE vocabularies use)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


class FastEncoder:
    """``encode_batch(texts) -> list of id lists``, ids as in the HF tokenizer; no special tokens."""

    def __init__(self, tokenizer_json: Path) -> None:
        import tiktoken

        data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
        model = data["model"]
        if model.get("type") != "BPE":
            raise ValueError("not a BPE tokenizer")
        vocab, to_bytes = _vocab_bytes(data)
        # tiktoken's ranks are the ids: each merge's result must rank after the merges before it.
        ranks = {}
        last = -1
        for merge in model["merges"]:
            left, right = merge if isinstance(merge, list) else merge.split(" ")
            merged = to_bytes(left) + to_bytes(right)
            if merged in ranks:
                continue
            if vocab.get(merged, -1) <= last:
                raise ValueError("the merge order is not the id order")
            ranks[merged] = last = vocab[merged]
        for b in range(256):
            if bytes([b]) not in vocab:
                raise ValueError(f"byte {b} has no token")
            ranks[bytes([b])] = vocab[bytes([b])]
        if len(ranks) != len(vocab):
            raise ValueError("a token is neither a byte nor a merge")
        self.lengths = _lengths(vocab, data)
        self.encoding = tiktoken.Encoding("stackwright", pat_str=PATTERN, mergeable_ranks=ranks,
                                          special_tokens={})

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encode = self.encoding.encode_ordinary  # one process per core: no thread pool per call
        return [encode(text) for text in texts]


@lru_cache(maxsize=4)
def fast_encoder(tokenizer_json: str) -> FastEncoder | None:
    """The tiktoken encoder of a tokenizer, or None where tiktoken is missing or cannot run it."""
    try:
        return FastEncoder(Path(tokenizer_json))
    except (ImportError, ValueError, KeyError):
        return None


def _vocab_bytes(data: dict[str, Any]) -> tuple[dict[bytes, int], Callable[[str], bytes]]:
    """The vocabulary of a ``tokenizer.json`` as token bytes -> id (added tokens left out), and the
    function that turns a token's printable stand-ins back into its bytes."""
    table = {ord(c): b for c, b in _byte_decoder().items()}  # stand-in -> byte value (as latin-1)

    def to_bytes(token: str) -> bytes:
        return token.translate(table).encode("latin-1")

    special = {t["content"] for t in data.get("added_tokens", [])}
    return {to_bytes(t): i for t, i in data["model"]["vocab"].items() if t not in special}, to_bytes


def _lengths(vocab: dict[bytes, int], data: dict[str, Any], placeholder_bytes: int = 3) -> np.ndarray:
    """The UTF-8 length of every token by id; an added (special) token counts as the placeholder
    character the pipeline writes for it."""
    top = max([*vocab.values(), *(t["id"] for t in data.get("added_tokens", []))])
    lengths = np.full(top + 1, placeholder_bytes, dtype=np.int64)
    for token_bytes, i in vocab.items():
        lengths[i] = len(token_bytes)
    return lengths


def token_byte_lengths(tokenizer_json: Path) -> np.ndarray:
    """:func:`_lengths` of a tokenizer file (for the ``tokenizers`` engine, which has no FastEncoder)."""
    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    return _lengths(_vocab_bytes(data)[0], data)
