"""The NER detector: a token-classification model over code (``stackwright pii train-ner``).

A text is tokenized once with character offsets; the tokens are cut into windows of at most 512 (with
``[CLS]`` and ``[SEP]``) that overlap by :data:`OVERLAP` tokens, and each token takes its tag from the
window where it sits furthest from an edge (the windows' owned ranges tile the text). Windows of many
texts run together in batches of similar length on CPU (or the GPU there is). The tag probabilities
are decoded back to character spans by words (:func:`decode_scores`): each word takes the class with
the highest mean probability over its tokens, which is steadier than tagging token by token (a small
model tags the pieces of one word differently: a digit of an address, a piece of a password), and
words of one class join across ``@ : /`` and, for names, single spaces.

The model is loaded once per process, lazily, so a build's executors each load it on first use. This
module reads a model folder with ``tokenizers`` and ``transformers`` alone (no training code).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.curate.pii.entities import EMAIL, IP_ADDRESS, KEY, NAME, PASSWORD, USERNAME, Entity
from stackwright.errors import StackwrightError

NER_LABELS = (NAME, EMAIL, KEY, PASSWORD, IP_ADDRESS, USERNAME)
TAGS: tuple[str, ...] = ("O", *(f"{p}-{label}" for label in NER_LABELS for p in "BI"))
WINDOW = 512
OVERLAP = 128
NER_INFO = "ner.json"


class NerModelError(StackwrightError, ValueError):
    """A folder that is not a NER model."""


@dataclass(frozen=True)
class Window:
    text: int  # index of the text
    start: int  # first token of the window in the text's tokens
    stop: int
    own_start: int  # the tokens this window's tags are taken for
    own_stop: int


@dataclass
class Batch:
    windows: list[Window]
    input_ids: Any  # numpy (rows, longest) int64: [CLS] tokens [SEP], then [PAD]
    attention_mask: Any


@dataclass
class Prepared:
    texts: list[str]
    encodings: list[Any]  # tokenizers.Encoding
    batches: list[Batch]


def plan_windows(text: int, length: int, width: int, overlap: int) -> list[Window]:
    """Windows of ``width`` tokens over ``length`` tokens, overlapping by ``overlap``; their owned
    ranges tile ``0..length``."""
    if length <= width:
        return [Window(text, 0, length, 0, length)]
    step = width - overlap
    starts = [*range(0, length - width, step), length - width]
    out = []
    for k, s in enumerate(starts):
        own_start = 0 if k == 0 else out[-1].own_stop
        own_stop = length if k == len(starts) - 1 else min(s + width, starts[k + 1] + overlap // 2)
        out.append(Window(text, s, s + width, own_start, own_stop))
    return out


# A word for the tagger: a run of characters between whitespace and the delimiters of code (quotes,
# brackets, separators), and also cut at ``@ : /`` so that a login, a password and a host in a URL are
# words of their own. A word takes one label; words of one label that only ``@ : /`` or ``\\`` part
# are one entity (an email, an IPv6 address, a key with slashes).
_WORD = re.compile(r"""[^\s"'`,;()\[\]{}<>=|@:/\\]+""")
_BRIDGE = frozenset("@:/\\")


def decode_scores(scores: Any, offsets: Sequence[tuple[int, int]], text: str, tags: Sequence[str],
                  labels: frozenset[str] | None = None) -> list[Entity]:
    """Character spans from per-token tag probabilities (``scores``: tokens x tags): each word of
    ``text`` takes the class with the highest mean probability over its tokens (``B-`` and ``I-``
    summed), and words of one class join into an entity across ``@ : /`` (and a name's words across
    single spaces, when the next word reads as a continuation: its mean ``I-`` above its ``B-``)."""
    import numpy as np

    classes = sorted({t.partition("-")[2] for t in tags if t != "O"})
    begin = np.array([[t == f"B-{c}" for t in tags] for c in classes], dtype=np.float32).T
    inside = np.array([[t == f"I-{c}" for t in tags] for c in classes], dtype=np.float32).T
    scores = np.asarray(scores, dtype=np.float32)
    owner = np.full(len(text), -1, dtype=np.int64)
    for k, (start, end) in enumerate(offsets):
        span = owner[start:end]
        span[span < 0] = k  # a character's first token (byte-level tokens may share an edge)
    entities: list[Entity] = []
    prev: tuple[str, int, int] | None = None  # label, start, end of the last word with a class
    for match in _WORD.finditer(text):
        start, end = match.span()
        toks = np.unique(owner[start:end])
        toks = toks[toks >= 0]
        if not len(toks):
            prev = None
            continue
        mean = scores[toks].mean(axis=0)
        b, i = mean @ begin, mean @ inside
        best = int(np.argmax(b + i))
        if b[best] + i[best] <= mean[tags.index("O")]:
            prev = None
            continue
        label = classes[best]
        gap = text[prev[2] : start] if prev else None
        joined = prev is not None and prev[0] == label and gap is not None and (
            (gap != "" and set(gap) <= _BRIDGE)
            or (label == NAME and gap.strip(" ") == "" and len(gap) <= 2 and i[best] > b[best]))
        if joined and entities and entities[-1].end == prev[2]:
            entities[-1] = Entity(entities[-1].start, end, label, "ner")
        else:
            entities.append(Entity(start, end, label, "ner"))
        prev = (label, start, end)
    return [e for e in entities if labels is None or e.label in labels]


class NerModel:
    """A loaded NER model folder: ``predict(texts)`` gives the entities of each text."""

    def __init__(self, folder: Path, *, batch_size: int = 16, labels: Sequence[str] | None = None) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModelForTokenClassification
        from transformers.utils import logging as hf_logging

        folder = Path(folder)
        if not (folder / "config.json").is_file() or not (folder / "tokenizer.json").is_file():
            raise NerModelError(f"{folder} is not a NER model folder (train one with stackwright pii "
                                "train-ner)")
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        id2label = {int(k): v for k, v in (config.get("id2label") or {}).items()}
        if not id2label or any(v not in TAGS for v in id2label.values()):
            raise NerModelError(f"{folder}: its labels are not the BIO tags of {', '.join(NER_LABELS)}")
        self.tags = [id2label[i] for i in range(len(id2label))]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.encode_special_tokens = True  # "[MASK]" or "<fim_prefix>" in a file is text
        self.cls = self.tokenizer.token_to_id("[CLS]")
        self.sep = self.tokenizer.token_to_id("[SEP]")
        self.pad = self.tokenizer.token_to_id("[PAD]")
        if None in (self.cls, self.sep, self.pad):
            raise NerModelError(f"{folder}: its tokenizer has no [CLS], [SEP] or [PAD]")
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForTokenClassification.from_pretrained(str(folder)).to(self.device).eval()
        cfg = self.model.config
        limits = (WINDOW, cfg.max_position_embeddings, getattr(cfg, "ner_window", 0))
        self.width = min(int(x) for x in limits if x) - 2
        self.batch_size = batch_size
        self.labels = frozenset(labels) if labels is not None else None

    def prepare(self, texts: Sequence[str]) -> Prepared:
        """The texts tokenized, cut into windows and padded into batches of similar length."""
        import numpy as np

        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        windows = [w for i, e in enumerate(encodings)
                   for w in plan_windows(i, len(e.ids), self.width, min(OVERLAP, self.width // 2))]
        windows.sort(key=lambda w: w.stop - w.start)
        prep = Prepared(list(texts), encodings, [])
        for b in range(0, len(windows), self.batch_size):
            chunk = windows[b : b + self.batch_size]
            longest = max(w.stop - w.start for w in chunk) + 2
            ids = np.full((len(chunk), longest), self.pad, dtype=np.int64)
            for r, w in enumerate(chunk):
                row = encodings[w.text].ids[w.start : w.stop]
                ids[r, : len(row) + 2] = [self.cls, *row, self.sep]
            prep.batches.append(Batch(chunk, ids, (ids != self.pad).astype(np.int64)))
        return prep

    def token_scores(self, prep: Prepared, probs: Sequence[Any]) -> list[Any]:
        """Each text's tokens' tag probabilities, from the batches' (rows x positions x tags) ``probs``:
        a token's from the window that owns it."""
        import numpy as np

        scores = [np.zeros((len(e.ids), len(self.tags)), dtype=np.float32) for e in prep.encodings]
        for batch, p in zip(prep.batches, probs, strict=True):
            for r, w in enumerate(batch.windows):
                lo, hi = w.own_start - w.start, w.own_stop - w.start
                scores[w.text][w.own_start : w.own_stop] = p[r, 1 + lo : 1 + hi]
        return scores

    def decode(self, prep: Prepared, scores: Sequence[Any]) -> list[list[Entity]]:
        return [decode_scores(scores[i], e.offsets, text, self.tags, self.labels)
                for i, (e, text) in enumerate(zip(prep.encodings, prep.texts, strict=True))]

    def predict(self, texts: Sequence[str]) -> list[list[Entity]]:
        import torch

        prep = self.prepare(texts)
        probs = []
        with torch.inference_mode():
            for batch in prep.batches:
                input_ids = torch.from_numpy(batch.input_ids).to(self.device)
                mask = torch.from_numpy(batch.attention_mask).to(self.device)
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
                probs.append(logits.float().softmax(-1).cpu().numpy())
        return self.decode(prep, self.token_scores(prep, probs))


@functools.lru_cache(maxsize=4)
def _load(folder: str, mtime: float, batch_size: int, labels: tuple[str, ...]) -> NerModel:
    return NerModel(Path(folder), batch_size=batch_size, labels=labels)


def load_ner(folder: Path, *, batch_size: int = 16, labels: Sequence[str] = NER_LABELS) -> NerModel:
    """The model in ``folder``, loaded once per process (again when its weights change)."""
    folder = Path(folder).resolve()
    weights = [p for p in folder.glob("*.safetensors")] or [folder / "config.json"]
    mtime = max((p.stat().st_mtime for p in weights if p.exists()), default=0.0)
    return _load(str(folder), mtime, batch_size, tuple(labels))


def ner_info(folder: Path) -> dict[str, Any]:
    path = Path(folder) / NER_INFO
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
