"""Fill-in-the-middle, as StarCoder was trained (Bavarian et al. 2022; BigCode's Megatron-LM).

Pure functions of text, token ids and a random generator: no torch, no tokenizer object. A document is
split at two uniform random character positions into prefix, middle and suffix, and rearranged:

* PSM: ``<fim_prefix> prefix <fim_suffix> suffix <fim_middle> middle``
* SPM (the paper's variant 2): ``<fim_prefix> <fim_suffix> suffix <fim_middle> prefix middle``

The end-of-text token that follows every document in the packed stream ends both. At inference the
prompt is the PSM layout up to ``<fim_middle>`` and the model writes the middle. :func:`fim_ids` is the
one builder of that layout: training samples (:func:`permute_sample`) and inference prompts
(:func:`prompt_ids`, used by evaluation and serving) both call it, so they cannot drift apart.

Context-level FIM (the default, as BigCode ran it) applies to packed sequences: each document between
end-of-text tokens is, with probability ``rate``, decoded, split, re-encoded part by part, rearranged,
then trimmed (its suffix) or padded (after its suffix) with ``<fim_pad>`` back to its length, so the
sequence keeps its length. Document-level FIM (:func:`permute_text`) rearranges the text before tokenization.

Epoch-level FIM is context-level FIM drawn again at every pass over the training split, by the trainer
(:func:`epoch_rng` of the sample's position in the stream), instead of once at tokenization. Pretraining
sees a sample about once, so the two are the same there; fine-tuning passes over a small code base many
times, and with the splits fixed it learns those few rearrangements by heart instead of learning to fill
in the middle of that code. The validation split is rearranged once, at tokenization, so its loss is
comparable from one evaluation to the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from stackwright.model.tokens import EOT, FIM_MIDDLE, FIM_PAD, FIM_PREFIX, FIM_SUFFIX, SPECIAL_TOKENS

Mode = Literal["context", "document", "epoch", "off"]
Encode = Callable[[list[str]], list[list[int]]]  # texts -> token ids, special-token strings as text
Decode = Callable[[np.ndarray], str]
EncodeSplit = Callable[[np.ndarray, str, int, int], tuple[list[int], list[int], list[int]]]


@dataclass(frozen=True)
class FimConfig:
    """``rate``: share of documents rearranged; ``spm_rate``: share of those in SPM order."""

    rate: float = 0.5
    spm_rate: float = 0.5
    mode: Mode = "context"

    def __post_init__(self) -> None:
        if not (0.0 <= self.rate <= 1.0 and 0.0 <= self.spm_rate <= 1.0):
            raise ValueError("fim rate and spm rate must be between 0 and 1")
        if self.mode not in ("context", "document", "epoch", "off"):
            raise ValueError(f"unknown fim mode {self.mode!r}; use context, document, epoch or off")

    @property
    def packed(self) -> bool:
        """Whether packed sequences are rearranged (context- and epoch-level FIM)."""
        return self.mode in ("context", "epoch") and self.rate > 0.0


@dataclass(frozen=True)
class FimTokens:
    """The ids of the tokens the layout uses (ids 0..4 in a stackwright tokenizer)."""

    eot: int = SPECIAL_TOKENS.index(EOT)
    prefix: int = SPECIAL_TOKENS.index(FIM_PREFIX)
    middle: int = SPECIAL_TOKENS.index(FIM_MIDDLE)
    suffix: int = SPECIAL_TOKENS.index(FIM_SUFFIX)
    pad: int = SPECIAL_TOKENS.index(FIM_PAD)


@dataclass(frozen=True)
class FimMarks:
    """How the three FIM tokens are written in text: their strings (for a tokenizer that parses
    special tokens), or the placeholders the pipeline encodes (:mod:`stackwright.model.tokenizer`)."""

    prefix: str = FIM_PREFIX
    middle: str = FIM_MIDDLE
    suffix: str = FIM_SUFFIX


def split_points(length: int, rng: np.random.Generator) -> tuple[int, int]:
    """Two uniform random character positions in ``0..length``, in order."""
    a, b = sorted(int(x) for x in rng.integers(0, length + 1, size=2))
    return a, b


def split_text(text: str, rng: np.random.Generator) -> tuple[str, str, str]:
    """Prefix, middle and suffix of ``text`` at two random character positions."""
    a, b = split_points(len(text), rng)
    return text[:a], text[a:b], text[b:]


def fim_ids(prefix: Sequence[int], middle: Sequence[int], suffix: Sequence[int], *, spm: bool = False,
            tokens: FimTokens = FimTokens()) -> list[int]:
    """The FIM layout of three encoded parts; with an empty middle and PSM, the inference prompt."""
    if spm:
        return [tokens.prefix, tokens.suffix, *suffix, tokens.middle, *prefix, *middle]
    return [tokens.prefix, *prefix, tokens.suffix, *suffix, tokens.middle, *middle]


def prompt_ids(encode: Encode, prefix: str, suffix: str, tokens: FimTokens = FimTokens()) -> list[int]:
    """The inference prompt for filling between ``prefix`` and ``suffix``: the model continues with the
    middle and ends it with end-of-text. Built by :func:`fim_ids`, as training samples are."""
    prefix_ids, suffix_ids = encode([prefix, suffix])
    return fim_ids(prefix_ids, [], suffix_ids, tokens=tokens)


def prompt_text(prefix: str, suffix: str, marks: FimMarks = FimMarks()) -> str:
    """The inference prompt as text (for APIs that take text): it encodes to :func:`prompt_ids`."""
    return f"{marks.prefix}{prefix}{marks.suffix}{suffix}{marks.middle}"


def permute_text(text: str, rng: np.random.Generator, config: FimConfig, marks: FimMarks = FimMarks()) -> str:
    """Document-level FIM: with probability ``rate`` the text rearranged, the FIM tokens as ``marks``."""
    if rng.random() >= config.rate:
        return text
    prefix, middle, suffix = split_text(text, rng)
    if rng.random() < config.spm_rate:
        return f"{marks.prefix}{marks.suffix}{suffix}{marks.middle}{prefix}{middle}"
    return f"{marks.prefix}{prefix}{marks.suffix}{suffix}{marks.middle}{middle}"


def permute_document(ids: np.ndarray, rng: np.random.Generator, config: FimConfig, encode: Encode,
                     decode: Decode, tokens: FimTokens = FimTokens(), encode_split: EncodeSplit | None = None
                     ) -> np.ndarray:
    """One document's tokens (no end-of-text), rearranged with probability ``rate`` and kept at their
    length: the suffix is trimmed, or ``<fim_pad>`` follows it. A document too short to hold the three
    FIM tokens plus its trimmed parts is left as it is (as BigCode's implementation does).

    ``encode_split(ids, text, a, b)``, where given, must equal ``encode`` of the three parts (a
    tokenizer can compute it from ``ids`` faster: :meth:`CodeTokenizer.encode_split`)."""
    if len(ids) == 0 or rng.random() >= config.rate:
        return ids
    text = decode(ids)
    a, b = split_points(len(text), rng)
    spm = rng.random() < config.spm_rate
    if encode_split is not None:
        p, m, s = encode_split(ids, text, a, b)
    else:
        p, m, s = encode([text[:a], text[a:b], text[b:]])
    excess = len(p) + len(m) + len(s) + 3 - len(ids)
    if excess > 0:
        if len(s) <= excess:
            return ids
        s = s[: len(s) - excess]
    elif excess < 0:
        s = [*s, *([tokens.pad] * -excess)]  # as BigCode pads: after the suffix
    return np.asarray(fim_ids(p, m, s, spm=spm, tokens=tokens), dtype=ids.dtype)


def permute_sample(sample: np.ndarray, rng: np.random.Generator, config: FimConfig, encode: Encode,
                   decode: Decode, tokens: FimTokens = FimTokens(), encode_split: EncodeSplit | None = None
                   ) -> np.ndarray:
    """Context-level FIM over one packed sequence: every stretch between end-of-text tokens is a
    document (:func:`permute_document`); the result has the sample's length."""
    if not config.packed:
        return sample
    ends = np.flatnonzero(sample == tokens.eot)
    pieces: list[np.ndarray] = []
    start = 0
    for end in [*ends.tolist(), len(sample)]:
        pieces.append(permute_document(sample[start:end], rng, config, encode, decode, tokens, encode_split))
        if end < len(sample):
            pieces.append(sample[end : end + 1])
        start = end + 1
    out = np.concatenate(pieces) if pieces else sample
    assert len(out) == len(sample), "FIM changed a sample's length"
    return out


def epoch_rng(seed: int, position: int) -> np.random.Generator:
    """The draws of epoch-level FIM for the sample at ``position`` of the training stream (a new one at
    each pass over the data; the same after a resume)."""
    return np.random.default_rng([seed, 0xF1A, position])


def unpermute_text(text: str, marks: FimMarks = FimMarks()) -> tuple[str, str, str, bool] | None:
    """Prefix, middle, suffix and whether it was SPM, of a text :func:`permute_text` rearranged (None
    for a text in left-to-right order). Reordered, the three give back the original text. In SPM the
    prefix and the middle come back joined (as the middle)."""
    if not text.startswith(marks.prefix) or marks.middle not in text:
        return None
    body = text[len(marks.prefix):]
    if body.startswith(marks.suffix):  # SPM: <pre> <suf> suffix <mid> prefix middle (or PSM, prefix "")
        suffix, _, rest = body[len(marks.suffix):].partition(marks.middle)
        return "", rest, suffix, True
    prefix, _, rest = body.partition(marks.suffix)
    suffix, _, middle = rest.partition(marks.middle)
    return prefix, middle, suffix, False
