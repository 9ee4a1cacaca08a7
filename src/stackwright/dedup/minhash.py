"""Vectorised MinHash signatures over word n-grams, for a whole batch of files at once.

Tokens are runs of ``[A-Za-z_0-9]`` (everything else, including every non-ASCII character, splits
them, as ``re.split(r"[^A-Za-z_0-9]", text)`` does), shingles are word n-grams, and a file's
signature holds, for each of ``num_perm`` hash functions, the minimum over its shingles.

Nothing loops over files or tokens in Python. A batch of texts is joined into one byte buffer;
word bytes are found with a lookup table, token hashes come from prefix sums of a polynomial hash
(two cumulative products give the powers), n-gram hashes combine neighbouring token hashes, and
each hash function is one multiply-add over all shingles of the batch followed by a segmented
minimum (``np.minimum.reduceat``). The hash functions are multiply-shift hashes on 64-bit shingle
hashes, whose top 32 bits form the signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

EMPTY = np.uint32(0xFFFFFFFF)  # the signature value of a file with no shingle
_WORD = np.zeros(256, dtype=bool)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_":
    _WORD[_c] = True

_P = np.uint64(0x100000001B3)  # FNV prime: odd, so invertible modulo 2**64
_P_INV = np.uint64(pow(int(_P), -1, 2**64))
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MAX_BATCH_BYTES = 4 << 20  # bytes hashed per vectorised pass (bounds the prefix-sum arrays)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the whole 64-bit value."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Odd multipliers and offsets of the ``num_perm`` multiply-shift hash functions."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def shingle_hashes(texts: Sequence[str], ngram: int, min_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every word n-gram of each text, concatenated, and each text's offset into them.

    Texts with fewer than ``max(ngram, min_tokens)`` tokens get no shingles.
    Returns ``(hashes, offsets)`` with ``offsets`` of length ``len(texts) + 1``.
    """
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    bounds = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=bounds[1:])
    hashes, offsets, _ = buffer_shingle_hashes(np.frombuffer(b"".join(encoded), dtype=np.uint8), bounds,
                                               ngram, min_tokens)
    return hashes, offsets


def arrow_shingle_hashes(column: Any, ngram: int, min_tokens: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`buffer_shingle_hashes` straight from an Arrow string array's buffers (no Python strings)."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_large_string(array.type):
        width = np.int64
    elif pa.types.is_string(array.type):
        width = np.int32
    else:
        raise TypeError(f"expected a string column, got {array.type}")
    _, offsets_buf, data_buf = array.buffers()
    bounds = np.frombuffer(offsets_buf, dtype=width)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    return buffer_shingle_hashes(data, bounds.astype(np.int64), ngram, min_tokens)


def buffer_shingle_hashes(data: np.ndarray, bounds: np.ndarray, ngram: int, min_tokens: int
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shingle hashes of texts stored back to back in ``data`` (text ``i`` is
    ``data[bounds[i]:bounds[i + 1]]``, UTF-8), their offsets, and a 64-bit hash of each text's bytes
    (for exact deduplication). Works in slices of about 4 MB."""
    n = bounds.size - 1
    parts: list[np.ndarray] = []
    counts = np.zeros(n, dtype=np.int64)
    digests = np.zeros(n, dtype=np.uint64)
    start = 0
    while start < n:
        # The largest run of texts within the batch size (at least one text).
        limit = bounds[start] + _MAX_BATCH_BYTES
        end = max(start + 1, int(np.searchsorted(bounds, limit, side="right")) - 1)
        end = min(end, n)
        lo, hi = int(bounds[start]), int(bounds[end])
        hashes, per_text, text_digests = _batch_shingles(data[lo:hi], bounds[start:end + 1] - lo, ngram,
                                                         min_tokens)
        parts.append(hashes)
        counts[start:end] = per_text
        digests[start:end] = text_digests
        start = end
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return (np.concatenate(parts) if parts else np.empty(0, np.uint64)), offsets, digests


_WORKSPACE: list[np.ndarray] = []


def _workspace(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Powers of P and of its inverse, and a prefix-sum buffer, of at least ``n`` entries; made once per
    process and reused (fresh 50 MB arrays cost more in page faults than the arithmetic on them)."""
    if not _WORKSPACE or _WORKSPACE[0].size < n:
        size = max(n, _MAX_BATCH_BYTES + 2)
        powers = np.empty(size, dtype=np.uint64)
        powers[0] = 1
        powers[1:] = _P
        np.multiply.accumulate(powers, out=powers)
        inv_powers = np.empty(size, dtype=np.uint64)
        inv_powers[0] = 1
        inv_powers[1:] = _P_INV
        np.multiply.accumulate(inv_powers, out=inv_powers)
        _WORKSPACE[:] = [powers, inv_powers, np.zeros(size, dtype=np.uint64)]
    return _WORKSPACE[0], _WORKSPACE[1], _WORKSPACE[2]


def _batch_shingles(buf: np.ndarray, bounds: np.ndarray, ngram: int, min_tokens: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_texts = bounds.size - 1
    text_starts, text_ends = bounds[:-1], bounds[1:]
    per_text = np.zeros(n_texts, dtype=np.int64)
    size = buf.size

    # Polynomial hashes from prefix sums: sum(b[k] * Pinv**k) over a range, times P**start.
    powers, inv_powers, prefix = _workspace(size + 1)
    prefix[0] = 0
    np.multiply(buf, inv_powers[:size], out=prefix[1:size + 1])
    np.add.accumulate(prefix[1:size + 1], out=prefix[1:size + 1])
    lengths = (text_ends - text_starts).astype(np.uint64)
    digests = _mix(((prefix[text_ends] - prefix[text_starts]) * powers[text_starts]) ^ _mix(lengths))
    if size == 0:
        return np.empty(0, np.uint64), per_text, digests

    # Tokens: runs of word bytes, cut at text boundaries.
    word = _WORD[buf]
    before = np.empty(size, dtype=bool)
    before[0] = False
    before[1:] = word[:-1]
    after = np.empty(size, dtype=bool)
    after[-1] = False
    after[:-1] = word[1:]
    inner = text_starts[text_starts < size]
    before[inner] = False
    last = text_ends[(text_ends > text_starts)] - 1
    after[last] = False
    starts = np.flatnonzero(word & ~before)
    ends = np.flatnonzero(word & ~after) + 1
    n_tokens = starts.size
    if n_tokens == 0:
        return np.empty(0, np.uint64), per_text, digests
    tokens = (prefix[ends] - prefix[starts]) * powers[starts]
    tokens = _mix(tokens ^ (ends - starts).astype(np.uint64))

    # Which text each token belongs to, and n-grams that stay inside one text.
    owner = np.searchsorted(text_starts, starts, side="right") - 1
    tokens_per_text = np.bincount(owner, minlength=n_texts)
    if n_tokens < ngram:
        return np.empty(0, np.uint64), per_text, digests
    count = n_tokens - ngram + 1
    shingles = np.zeros(count, dtype=np.uint64)
    for i in range(ngram):
        shingles = shingles * _P + tokens[i:i + count]
    shingles = _mix(shingles)
    enough = tokens_per_text >= max(ngram, min_tokens)
    valid = (owner[:count] == owner[ngram - 1:]) & enough[owner[:count]]
    shingles = shingles[valid]
    per_text = np.bincount(owner[:count][valid], minlength=n_texts).astype(np.int64)
    return shingles, per_text, digests


def signatures(texts: Sequence[str], num_perm: int = 256, ngram: int = 5, min_tokens: int = 5,
               seed: int = 42, method: str = "oph") -> np.ndarray:
    """A ``(len(texts), num_perm)`` uint32 matrix; rows of files without shingles are all ``EMPTY``.

    ``method`` "oph" (the default) is one-permutation hashing with optimal densification, "classic"
    is ``num_perm`` multiply-shift hash functions; in both, two files agree on a position with
    probability equal to their Jaccard similarity.
    """
    hashes, offsets = shingle_hashes(texts, ngram, min_tokens)
    if method == "classic":
        return classic_signatures(hashes, offsets, num_perm, seed)
    return oph_signatures(hashes, offsets, num_perm, seed)


def oph_signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int,
                   max_rounds: int = 512) -> np.ndarray:
    """One-permutation hashing (Li, Owen and Zhang, 2012) with optimal densification (Shrivastava,
    2017): each shingle is hashed once; the hash picks one of ``num_perm`` bins and the minimum per
    bin is kept. An empty bin takes the value of the first non-empty bin along a pseudo-random probe
    sequence that depends only on the bin (so equal files stay equal), which keeps the collision
    probability of every position equal to the Jaccard similarity. One pass over the shingles
    instead of ``num_perm``.
    """
    n = offsets.size - 1
    out = np.full((n, num_perm), EMPTY, dtype=np.uint32)
    counts = np.diff(offsets)
    if hashes.size == 0:
        return out
    keyed = _mix(hashes ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF))
    bins = (((keyed >> np.uint64(32)) * np.uint64(num_perm)) >> np.uint64(32)).astype(np.int64)
    values = (keyed & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    np.minimum.at(out.reshape(-1), owner * num_perm + bins, values)
    filled = out != EMPTY
    todo = ~filled & (counts > 0)[:, None]
    if not todo.any():
        return out
    probes = _probe_table(num_perm, seed, max_rounds)
    # Only the rows with empty bins take part, and they are compacted as they fill up.
    rows = np.flatnonzero(todo.any(axis=1))
    original = out[rows]
    present = filled[rows]
    result = original.copy()
    pending = todo[rows]
    live = np.arange(rows.size)
    for attempt in range(max_rounds):
        source = probes[attempt]
        take = pending[live] & present[live][:, source]
        if take.any():
            block = result[live]
            block[take] = original[live][:, source][take]
            result[live] = block
            pending[live] &= ~take
        live = live[pending[live].any(axis=1)]
        if live.size == 0:
            break
    else:
        # Left after every probe (a file with very few shingles): the next non-empty bin to the right.
        for r, c in zip(*np.nonzero(pending), strict=True):
            row = original[r]
            nxt = np.flatnonzero(row != EMPTY)
            result[r, c] = row[nxt[np.searchsorted(nxt, c) % nxt.size]]
    out[rows] = result
    return out


def _probe_table(num_perm: int, seed: int, rounds: int) -> np.ndarray:
    """``rounds x num_perm`` source bins: probe ``t`` of bin ``j`` (never ``j`` itself)."""
    j = np.arange(num_perm, dtype=np.uint64)
    t = np.arange(rounds, dtype=np.uint64)[:, None]
    h = _mix((t << np.uint64(32)) ^ j[None, :] ^ np.uint64(seed * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF))
    offset = 1 + (h % np.uint64(max(num_perm - 1, 1))).astype(np.int64)
    return (j[None, :].astype(np.int64) + offset) % num_perm


def classic_signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    n = offsets.size - 1
    out = np.full((n, num_perm), EMPTY, dtype=np.uint32)
    present = np.flatnonzero(offsets[1:] > offsets[:-1])
    if present.size == 0:
        return out
    a, b = permutations(num_perm, seed)
    starts = offsets[:-1][present]
    shift = np.uint64(32)
    scratch = np.empty(hashes.size, dtype=np.uint64)
    for i in range(num_perm):
        np.multiply(hashes, a[i], out=scratch)
        scratch += b[i]
        out[present, i] = (np.minimum.reduceat(scratch, starts) >> shift).astype(np.uint32)
    return out
