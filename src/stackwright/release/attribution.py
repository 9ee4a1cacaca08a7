"""The attribution index: does a snippet appear in a release, where, and under which license?

A user checking a model completion asks whether it was copied from the training data. Scanning every
shard for each question reads the whole release; this index answers from a few percent of its size
and reads only the rows that can hold the snippet.

How it works (winnowing, as in MOSS, with Bloom filters in place of a posting list):

* Text is normalised first (runs of ASCII whitespace become one space, ends stripped), so a snippet
  re-indented or re-wrapped by an editor is still found. Build, query and confirmation share one
  numpy implementation on UTF-8 bytes, so they cannot disagree on what the text is.
* Every ``k``-gram of the normalised UTF-8 bytes is hashed (a polynomial hash computed with numpy by
  doubling, then a 64-bit mixer), and *winnowing* keeps the minimum hash of every window of
  ``window`` consecutive k-grams. Any text of at least ``k + window - 1`` characters therefore holds
  at least one fingerprint, and the windows that lie inside a snippet select the same minima in the
  snippet as in any file that contains it: a snippet in the release always finds its fingerprints.
* Rows are cut into blocks of about ``block_bytes`` of content inside one Parquet row group, and each
  block's distinct fingerprints go into a Bloom filter sized for the target false-positive rate.
  Blocks are small, so a question confirms few rows; the filters are small, so the index is a few
  percent of the content.
* A query computes its fingerprints in text order and asks every block's filter for each. A verbatim
  overlap of ``L`` characters with a file makes at least ``(L - k + 1) // window`` consecutive query
  fingerprints hit that file's block (with right-most tie-breaking, the fingerprints chosen by the
  windows inside the overlap are contiguous among the query's), so a block is a candidate when its
  longest run of hits is that long; a whole-snippet match needs every fingerprint. A block that
  matches by chance needs that many false positives in a row, which makes the probability small.
* Candidates are confirmed exactly: the block's rows are read from Parquet, normalised, and searched
  for the snippet (and, for partial matches, the longest verbatim overlap, found by binary search on
  its length with hashed substrings and checked byte by byte). No answer rests on a hash.

The index is a folder: ``attribution.json`` (parameters, shards, statistics, checksums) written last,
``blocks.npy`` (one int64 row per block) and ``bloom.bin`` (the filters' bits, one raw byte array,
memory-mapped when opened). Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stackwright.files import atomic_path, sha256_file, write_atomic
from stackwright.records import COMMIT, CONTENT, LICENSE, PATH, REPO, check_schema

FORMAT = "stackwright-attribution-index"
FORMAT_VERSION = 1
HEADER = "attribution.json"
BLOCKS = "blocks.npy"
BLOOM = "bloom.bin"

DEFAULT_K = 32
DEFAULT_WINDOW = 40
DEFAULT_FPR = 0.01
DEFAULT_BLOCK_BYTES = 256 << 10

_BASE = 0x9E3779B97F4A7C15  # odd multiplier of the polynomial hash (mod 2**64)
_MASK64 = (1 << 64) - 1
_NO_HASH = np.uint64(_MASK64)
# Block table columns (int64).
_SHARD, _GROUP, _GROUP_ROW0, _START, _END, _BIT_OFFSET, _BITS, _FINGERPRINTS = range(8)
_BLOCK_COLUMNS = 8
_QUERY_CHUNK = 1 << 20  # bloom probes per numpy step when asking every block

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------
# Normalisation and hashing (shared by the build and the query, so that both see the same text)


def normalize(text: str) -> str:
    """``text`` as the index sees it: whitespace runs collapsed to one space, ends stripped."""
    data = np.frombuffer(text.encode("utf-8"), np.uint8)
    _, normalized = _normalize_bytes(np.array([0, data.shape[0]], np.int64), data)
    return normalized.tobytes().decode("utf-8")


def _content_buffers(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from 0, UTF-8 bytes) of a string column, nulls read as empty; no copy of the text
    when the column is one chunk without nulls."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.string())
    if column.null_count:
        column = pc.fill_null(column, "")
    if not len(column):
        return np.zeros(1, np.int64), np.empty(0, np.uint8)
    buffers = column.buffers()
    offset_type = np.int64 if pa.types.is_large_string(column.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    start, end = int(offsets[0]), int(offsets[-1])
    return offsets.astype(np.int64) - start, data[start:end]


def _normalize_bytes(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise every row of a UTF-8 buffer at once (rows are ``data[offsets[i]:offsets[i+1]]``).

    ASCII whitespace bytes never occur inside a multi-byte UTF-8 sequence, so this works on bytes,
    in a few passes without a per-byte index array: the first whitespace byte of each run becomes a
    space (none at the start of a row), the rest of the run goes, then a space left at the end of a
    row goes. Returns the new (offsets, bytes)."""
    rows = offsets.shape[0] - 1
    if not data.shape[0]:
        return np.zeros(rows + 1, np.int64), data
    space = ((data - np.uint8(9)) <= np.uint8(4)) | (data == np.uint8(32))  # \t \n \v \f \r, space
    follows_space = np.empty_like(space)
    follows_space[0] = True
    follows_space[1:] = space[:-1]
    starts = offsets[:-1]
    filled = offsets[1:] > starts
    follows_space[starts[filled]] = True
    dropped = space & follows_space
    out = np.where(space, np.uint8(32), data)[~dropped]
    # Each offset moves back by the bytes dropped before it. Counting per row is cheaper than an index
    # of every dropped byte unless the rows are tiny.
    if rows * 256 < data.shape[0]:
        bounds = zip(starts.tolist(), offsets[1:].tolist(), strict=True)
        per_row = [np.count_nonzero(dropped[a:b]) for a, b in bounds]
        new_offsets = offsets - np.concatenate([[0], np.cumsum(per_row, dtype=np.int64)])
    else:
        new_offsets = offsets - np.searchsorted(np.flatnonzero(dropped), offsets)
    counts = np.diff(new_offsets)
    # Trailing: a row whose collapsed text ends with a space loses that byte.
    ends = new_offsets[1:]
    trailing = np.flatnonzero(counts > 0)
    trailing = trailing[out[ends[trailing] - 1] == 32]
    if trailing.shape[0]:
        drop = np.ones(out.shape[0], dtype=bool)
        drop[ends[trailing] - 1] = False
        out = out[drop]
        removed = np.zeros(rows, np.int64)
        removed[trailing] = 1
        new_offsets = new_offsets - np.concatenate([[0], np.cumsum(removed)])
    return new_offsets, out


def _power(length: int) -> np.uint64:
    return np.uint64(pow(_BASE, length, 1 << 64))


def _substring_hashes(symbols: np.ndarray, length: int) -> np.ndarray:
    """Polynomial hash (mod 2**64) of every ``length``-long substring, by doubling: O(n log length)."""
    n = symbols.shape[0] - length + 1
    if n <= 0 or length <= 0:
        return np.empty(0, np.uint64)
    piece = symbols.astype(np.uint64)
    span = 1
    result: np.ndarray | None = None
    covered = 0
    remaining = length
    while True:
        if remaining & 1:
            if result is None:
                result, covered = piece, span
            else:
                size = symbols.shape[0] - covered - span + 1
                result = result[:size] * _power(span) + piece[covered : covered + size]
                covered += span
        remaining >>= 1
        if not remaining:
            break
        size = piece.shape[0] - span
        piece = piece[:size] * _power(span) + piece[span : span + size]
        span *= 2
    assert result is not None and result.shape[0] == n
    return result


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place: spreads the polynomial hash over all 64 bits."""
    values ^= values >> np.uint64(30)
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    values ^= values >> np.uint64(31)
    return values


def _kgram_hashes(symbols: np.ndarray, k: int) -> np.ndarray:
    return _mix(_substring_hashes(symbols, k))


def _window_minima(hashes: np.ndarray, window: int) -> np.ndarray:
    """Minimum of every ``window`` consecutive values (van Herk / Gil-Werman: two scans, no loop)."""
    n = hashes.shape[0]
    if n < window:
        return np.empty(0, np.uint64)
    pad = (-n) % window
    padded = np.concatenate([hashes, np.full(pad, _NO_HASH)]).reshape(-1, window)
    prefix = np.minimum.accumulate(padded, axis=1).ravel()
    suffix = np.minimum.accumulate(padded[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(suffix[: n - window + 1], prefix[window - 1 : n])


def _block_fingerprints(data: np.ndarray, offsets: np.ndarray, k: int, window: int) -> np.ndarray:
    """Distinct winnowed fingerprints of the rows whose bytes are ``data`` (row i is
    ``data[offsets[i]:offsets[i+1]]``); windows that cross from one row into the next are dropped."""
    span = k + window - 1
    n = data.shape[0]
    if n < span:
        return np.empty(0, np.uint64)
    minima = _window_minima(_kgram_hashes(data, k), window)
    lengths = np.diff(offsets)
    if lengths.shape[0] > 1:
        row = np.repeat(np.arange(lengths.shape[0], dtype=np.int32), lengths)
        minima = minima[row[: n - span + 1] == row[span - 1 :]]
    if not minima.shape[0]:
        return minima
    # Neighbouring windows mostly share their minimum: keep one of each run before the sort.
    first = np.empty(minima.shape[0], dtype=bool)
    first[0] = True
    np.not_equal(minima[1:], minima[:-1], out=first[1:])
    return np.unique(minima[first])


def _query_fingerprints(data: np.ndarray, k: int, window: int) -> np.ndarray:
    """The query's fingerprints in text order (distinct positions, right-most minimum per window)."""
    hashes = _kgram_hashes(data, k)
    if hashes.shape[0] < window:
        return np.empty(0, np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(hashes, window)
    rightmost = window - 1 - np.argmin(windows[:, ::-1], axis=1)
    positions = np.unique(np.arange(windows.shape[0]) + rightmost)
    return hashes[positions]


# ---------------------------------------------------------------------------------------------
# Bloom filters


def _bloom_bits(fingerprints: int, bits_per_fingerprint: float) -> int:
    """Filter size in bits: enough for the target rate, a whole number of 64-bit words."""
    bits = max(64, math.ceil(fingerprints * bits_per_fingerprint))
    return (bits + 63) // 64 * 64


def _probe_positions(fingerprints: np.ndarray, bits: np.ndarray, hashes: int) -> np.ndarray:
    """Bit positions (double hashing) of each fingerprint in filters of ``bits`` bits.

    ``fingerprints`` has shape (m,), ``bits`` broadcasts against (..., m, hashes)."""
    low = (fingerprints & np.uint64(0xFFFFFFFF))[:, None]
    step = ((fingerprints >> np.uint64(32)) | np.uint64(1))[:, None]
    probes = low + step * np.arange(hashes, dtype=np.uint64)[None, :]
    return probes % bits


def _bloom_filter(fingerprints: np.ndarray, bits: int, hashes: int) -> np.ndarray:
    flags = np.zeros(bits, dtype=bool)
    flags[_probe_positions(fingerprints, np.uint64(bits), hashes).ravel()] = True
    return np.packbits(flags, bitorder="little")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class AttributionMatch:
    """One released file that holds (part of) the snippet.

    ``overlap_chars`` is the longest stretch of the normalised snippet found verbatim in the
    normalised file; ``overlap_fraction`` is that over the normalised snippet's length (1.0: the
    whole snippet is in the file)."""

    repo: str
    path: str
    license: str | None
    shard: str
    row: int
    overlap_chars: int
    overlap_fraction: float
    commit: str | None = None

    @property
    def exact(self) -> bool:
        return self.overlap_fraction >= 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "path": self.path,
            "license": self.license,
            "commit": self.commit,
            "shard": self.shard,
            "row": self.row,
            "overlap_chars": self.overlap_chars,
            "overlap_fraction": round(self.overlap_fraction, 4),
            "exact": self.exact,
        }


# ---------------------------------------------------------------------------------------------
# Build


def _open_shard(path: Path) -> pq.ParquetFile:
    if not path.is_file():
        raise FileNotFoundError(f"shard not found: {path}")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path} is not a readable Parquet file ({exc})") from None
    try:
        check_schema(pf.schema_arrow)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return pf


def _read_group(pf: pq.ParquetFile, path: Path, group: int, columns: list[str]) -> pa.Table:
    try:
        return pf.read_row_group(group, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: row group {group} is unreadable ({exc})") from None


def _shard_name(path: Path) -> str:
    """How results name a shard: ``data/part-00000.parquet`` inside a release folder (as its manifest
    does), else the file name."""
    return f"{path.parent.name}/{path.name}" if path.parent.name == "data" else path.name


def _block_ranges(lengths: np.ndarray, block_bytes: int) -> Iterator[tuple[int, int]]:
    """Contiguous row ranges of about ``block_bytes`` each (a longer row is a block of its own)."""
    start = 0
    total = 0
    for i, size in enumerate(lengths.tolist()):
        if total and total + size > block_bytes:
            yield start, i
            start, total = i, 0
        total += size
    if start < lengths.shape[0]:
        yield start, int(lengths.shape[0])


def build_attribution_index(
    shards: Sequence[Path],
    out_dir: Path,
    *,
    progress: Progress | None = None,
    k: int = DEFAULT_K,
    window: int = DEFAULT_WINDOW,
    fpr: float = DEFAULT_FPR,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> dict[str, Any]:
    """Index the rows of ``shards`` (Parquet with ``repo``, ``path``, ``content``) into ``out_dir``.

    ``progress(rows_done, rows_total)`` is called after each row group. Every file is written under
    a temporary name and renamed, the header last, so a folder with a header is a finished index.
    Returns the statistics also stored in the header.
    """
    if not 4 <= k <= 1024 or not 1 <= window <= 1024:
        raise ValueError(f"k must be in 4..1024 and window in 1..1024 (got k={k}, window={window})")
    if not 0.0 < fpr < 0.5:
        raise ValueError(f"fpr must be between 0 and 0.5 (got {fpr})")
    if block_bytes < 1024:
        raise ValueError(f"block_bytes must be at least 1024 (got {block_bytes})")
    paths = [Path(s) for s in shards]  # none: an empty index, which finds nothing
    files = [_open_shard(p) for p in paths]
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A rebuild in place: until the new header lands, the folder is not a finished index.
    (out_dir / HEADER).unlink(missing_ok=True)

    hashes = max(1, round(-math.log2(fpr)))
    bits_per_fingerprint = -math.log(fpr) / (math.log(2) ** 2)
    rows_total = sum(pf.metadata.num_rows for pf in files)
    rows_done = 0
    content_bytes = 0
    normalized_bytes = 0
    fingerprints = 0
    blocks: list[list[int]] = []
    bit_offset = 0
    digest = hashlib.sha256()
    shard_info: list[dict[str, Any]] = []
    with atomic_path(out_dir / BLOOM) as bloom_tmp:
        with open(bloom_tmp, "wb") as bloom_out:
            for shard_index, (path, pf) in enumerate(zip(paths, files, strict=True)):
                group_row0 = 0
                for group in range(pf.num_row_groups):
                    column = _read_group(pf, path, group, [CONTENT]).column(CONTENT)
                    raw_offsets, raw = _content_buffers(column)
                    content_bytes += raw.shape[0]
                    offsets, data = _normalize_bytes(raw_offsets, raw)
                    normalized_bytes += data.shape[0]
                    for start, end in _block_ranges(np.diff(offsets), block_bytes):
                        found = _block_fingerprints(
                            data[offsets[start] : offsets[end]],
                            offsets[start : end + 1] - offsets[start],
                            k,
                            window,
                        )
                        if not found.shape[0]:
                            continue  # every row too short to hold a query
                        bits = _bloom_bits(found.shape[0], bits_per_fingerprint)
                        filter_bytes = _bloom_filter(found, bits, hashes).tobytes()
                        bloom_out.write(filter_bytes)
                        digest.update(filter_bytes)
                        blocks.append(
                            [shard_index, group, group_row0, start, end, bit_offset, bits, found.shape[0]]
                        )
                        bit_offset += bits
                        fingerprints += found.shape[0]
                    group_rows = pf.metadata.row_group(group).num_rows
                    group_row0 += group_rows
                    rows_done += group_rows
                    if progress is not None:
                        progress(rows_done, rows_total)
                resolved = path.resolve()
                shard_info.append(
                    {
                        "name": _shard_name(resolved),
                        "path": str(resolved),
                        "relative_path": os.path.relpath(resolved, out_dir.resolve()),
                        "bytes": resolved.stat().st_size,
                        "rows": pf.metadata.num_rows,
                    }
                )

    table = np.asarray(blocks, dtype=np.int64).reshape(-1, _BLOCK_COLUMNS)
    with atomic_path(out_dir / BLOCKS) as tmp, open(tmp, "wb") as fh:
        np.save(fh, table, allow_pickle=False)
    index_bytes = bit_offset // 8 + (out_dir / BLOCKS).stat().st_size
    stats = {
        "files": rows_total,
        "shards": len(paths),
        "blocks": int(table.shape[0]),
        "content_bytes": content_bytes,
        "normalized_bytes": normalized_bytes,
        "fingerprints": fingerprints,
        "bloom_bytes": bit_offset // 8,
        "index_bytes": index_bytes,
        "index_fraction_of_content": round(index_bytes / content_bytes, 5) if content_bytes else 0.0,
        "seconds": round(time.perf_counter() - started, 3),
    }
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "parameters": {
            "k": k,
            "window": window,
            "fpr": fpr,
            "hashes": hashes,
            "block_bytes": block_bytes,
            "normalization": "ascii-whitespace-runs-to-space,strip",
        },
        "bloom": {"file": BLOOM, "bytes": bit_offset // 8, "sha256": digest.hexdigest()},
        "blocks": {"file": BLOCKS, "rows": int(table.shape[0])},
        "shards": shard_info,
        "stats": stats,
    }
    text = json.dumps(header, indent=2, sort_keys=True).encode()
    write_atomic(out_dir / HEADER, text)
    return {**stats, "parameters": header["parameters"]}


# ---------------------------------------------------------------------------------------------
# Query


def _members(values: np.ndarray, small: np.ndarray) -> np.ndarray:
    """``np.isin(values, small)`` for a small second set: a binary search per value, no sort of
    ``values`` (which is a whole block of text)."""
    found = np.zeros(values.shape[0], dtype=bool)
    if not small.shape[0] or not values.shape[0]:
        return found
    # A cache-resident bitmap on the top bits rules out almost every value; the few left are searched.
    bits = max(12, int(small.shape[0] * 64).bit_length())
    shift = np.uint64(64 - bits)
    bitmap = np.zeros(1 << bits, dtype=bool)
    bitmap[small >> shift] = True
    maybe = np.flatnonzero(bitmap[values >> shift])
    ordered = np.sort(small)
    at = np.minimum(np.searchsorted(ordered, values[maybe]), ordered.shape[0] - 1)
    found[maybe] = ordered[at] == values[maybe]
    return found


def _longest_common(query: np.ndarray, text: np.ndarray, at_least: int) -> tuple[int, int]:
    """(length, start in ``query``) of the longest common substring of two byte arrays when it is at
    least ``at_least`` long, else (0, 0). Binary search on the length; each step hashes every
    substring of that length and confirms a hash match by comparing the bytes."""

    def shared(length: int) -> int:
        query_hashes = _substring_hashes(query, length)
        text_hashes = _substring_hashes(text, length)
        hits = np.flatnonzero(_members(text_hashes, query_hashes))
        for j in hits[:16].tolist():
            for i in np.flatnonzero(query_hashes == text_hashes[j])[:4].tolist():
                if np.array_equal(query[i : i + length], text[j : j + length]):
                    return i
        return -1

    low, high = at_least, min(query.shape[0], text.shape[0])
    where = shared(low) if low <= high else -1
    if where < 0:
        return 0, 0
    while low < high:
        mid = (low + high + 1) // 2
        found = shared(mid)
        if found >= 0:
            low, where = mid, found
        else:
            high = mid - 1
    return low, where


class AttributionIndex:
    """An attribution index opened for queries (see the module documentation)."""

    def __init__(
        self,
        root: Path,
        header: dict[str, Any],
        blocks: np.ndarray,
        bloom: np.ndarray,
        shard_paths: list[Path],
    ) -> None:
        self.root = root
        self.header = header
        params = header["parameters"]
        self.k: int = int(params["k"])
        self.window: int = int(params["window"])
        self.hashes: int = int(params["hashes"])
        self._blocks = blocks
        self._bloom = bloom
        self._shard_paths = shard_paths
        self._shard_names = [str(s["name"]) for s in header["shards"]]
        self._files: dict[int, pq.ParquetFile] = {}

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, out_dir: Path) -> AttributionIndex:
        """Open the index in ``out_dir``: FileNotFoundError when there is none (or a shard it indexes
        is gone), ValueError when it is damaged or a shard changed since it was built."""
        root = Path(out_dir)
        if not root.is_dir():
            raise FileNotFoundError(f"attribution index not found: {root} is not a folder")
        header_path = root / HEADER
        if not header_path.is_file():
            raise FileNotFoundError(f"{root} is not an attribution index (no {HEADER})")
        try:
            header = json.loads(header_path.read_text(encoding="utf-8"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ValueError("not an attribution index header")
            if header.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format version {header.get('format_version')} is not {FORMAT_VERSION}")
            params = header["parameters"]
            for key in ("k", "window", "hashes"):
                if not isinstance(params[key], int) or params[key] < 1:
                    raise ValueError(f"bad parameter {key}")
            bloom_info, shards = header["bloom"], header["shards"]
            expected_blocks = int(header["blocks"]["rows"])
            for shard in shards:
                if not all(isinstance(shard[key], str) for key in ("name", "path", "relative_path")):
                    raise ValueError("bad shard entry")
                int(shard["bytes"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"corrupt attribution index {root}: {HEADER} is unreadable ({exc})") from None

        for name in (BLOCKS, BLOOM):
            if not (root / name).is_file():
                raise ValueError(f"corrupt attribution index {root}: {name} is missing")
        try:
            blocks = np.load(root / BLOCKS, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"corrupt attribution index {root}: {BLOCKS} is unreadable ({exc})") from None
        if blocks.dtype != np.int64 or blocks.ndim != 2 or blocks.shape != (expected_blocks, _BLOCK_COLUMNS):
            raise ValueError(f"corrupt attribution index {root}: {BLOCKS} has the wrong shape or type")
        blocks = np.ascontiguousarray(blocks)
        bloom_bytes = int(bloom_info["bytes"])
        bloom_path = root / BLOOM
        if bloom_path.stat().st_size != bloom_bytes:
            raise ValueError(
                f"corrupt attribution index {root}: {BLOOM} is {bloom_path.stat().st_size} "
                f"bytes, expected {bloom_bytes}"
            )
        if sha256_file(bloom_path) != bloom_info["sha256"]:
            raise ValueError(f"corrupt attribution index {root}: {BLOOM} does not match its checksum")
        if blocks.shape[0]:
            ends = blocks[:, _BIT_OFFSET] + blocks[:, _BITS]
            if (
                int(ends.max()) > bloom_bytes * 8
                or int(blocks[:, _SHARD].max()) >= len(shards)
                or int(blocks[:, _BITS].min()) <= 0
                or int(blocks.min()) < 0
            ):
                raise ValueError(f"corrupt attribution index {root}: {BLOCKS} points outside the filters")
        bloom = (
            np.memmap(bloom_path, dtype=np.uint8, mode="r") if bloom_bytes else np.zeros(1, dtype=np.uint8)
        )
        return cls(root, header, blocks, bloom, [cls._locate_shard(root, s) for s in shards])

    @staticmethod
    def _locate_shard(root: Path, info: dict[str, Any]) -> Path:
        for candidate in (root / info["relative_path"], Path(info["path"])):
            if candidate.is_file():
                if candidate.stat().st_size != info["bytes"]:
                    raise ValueError(
                        f"shard {candidate} changed since the attribution index was built; rebuild the index"
                    )
                return candidate
        raise FileNotFoundError(
            f"shard {info['name']} of the attribution index is missing "
            f"(looked for {root / info['relative_path']} and {info['path']})"
        )

    # -- properties ---------------------------------------------------------------------------

    @property
    def min_query_chars(self) -> int:
        """The shortest normalised query that is guaranteed to find its fingerprints."""
        return self.k + self.window - 1

    @property
    def default_min_overlap(self) -> int:
        """``k + 2 * window - 1`` (111 characters with the defaults): an overlap this long holds two
        consecutive fingerprints, and a block matching two in a row by chance is rare (about
        ``fingerprints * fpr**2``), so partial matches cost few needless reads."""
        return self.k + 2 * self.window - 1

    @property
    def block_count(self) -> int:
        return int(self._blocks.shape[0])

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self.header.get("stats", {}))

    # -- querying -----------------------------------------------------------------------------

    def _prepare(self, text: str, min_overlap: int | None) -> tuple[str, int]:
        """(normalised query, overlap in characters that a match needs)."""
        if not isinstance(text, str):
            raise TypeError("the query must be a string")
        if min_overlap is None:
            min_overlap = self.default_min_overlap
        if min_overlap < self.min_query_chars:
            raise ValueError(
                f"min_overlap must be at least {self.min_query_chars} characters (k + window - 1)"
            )
        query = normalize(text)
        if len(query) < self.min_query_chars:
            what = (
                f"query too short ({len(query)} characters after collapsing whitespace)"
                if query
                else "empty query"
            )
            raise ValueError(
                f"{what}: the index answers snippets of at least {self.min_query_chars} characters"
            )
        return query, min(min_overlap, len(query))

    def candidates(self, text: str, *, min_overlap: int | None = None) -> np.ndarray:
        """Blocks whose Bloom filters may hold an overlap of ``min_overlap`` characters with ``text``
        (the whole text when it is shorter). Raises ValueError as :meth:`query` does."""
        query, needed = self._prepare(text, min_overlap)
        return self._candidates(query, needed)

    def _candidates(self, query: str, needed: int) -> np.ndarray:
        data = np.frombuffer(query.encode("utf-8"), np.uint8)
        fingerprints = _query_fingerprints(data, self.k, self.window)
        count = fingerprints.shape[0]
        if needed >= len(query):
            run = count  # the whole snippet: every fingerprint is in the file's block
        else:
            run = max(1, min(count, (needed - self.k + 1) // self.window))
        if not count or not self.block_count:
            return np.empty(0, np.int64)
        found: list[np.ndarray] = []
        per_step = max(1, _QUERY_CHUNK // (count * self.hashes))
        for first in range(0, self.block_count, per_step):
            blocks = self._blocks[first : first + per_step]
            bits = blocks[:, _BITS].astype(np.uint64)[:, None, None]
            positions = (
                _probe_positions(fingerprints, bits, self.hashes)
                + blocks[:, _BIT_OFFSET].astype(np.uint64)[:, None, None]
            )
            shifts = (positions & np.uint64(7)).astype(np.uint8)
            set_bits = (self._bloom[positions >> np.uint64(3)] >> shifts) & 1
            hits = set_bits.all(axis=2)  # (blocks, fingerprints)
            longest = np.zeros(blocks.shape[0], np.int64)
            current = np.zeros(blocks.shape[0], np.int64)
            for column in range(count):
                current = np.where(hits[:, column], current + 1, 0)
                np.maximum(longest, current, out=longest)
            found.append(np.flatnonzero(longest >= run) + first)
        return np.concatenate(found)

    def query(
        self, text: str, *, min_overlap: int | None = None, limit: int | None = None
    ) -> list[AttributionMatch]:
        """The released files that hold ``text`` (after whitespace normalisation), whole or in part.

        A file is reported when it shares at least ``min_overlap`` consecutive characters of the
        normalised text verbatim (all of it when the text is shorter; None: :attr:`default_min_overlap`;
        pass ``len(text)`` or more for whole-snippet matches only), best overlap first; an empty
        list means the snippet is not in the release. Partial overlaps are measured on UTF-8 bytes
        and reported in characters. Raises ValueError for an empty query or one shorter than
        :attr:`min_query_chars` after normalisation (no answer would be reliable), and for a
        ``min_overlap`` below it.
        """
        query, needed = self._prepare(text, min_overlap)
        blocks = self._candidates(query, needed)
        matches: list[AttributionMatch] = []
        by_group: dict[tuple[int, int], list[int]] = {}
        for block in blocks.tolist():
            row = self._blocks[block]
            by_group.setdefault((int(row[_SHARD]), int(row[_GROUP])), []).append(block)
        for (shard, group), members in sorted(by_group.items()):
            matches.extend(self._confirm(shard, group, members, query, needed))
        matches.sort(key=lambda m: (-m.overlap_chars, m.shard, m.row))
        return matches[:limit] if limit is not None else matches

    def _file(self, shard: int) -> pq.ParquetFile:
        pf = self._files.get(shard)
        if pf is None:
            pf = self._files[shard] = _open_shard(self._shard_paths[shard])
        return pf

    def _confirm(
        self, shard: int, group: int, members: list[int], query: str, needed: int
    ) -> list[AttributionMatch]:
        """The rows of the candidate blocks (one row group) that really share ``needed`` characters."""
        pf = self._file(shard)
        path = self._shard_paths[shard]
        contents = _read_group(pf, path, group, [CONTENT]).column(CONTENT)
        query_bytes = query.encode("utf-8")
        query_array = np.frombuffer(query_bytes, np.uint8)
        found: list[tuple[int, int]] = []  # (row in the group, overlap in characters)
        for block in members:
            start, end = int(self._blocks[block, _START]), int(self._blocks[block, _END])
            offsets, data = _normalize_bytes(*_content_buffers(contents.slice(start, end - start)))
            overlaps = np.zeros(end - start, np.int64)
            blob = data.tobytes()
            at = blob.find(query_bytes)
            while at >= 0:
                row = int(np.searchsorted(offsets, at, side="right")) - 1
                if at + len(query_bytes) <= offsets[row + 1]:
                    overlaps[row] = len(query)
                    at = blob.find(query_bytes, int(offsets[row + 1]))
                else:
                    at = blob.find(query_bytes, at + 1)
            if needed < len(query):
                for row in self._partial_rows(offsets, data, query_array, overlaps > 0):
                    size, where = _longest_common(query_array, data[offsets[row] : offsets[row + 1]], needed)
                    if size:
                        overlaps[row] = len(query_bytes[where : where + size].decode("utf-8", "ignore"))
            found.extend(
                (start + row, int(overlaps[row])) for row in np.flatnonzero(overlaps >= needed).tolist()
            )
        if not found:
            return []
        names = pf.schema_arrow.names
        columns = [c for c in (REPO, PATH, LICENSE, COMMIT) if c in names]
        table = _read_group(pf, path, group, columns)
        first = int(self._blocks[members[0], _GROUP_ROW0])
        out = []
        for row, overlap in found:
            values = {c: table.column(c)[row].as_py() for c in columns}
            out.append(
                AttributionMatch(
                    repo=str(values[REPO]),
                    path=str(values[PATH]),
                    license=values.get(LICENSE),
                    commit=values.get(COMMIT),
                    shard=self._shard_names[shard],
                    row=first + row,
                    overlap_chars=overlap,
                    overlap_fraction=overlap / len(query),
                )
            )
        return out

    def _partial_rows(
        self, offsets: np.ndarray, data: np.ndarray, query: np.ndarray, exact: np.ndarray
    ) -> list[int]:
        """Rows (not already exact matches) that share at least one k-byte substring with the query:
        the only ones that can share a longer stretch."""
        if data.shape[0] < self.k:
            return []
        hits = np.flatnonzero(_members(_substring_hashes(data, self.k), _substring_hashes(query, self.k)))
        if not hits.shape[0]:
            return []
        row_of_hit = np.searchsorted(offsets, hits, side="right") - 1
        inside = hits + self.k <= offsets[row_of_hit + 1]
        rows = np.unique(row_of_hit[inside])
        return [int(r) for r in rows.tolist() if not exact[r]]
