"""LSH banding: the bands x rows that best fit a Jaccard threshold, and band hashes of signatures."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stackwright.dedup.minhash import EMPTY, _mix

_P = np.uint64(0x100000001B3)


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising the weighted areas of false positives
    (pairs below the threshold that share a band) and false negatives (pairs above it that do not),
    as datasketch's MinHashLSH chooses them."""
    s = np.linspace(0.0, 1.0, 2001)
    below = s <= threshold
    best: tuple[float, int, int] | None = None
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1.0 - (1.0 - s**r) ** b
            fp = np.trapezoid(p[below], s[below])
            fn = np.trapezoid(1.0 - p[~below], s[~below])
            error = fp_weight * fp + (1.0 - fp_weight) * fn
            if best is None or error < best[0]:
                best = (error, b, r)
    assert best is not None
    return best[1], best[2]


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """A ``(n, bands)`` uint64 matrix: each band's ``rows`` values hashed together."""
    n = signatures.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    values = signatures.astype(np.uint64)
    for band in range(bands):
        h = np.full(n, np.uint64(band + 1), dtype=np.uint64)
        for col in range(band * rows, (band + 1) * rows):
            h = h * _P + values[:, col]
        out[:, band] = _mix(h)
    return out


def has_signature(signatures: np.ndarray) -> np.ndarray:
    """Files with at least one shingle (the others take no part in near deduplication)."""
    if signatures.shape[1] == 0:
        return np.zeros(signatures.shape[0], dtype=bool)
    return signatures[:, 0] != EMPTY
