"""``stackwright pii train-ner``: a StarPII-style NER model fine-tuned from a code encoder.

The cases are the JSONL that ``stackwright eval pii`` scores (``text`` and character-offset
``entities``). Each text is tokenized with offsets; a token that covers a character of an entity
takes ``B-`` of its class when it is the entity's first token and ``I-`` after, every other token
``O``. Texts longer than a window are cut into overlapping windows as inference cuts them
(:mod:`stackwright.curate.pii.ner`). Training is token classification (a linear head on the encoder)
with the shared loop (:mod:`stackwright.model.encoder_loop`): resumable and bounded. The model folder
is a plain ``AutoModelForTokenClassification`` folder with the encoder's tokenizer, and the held-out
cases are scored at the end with the rule of ``eval pii``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stackwright.curate.pii.evaluate import read_cases, score_predictions
from stackwright.curate.pii.ner import NER_INFO, OVERLAP, TAGS, WINDOW, load_ner, plan_windows
from stackwright.files import write_atomic
from stackwright.model.corpus import ModelDataError
from stackwright.model.encoder import ENCODER_INFO, EncoderTokens, load_tokenizer
from stackwright.model.encoder_loop import LoopConfig, LoopResult, best_device, quiet_transformers, run_loop

TAG_IDS = {tag: i for i, tag in enumerate(TAGS)}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class NerTrainConfig:
    epochs: float = 3.0
    max_steps: int | None = None  # instead of epochs
    batch_size: int = 16
    learning_rate: float | None = None  # 2e-5 (StarPII) for a base-size encoder, 3e-4 for a tiny one
    time_limit: float | None = None
    validation: float = 0.1  # share of the cases held out when no validation file is given
    eval_every: int = 200
    checkpoint_every: int = 200
    seed: int = 0


def token_tags(text: str, entities: Sequence[dict[str, Any]], offsets: Sequence[tuple[int, int]]
               ) -> list[int]:
    """The BIO tag id of each token at ``offsets`` for the ``entities`` of ``text``."""
    owner = np.full(len(text) + 1, -1, dtype=np.int64)
    labels = []
    for e in entities:
        label = str(e.get("label"))
        if f"B-{label}" not in TAG_IDS:
            continue
        owner[int(e["start"]) : int(e["end"])] = len(labels)
        labels.append(label)
    tags = []
    seen: set[int] = set()
    for start, end in offsets:
        covered = [int(o) for o in owner[start:end] if o >= 0]
        if not covered:
            tags.append(TAG_IDS["O"])
            continue
        k = covered[0]
        tags.append(TAG_IDS[("I-" if k in seen else "B-") + labels[k]])
        seen.add(k)
    return tags


def encode_cases(cases: Sequence[dict[str, Any]], tok: Any, width: int) -> list[tuple[list[int], list[int]]]:
    """(token ids, tag ids) windows of every case (at most ``width`` tokens each)."""
    out = []
    encodings = tok.encode_batch([c["text"] for c in cases], add_special_tokens=False)
    for case, encoding in zip(cases, encodings, strict=True):
        tags = token_tags(case["text"], case.get("entities") or [], encoding.offsets)
        for w in plan_windows(0, len(encoding.ids), width, min(OVERLAP, width // 2)):
            out.append((encoding.ids[w.start : w.stop], tags[w.start : w.stop]))
    return out


def split_cases(cases: list[dict[str, Any]], validation: float, seed: int
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train and validation cases: a hash of each case's id (or text), so a case stays on its side."""
    def rank(case: dict[str, Any]) -> float:
        key = f"{seed}\0{case.get('id') or case['text']}".encode("utf-8", "surrogatepass")
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") / 2**64

    train = [c for c in cases if rank(c) >= validation]
    held = [c for c in cases if rank(c) < validation]
    return train, held


@dataclass
class NerResult:
    out: Path
    info: dict[str, Any]
    loop: LoopResult


def _read(paths: Sequence[Path]) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in paths:
        cases.extend(read_cases(Path(path)))
    return cases


def _window(encoder: Path, model_config: dict[str, Any]) -> int:
    """Tokens per window: at most 512, the model's positions, and the length the encoder was pretrained
    at (positions beyond it were never trained, so windows stop there)."""
    info = encoder / ENCODER_INFO
    trained = json.loads(info.read_text(encoding="utf-8")).get("seq_len") if info.is_file() else None
    limits = (WINDOW, model_config.get("max_position_embeddings"), model_config.get("ner_window"), trained)
    return min(int(x) for x in limits if x)


def train_ner(encoder: Path, data: Sequence[Path], out: Path, config: NerTrainConfig, *,
              validation_data: Sequence[Path] = (),
              on_step: Callable[[int, int, float], None] | None = None) -> NerResult:
    """Fine-tune the encoder at ``encoder`` into a NER model at ``out`` on the cases in ``data``."""
    import torch
    from transformers import AutoModelForTokenClassification

    quiet_transformers()
    encoder = Path(encoder)
    if not (encoder / ENCODER_INFO).is_file() and not (encoder / NER_INFO).is_file():
        raise ModelDataError(f"{encoder} is not an encoder folder (train one with stackwright encoder train)")
    ids = EncoderTokens.of(encoder)
    tok = load_tokenizer(encoder)
    cases = _read(data)
    if validation_data:
        train_cases, held = cases, _read(validation_data)
    else:
        train_cases, held = split_cases(cases, config.validation, config.seed)
    if not train_cases:
        raise ModelDataError("no training cases (the data files are empty)")
    model_config = json.loads((encoder / "config.json").read_text(encoding="utf-8"))
    width = _window(encoder, model_config) - 2
    train_rows = encode_cases(train_cases, tok, width)
    held_rows = encode_cases(held, tok, width)
    hidden = int(model_config.get("hidden_size", 256))
    learning_rate = config.learning_rate or (2e-5 if hidden >= 768 else 3e-4)
    steps = config.max_steps or max(1, int(config.epochs * len(train_rows) / config.batch_size))
    loop = LoopConfig(max_steps=steps, learning_rate=learning_rate, warmup_steps=max(1, steps // 10),
                      time_limit=config.time_limit, eval_every=config.eval_every,
                      checkpoint_every=config.checkpoint_every, seed=config.seed)
    out = Path(out)
    run = out / "run"
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    device = best_device()
    model = AutoModelForTokenClassification.from_pretrained(
        str(encoder), num_labels=len(TAGS), id2label=dict(enumerate(TAGS)), label2id=TAG_IDS).to(device)
    model.config.ner_window = width + 2  # the detector's window: the length the encoder was trained at

    def tensors(rows: Sequence[tuple[list[int], list[int]]]) -> dict[str, Any]:
        longest = max(len(r[0]) for r in rows) + 2
        input_ids = np.full((len(rows), longest), ids.pad, dtype=np.int64)
        labels = np.full((len(rows), longest), -100, dtype=np.int64)
        for i, (token_ids, tags) in enumerate(rows):
            input_ids[i, : len(token_ids) + 2] = [ids.cls, *token_ids, ids.sep]
            labels[i, 1 : len(tags) + 1] = tags
        t = torch.from_numpy(input_ids).to(device)
        return {"input_ids": t, "attention_mask": (t != ids.pad).long(),
                "labels": torch.from_numpy(labels).to(device)}

    n = len(train_rows)

    def batch(step: int) -> dict[str, Any]:
        picks = []
        for k in range(step * config.batch_size, (step + 1) * config.batch_size):
            epoch, position = divmod(k, n)
            picks.append(int(np.random.default_rng([config.seed, 0x4E5, epoch]).permutation(n)[position]))
        return tensors([train_rows[i] for i in picks])

    def evaluate() -> dict[str, Any]:
        if not held_rows:
            return {}
        total, count = 0.0, 0
        for i in range(0, len(held_rows), 32):
            t = tensors(held_rows[i : i + 32])
            tokens = int((t["labels"] != -100).sum())
            total += float(model(**t).loss) * tokens
            count += tokens
        return {"validation_loss": round(total / max(1, count), 4)}

    result = run_loop(model, batch, loop, run, evaluate=evaluate, on_step=on_step)
    model.save_pretrained(str(out))
    for name in TOKENIZER_FILES:
        if (encoder / name).is_file():
            shutil.copyfile(encoder / name, out / name)
    scores = score_predictions(held, load_ner(out).predict([c["text"] for c in held])) if held else None
    info = {
        "format": "stackwright-ner",
        "tags": list(TAGS),
        "encoder": str(encoder),
        "data": [str(p) for p in data],
        "validation_data": [str(p) for p in validation_data] or None,
        "cases": {"train": len(train_cases), "validation": len(held)},
        "windows": {"train": len(train_rows), "validation": len(held_rows), "width": width + 2},
        "learning_rate": learning_rate, "batch_size": config.batch_size,
        "steps": result.steps, "finished": result.finished, "resumed_from": result.resumed_from,
        "seconds": round(result.seconds, 1), "device": result.device,
        "final_loss": result.losses[-1][1] if result.losses else None,
        "evaluations": result.evaluations,
        "validation": None if scores is None else scores["per_label"],
    }
    write_atomic(out / NER_INFO, json.dumps(info, indent=2).encode())
    return NerResult(out, info, result)
