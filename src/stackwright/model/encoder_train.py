"""``stackwright encoder train``: masked-language-model pretraining of a code encoder on a release.

The release's files are tokenized once (cached in the run folder as two token streams, train and
validation, split by repository as training splits them) with ``[SEP]`` after every file. A sample is
``[CLS]`` + a window of the stream + ``[SEP]``; windows do not overlap and are visited in a new random
order at every pass. Masking follows BERT: 15% of the text positions are chosen, of those 80% become
``[MASK]``, 10% a random token and 10% stay; the loss is on the chosen positions. Masks are drawn from
the step, so a resumed run sees the batches an uninterrupted one would. The validation loss is on a
fixed set of windows with fixed masks, comparable from one evaluation to the next.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
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
from stackwright.model.encoder import (
    ENCODER_INFO,
    ENCODER_TOKENS,
    EncoderPreset,
    EncoderTokens,
    encoder_tokenizer,
)
from stackwright.model.encoder_loop import LoopConfig, LoopResult, best_device, quiet_transformers, run_loop
from stackwright.model.tokenizer import TOKENIZER_FILE

MASK_RATE = 0.15
TOKENS = "tokens"
VALIDATION_SAMPLES = 64


@dataclass(frozen=True)
class EncoderTrainConfig:
    preset: EncoderPreset
    seq_len: int | None = None  # at most the preset's context
    batch_size: int | None = None
    max_steps: int | None = None
    learning_rate: float | None = None
    time_limit: float | None = None
    validation: float = 0.05
    eval_every: int = 100
    checkpoint_every: int = 200
    seed: int = 0

    @property
    def length(self) -> int:
        return min(self.seq_len or self.preset.context, self.preset.context)


def _streams(corpus: ReleaseCorpus, tok: Any, sep: int, validation: float, seed: int,
             on_rows: Callable[[int, int], None] | None) -> dict[str, np.ndarray]:
    held = validation_repositories(repositories(corpus), validation, seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": []}
    done = 0
    for batch in iter_texts(corpus):
        texts = [row["content"] or "" for row in batch]
        for row, encoding in zip(batch, tok.encode_batch(texts, add_special_tokens=False), strict=True):
            split = "validation" if row["repo"] in held else "train"
            parts[split].append(np.asarray([*encoding.ids, sep], dtype=np.int32))
        done += len(batch)
        if on_rows is not None:
            on_rows(done, corpus.rows)
    return {k: np.concatenate(v) if v else np.zeros(0, np.int32) for k, v in parts.items()}


def prepare_tokens(release: Path, tokenizer: Path, run: Path, config: EncoderTrainConfig,
                   on_rows: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The encoder tokenizer in ``run`` and the release's token streams (cached: a rerun reuses them)."""
    corpus = ReleaseCorpus.open(release)
    run.mkdir(parents=True, exist_ok=True)
    tokens = run / TOKENS
    key = {"release": corpus.manifest_sha256, "tokenizer": sha256_file(Path(tokenizer) / TOKENIZER_FILE),
           "validation": config.validation, "seed": config.seed}
    info_path = tokens / "tokens.json"
    if info_path.is_file() and json.loads(info_path.read_text())["key"] == key:
        return json.loads(info_path.read_text())
    shutil.rmtree(tokens, ignore_errors=True)
    tokens.mkdir()
    tok = encoder_tokenizer(Path(tokenizer), tokens / "tokenizer", config.preset.context)
    ids = EncoderTokens.of(tokens / "tokenizer")
    tok.encode_special_tokens = True
    streams = _streams(corpus, tok, ids.sep, config.validation, config.seed, on_rows)
    for split, stream in streams.items():
        np.save(tokens / f"{split}.npy", stream)
    info = {"key": key, "release": corpus.describe(), "tokens": {k: len(v) for k, v in streams.items()}}
    write_atomic(info_path, json.dumps(info, indent=2).encode())
    return info


def windows(stream: np.ndarray, width: int) -> np.ndarray:
    """The stream cut into non-overlapping windows of ``width`` (the last, shorter one dropped unless it
    is the only one, then padded by the caller)."""
    n = len(stream) // width
    if n == 0:
        return stream[None, :]
    return stream[: n * width].reshape(n, width)


def mask_tokens(rows: np.ndarray, ids: EncoderTokens, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """BERT's masking of ``rows`` (``[CLS]`` ... ``[SEP]`` with ``[PAD]``): inputs and labels (-100 where
    no loss is taken)."""
    inputs = rows.copy()
    labels = np.full_like(rows, -100)
    maskable = (rows != ids.pad) & (rows != ids.cls) & (rows != ids.sep)
    chosen = maskable & (rng.random(rows.shape) < MASK_RATE)
    labels[chosen] = rows[chosen]
    roll = rng.random(rows.shape)
    inputs[chosen & (roll < 0.8)] = ids.mask
    random_ids = rng.integers(ids.first_text_id, ids.vocab_size - len(ENCODER_TOKENS), rows.shape)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_ids[swap]
    return inputs, labels


def _frame(window_rows: np.ndarray, ids: EncoderTokens) -> np.ndarray:
    n, width = window_rows.shape
    out = np.full((n, width + 2), ids.pad, dtype=np.int64)
    out[:, 0] = ids.cls
    out[:, 1 : width + 1] = window_rows
    for i in range(n):
        real = int((window_rows[i] != ids.pad).sum())
        out[i, real + 1] = ids.sep
    return out


@dataclass
class EncoderResult:
    out: Path
    info: dict[str, Any]
    loop: LoopResult


def train_encoder(release: Path, tokenizer: Path, out: Path, config: EncoderTrainConfig, *,
                  on_rows: Callable[[int, int], None] | None = None,
                  on_step: Callable[[int, int, float], None] | None = None) -> EncoderResult:
    """Pretrain an encoder on ``release`` with masked LM; the model folder is ``out`` (a rerun of a
    stopped run resumes from its checkpoint in ``out/run``)."""
    import torch
    from transformers import BertForMaskedLM

    quiet_transformers()
    out = Path(out)
    run = out / "run"
    prepared = prepare_tokens(release, tokenizer, run, config, on_rows)
    ids = EncoderTokens.of(run / TOKENS / "tokenizer")
    width = config.length - 2
    train_rows = windows(np.load(run / TOKENS / "train.npy"), width)
    if train_rows.size == 0:
        raise ModelDataError(f"{release}: no training text outside the held-out repositories")
    val_stream = np.load(run / TOKENS / "validation.npy")
    val_rows = windows(val_stream, width)[:VALIDATION_SAMPLES] if len(val_stream) else train_rows[:0]
    preset = config.preset
    batch_size = config.batch_size or preset.batch_size
    steps = config.max_steps or preset.max_steps
    loop = LoopConfig(max_steps=steps, learning_rate=config.learning_rate or preset.learning_rate,
                      warmup_steps=min(preset.warmup_steps, max(1, steps // 10)),
                      time_limit=config.time_limit, eval_every=config.eval_every,
                      checkpoint_every=config.checkpoint_every, seed=config.seed)
    torch.manual_seed(config.seed)
    device = best_device()
    model = BertForMaskedLM(preset.model_config(ids.vocab_size, ids.pad)).to(device)

    def pad_rows(rows: np.ndarray) -> np.ndarray:
        if rows.shape[1] < width:
            rows = np.pad(rows, ((0, 0), (0, width - rows.shape[1])), constant_values=ids.pad)
        return _frame(rows, ids)

    def tensors(inputs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        return {"input_ids": torch.from_numpy(inputs).to(device),
                "attention_mask": torch.from_numpy((inputs != ids.pad).astype(np.int64)).to(device),
                "labels": torch.from_numpy(labels).to(device)}

    n = len(train_rows)

    def batch(step: int) -> dict[str, Any]:
        picks = []
        for k in range(step * batch_size, (step + 1) * batch_size):
            epoch, position = divmod(k, n)
            order = np.random.default_rng([config.seed, 0xE9C, epoch]).permutation(n)
            picks.append(order[position])
        rows = pad_rows(train_rows[picks])
        return tensors(*mask_tokens(rows, ids, np.random.default_rng([config.seed, 0x3A5C, step])))

    def evaluate() -> dict[str, Any]:
        if len(val_rows) == 0:
            return {}
        inputs, labels = mask_tokens(pad_rows(val_rows), ids, np.random.default_rng([config.seed, 0x7A1]))
        losses, correct, total = [], 0, 0
        for i in range(0, len(inputs), 16):
            t = tensors(inputs[i : i + 16], labels[i : i + 16])
            output = model(**t)
            chosen = t["labels"] != -100
            losses.append(float(output.loss) * int(chosen.sum()))
            correct += int((output.logits.argmax(-1)[chosen] == t["labels"][chosen]).sum())
            total += int(chosen.sum())
        return {"validation_loss": round(sum(losses) / max(1, total), 4),
                "masked_accuracy": round(correct / max(1, total), 4)}

    started = time.time()
    result = run_loop(model, batch, loop, run, evaluate=evaluate, on_step=on_step)
    info = {
        "format": "stackwright-encoder",
        "objective": "masked language modelling (BERT masking, 15%); no next-sentence prediction",
        "preset": preset.to_json(),
        "seq_len": config.length,
        "batch_size": batch_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "release": prepared["release"],
        "tokens": prepared["tokens"],
        "steps": result.steps,
        "finished": result.finished,
        "resumed_from": result.resumed_from,
        "seconds": round(result.seconds, 1),
        "tokens_per_second": round(result.steps * batch_size * config.length / max(result.seconds, 1e-9), 1)
        if result.steps else None,
        "device": result.device,
        "final_loss": result.losses[-1][1] if result.losses else None,
        "evaluations": result.evaluations,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started + result.seconds)),
    }
    save_encoder(model, run / TOKENS / "tokenizer", out, info)
    return EncoderResult(out, info, result)


def save_encoder(model: Any, tokenizer: Path, out: Path, info: dict[str, Any]) -> None:
    """The model folder: weights and config (``save_pretrained``), tokenizer files, ``encoder.json``."""
    model.save_pretrained(str(out))
    for path in Path(tokenizer).iterdir():
        if path.is_file():
            shutil.copyfile(path, out / path.name)
    write_atomic(out / ENCODER_INFO, json.dumps(info, indent=2).encode())
