"""The NER detector: a token-classification model over code (``stackwright pii train-ner``).

A text is tokenized once with character offsets; the tokens are cut into windows of at most 512 (with
``[CLS]`` and ``[SEP]``) that overlap by :data:`OVERLAP` tokens, and each token takes its tag from the
window where it sits furthest from an edge (the windows' owned ranges tile the text). Windows of many
texts run together in batches of similar length on CPU (or the GPU there is). BIO tags are decoded
back to character spans: a ``B-`` tag or a change of class starts an entity, ``I-`` continues it (so
does a ``B-`` token touching the entity before it, or a name's next word), and the span runs from its
first token's start to its last token's end, without the whitespace byte-level tokens carry at their
edges, widened to whole words (a word's pieces tagged ``O`` at its edge belong to the entity).

The model is loaded once per process, lazily, so a build's executors each load it on first use. This
module reads a model folder with ``tokenizers`` and ``transformers`` alone (no training code).
"""

from __future__ import annotations

import functools
import json
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


def decode_tags(tags: Sequence[str], offsets: Sequence[tuple[int, int]], text: str,
                labels: frozenset[str] | None = None) -> list[Entity]:
    """Character spans of the BIO ``tags`` of the tokens at ``offsets`` in ``text``."""
    entities: list[Entity] = []
    current: tuple[str, int, int] | None = None

    def close() -> None:
        if current is None:
            return
        label, start, end = current
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        # A word is tagged whole: a piece of it tagged O between tagged pieces, or left at its edge,
        # belongs to the entity (models tag sub-word pieces less surely than word starts).
        while 0 < start < end and text[start - 1].isalnum() and text[start].isalnum():
            start -= 1
        while start < end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
            end += 1
        if end <= start or (labels is not None and label not in labels):
            return
        last = entities[-1] if entities else None
        if last is not None and last.label == label and (
                start <= last.end or _joins(text, (label, 0, last.end), start)):
            entities[-1] = Entity(last.start, max(end, last.end), label, "ner")
        else:
            entities.append(Entity(start, end, label, "ner"))

    for tag, (start, end) in zip(tags, offsets, strict=True):
        kind, _, label = tag.partition("-")
        if kind == "O" or not label:
            close()
            current = None
        elif current is None or current[0] != label or (kind == "B" and not _joins(text, current, start)):
            close()
            current = (label, start, end)
        else:
            current = (label, current[1], max(current[2], end))
    close()
    return entities


def _joins(text: str, current: tuple[str, int, int], start: int) -> bool:
    """Whether a ``B-`` token at ``start`` continues the entity before it all the same: it touches it (a
    word the tokenizer cut in pieces), or for a name, only spaces part them (a first and a last name)."""
    gap = text[current[2] : start]
    return gap == "" or (current[0] == NAME and gap.strip(" ") == "" and "\n" not in gap)


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
        self.width = min(WINDOW, int(self.model.config.max_position_embeddings)) - 2
        self.batch_size = batch_size
        self.labels = frozenset(labels) if labels is not None else None

    def predict(self, texts: Sequence[str]) -> list[list[Entity]]:
        import numpy as np
        import torch

        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        windows = [w for i, e in enumerate(encodings)
                   for w in plan_windows(i, len(e.ids), self.width, min(OVERLAP, self.width // 2))]
        tags = [np.zeros(len(e.ids), dtype=np.int64) for e in encodings]
        windows.sort(key=lambda w: w.stop - w.start)
        with torch.inference_mode():
            for b in range(0, len(windows), self.batch_size):
                chunk = windows[b : b + self.batch_size]
                longest = max(w.stop - w.start for w in chunk) + 2
                ids = np.full((len(chunk), longest), self.pad, dtype=np.int64)
                for r, w in enumerate(chunk):
                    row = encodings[w.text].ids[w.start : w.stop]
                    ids[r, : len(row) + 2] = [self.cls, *row, self.sep]
                input_ids = torch.from_numpy(ids).to(self.device)
                logits = self.model(input_ids=input_ids, attention_mask=(input_ids != self.pad).long()).logits
                best = logits.argmax(-1).cpu().numpy()
                for r, w in enumerate(chunk):
                    lo, hi = w.own_start - w.start, w.own_stop - w.start
                    tags[w.text][w.own_start : w.own_stop] = best[r, 1 + lo : 1 + hi]
        return [decode_tags([self.tags[t] for t in tags[i]], e.offsets, text, self.labels)
                for i, (e, text) in enumerate(zip(encodings, texts, strict=True))]


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
