"""Perplexity of a model on a token folder: the mean next-token loss, its exponential, and bits per byte.

The loss is the one the training loop reports as its validation loss
(:func:`stackwright.model.loss.causal_lm_loss`): every packed sequence whole, as ``tokenize`` wrote it
(documents joined by end-of-text, FIM-rearranged where the data has FIM, the last sequence padded with
end-of-text), every position predicting the next. With ``max_sequences`` the sequences are the evenly
spread subset training evaluates on (:func:`stackwright.model.train.validation_indices`), so the same
count gives the run's validation loss again (up to the precision it trained in; this runs in fp32).

Bits per byte divides the same total loss, in bits, by the UTF-8 bytes of the predicted tokens (from
the tokenizer's token byte lengths); special tokens (end-of-text, the FIM marks, padding) stand for no
text and count no bytes. Unlike perplexity it compares models with different tokenizers.

Token data made with another tokenizer than the model's is refused: the token manifest records the
tokenizer's sha256, compared with the model folder's ``tokenizer.json`` as training compares it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackwright.model.corpus import ModelDataError
from stackwright.model.loader import TokenSplit, read_token_manifest
from stackwright.model.runs import model_folder
from stackwright.model.tokenizer import TOKENIZER_FILE, CodeTokenizer
from stackwright.model.tokens import SPECIAL_TOKENS

DEFAULT_BATCH = 8


def check_tokenizer(model: Path, data: Path) -> dict[str, Any]:
    """The token manifest of ``data`` when its tokenizer is the model's (by sha256 of
    ``tokenizer.json``); a one-line ModelDataError otherwise. Loads no model."""
    folder = model_folder(model)
    manifest = read_token_manifest(data)
    tokenizer = CodeTokenizer(folder)
    recorded = manifest.get("tokenizer", {}).get("sha256")
    if tokenizer.sha256 != recorded:
        raise ModelDataError(f"{data} was tokenized with another tokenizer than the model's in {folder} "
                             f"(tokenizer sha256 {str(recorded)[:12]}... there, {tokenizer.sha256[:12]}... "
                             "in the model); tokenize the release with the model's tokenizer")
    return manifest


def byte_lengths(model: Path) -> Any:
    """UTF-8 bytes of every token id of the model's tokenizer, special tokens 0."""
    from stackwright.model.fast_encoder import token_byte_lengths

    lengths = token_byte_lengths(model_folder(model) / TOKENIZER_FILE).copy()
    lengths[: len(SPECIAL_TOKENS)] = 0
    return lengths


def load_quietly(model: Path, device: str | None = None) -> Any:
    """:func:`stackwright.model.generate.load_model` without transformers' progress bar on stderr."""
    from transformers.utils import logging as hf_logging

    from stackwright.model.generate import load_model

    hf_logging.disable_progress_bar()
    return load_model(model, device=device)


def perplexity(model: Path, data: Path, *, split: str = "validation", max_sequences: int | None = None,
               batch_size: int = DEFAULT_BATCH, device: str | None = None,
               on_batch: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Mean next-token loss (nats), perplexity and bits per byte of ``model`` on the ``split`` of
    the token folder ``data`` (see the module)."""
    import numpy as np
    import torch

    from stackwright.model.loss import causal_lm_loss
    from stackwright.model.train import validation_indices

    if batch_size < 1:
        raise ModelDataError("--batch-size must be at least 1")
    if max_sequences is not None and max_sequences < 1:
        raise ModelDataError("--max-sequences must be at least 1")
    manifest = check_tokenizer(model, data)
    sequences = TokenSplit(data, split)
    if len(sequences) == 0:
        raise ModelDataError(f"{data}: the {split} split has no sequences")
    indices = (list(range(len(sequences))) if max_sequences is None or max_sequences >= len(sequences)
               else validation_indices(sequences, max_sequences))
    started = time.perf_counter()
    loaded = load_quietly(model, device=device)
    if sequences.seq_len > loaded.context:
        raise ModelDataError(f"{data} holds {sequences.seq_len}-token sequences, longer than the model's "
                             f"context of {loaded.context}")
    lengths = byte_lengths(model)
    target = next(loaded.model.parameters()).device
    total_loss, total_tokens, total_bytes = 0.0, 0, 0
    if on_batch is not None:
        on_batch(0, len(indices))
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            rows = np.stack([sequences[i] for i in indices[start:start + batch_size]]).astype(np.int64)
            ids = torch.from_numpy(rows).to(target)
            predicted = rows.shape[0] * (rows.shape[1] - 1)
            total_loss += float(causal_lm_loss(loaded.model, ids)) * predicted
            total_tokens += predicted
            total_bytes += int(lengths[rows[:, 1:]].sum())
            if on_batch is not None:
                on_batch(min(start + batch_size, len(indices)), len(indices))
    loss = total_loss / total_tokens
    return {
        "model": str(loaded.folder),
        "data": str(data),
        "split": split,
        "release": manifest.get("release", {}).get("manifest_sha256"),
        "seq_len": sequences.seq_len,
        "sequences": len(indices),
        "of_sequences": len(sequences),
        "tokens": total_tokens,
        "loss": loss,
        "perplexity": math.exp(loss) if loss < 700 else None,  # beyond a float: no number
        "bytes": total_bytes,
        "bits_per_byte": total_loss / math.log(2) / total_bytes if total_bytes else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
