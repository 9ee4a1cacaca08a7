"""Streaming samples from a token folder for training: shuffled, deterministic, restartable.

The shards are memory-mapped; nothing is read until a sample is. Sample ``k`` of the stream is sample
``perm_e[k mod n]`` of the split, where ``e = k div n`` is the epoch and ``perm_e`` a permutation drawn
from the seed and the epoch: a loader started at ``k`` yields exactly what an uninterrupted loader
yields from ``k`` on, which is how training resumes mid-epoch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from stackwright.model.corpus import ModelDataError
from stackwright.model.packing import FORMAT, MANIFEST, SPLITS


def read_token_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelDataError(f"{folder} is not a token folder (no {MANIFEST}; run stackwright tokenize)"
                             ) from None
    except (OSError, ValueError) as exc:
        raise ModelDataError(f"{path}: unreadable ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelDataError(f"{folder} is not a stackwright token folder")
    return manifest


class TokenSplit:
    """One split's samples, memory-mapped: ``len`` and ``split[i]`` (an array of ``seq_len`` ids)."""

    def __init__(self, folder: Path, split: str = "train") -> None:
        if split not in SPLITS:
            raise ModelDataError(f"unknown split {split!r}; use {' or '.join(SPLITS)}")
        self.manifest = read_token_manifest(folder)
        self.seq_len = int(self.manifest["seq_len"])
        self._arrays = [np.load(Path(folder) / s["path"], mmap_mode="r")
                        for s in self.manifest["splits"][split]["shards"]]
        self._starts = np.cumsum([0, *(len(a) for a in self._arrays)])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(index)
        shard = int(np.searchsorted(self._starts, index, side="right")) - 1
        return np.asarray(self._arrays[shard][index - self._starts[shard]])


class TokenLoader:
    """Batches of samples in a seeded, per-epoch shuffled order, from sample ``start`` on."""

    def __init__(self, folder: Path, split: str = "train", *, batch_size: int = 8, seed: int = 0,
                 start: int = 0, shuffle: bool = True) -> None:
        self.data = TokenSplit(folder, split)
        if len(self.data) == 0:
            raise ModelDataError(f"{folder}: the {split} split has no samples")
        self.batch_size, self.seed, self.start, self.shuffle = batch_size, seed, start, shuffle
        self._perm: tuple[int, np.ndarray] | None = None

    def order(self, k: int) -> int:
        """The split index of stream sample ``k``."""
        n = len(self.data)
        epoch, offset = divmod(k, n)
        if not self.shuffle:
            return offset
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, epoch]).permutation(n))
        return int(self._perm[1][offset])

    def samples(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(k, sample)`` from ``start`` on, endlessly (epoch after epoch)."""
        k = self.start
        while True:
            yield k, self.data[self.order(k)]
            k += 1

    def __iter__(self) -> Iterator[np.ndarray]:
        """Batches of shape (batch_size, seq_len); the stream position after each is
        ``start + batches * batch_size``."""
        stream = self.samples()
        while True:
            yield np.stack([next(stream)[1] for _ in range(self.batch_size)])
