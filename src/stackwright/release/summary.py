"""What a release holds, counted from its shards as they are written: files and bytes per language,
license and license category, per repository, and a histogram of file sizes.

The counts come from the released rows themselves (not from the dataset manifest), so that they stay
true after opt-outs removed rows, and the data card can be rendered from the manifest alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stackwright.records import CONTENT, LANGUAGE, LICENSE, LICENSE_CATEGORY, REPO

COUNTED_COLUMNS = (LANGUAGE, LICENSE, LICENSE_CATEGORY)
NULL = "null"  # the key of rows without a value, as in dataset manifests
# File-size buckets (bytes of UTF-8 content): powers of four from 256 B to 1 MiB.
SIZE_EDGES = (256, 1024, 4096, 16384, 65536, 262144, 1048576)


def _size_label(low: int, high: int | None) -> str:
    def short(n: int) -> str:
        for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
            if n >= size:
                return f"{n // size} {unit}"
        return f"{n} B"

    if low == 0:
        return f"under {short(high or 0)}"
    if high is None:
        return f"{short(low)} or more"
    return f"{short(low)} to {short(high)}"


@dataclass
class ReleaseSummary:
    """Running totals over the released batches."""

    rows: int = 0
    content_bytes: int = 0
    columns: set[str] = field(default_factory=set)
    files: dict[str, Counter[str]] = field(default_factory=lambda: {c: Counter() for c in COUNTED_COLUMNS})
    sizes: dict[str, Counter[str]] = field(default_factory=lambda: {c: Counter() for c in COUNTED_COLUMNS})
    repo_files: Counter[str] = field(default_factory=Counter)
    repo_bytes: Counter[str] = field(default_factory=Counter)
    size_histogram: np.ndarray = field(default_factory=lambda: np.zeros(len(SIZE_EDGES) + 1, np.int64))

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if batch.num_rows == 0:
            return
        nbytes = pc.binary_length(batch.column(CONTENT).cast(pa.string()))
        self.rows += batch.num_rows
        self.content_bytes += int(pc.sum(nbytes).as_py() or 0)
        self.size_histogram += np.bincount(
            np.digitize(nbytes.to_numpy(zero_copy_only=False), SIZE_EDGES), minlength=len(SIZE_EDGES) + 1
        )
        names = set(batch.schema.names)
        for column in (REPO, *COUNTED_COLUMNS):
            if column not in names:
                continue
            self.columns.add(column)
            values = batch.column(column)
            if pa.types.is_dictionary(values.type):
                values = values.cast(values.type.value_type)
            keys = values if column == REPO else pc.fill_null(values.cast(pa.string()), NULL)
            grouped = (
                pa.table({"key": keys, "n": nbytes}).group_by("key").aggregate([("n", "count"), ("n", "sum")])
            )
            if column == REPO:
                files, sizes = self.repo_files, self.repo_bytes
            else:
                files, sizes = self.files[column], self.sizes[column]
            for key, count, total in zip(
                grouped.column("key").to_pylist(),
                grouped.column("n_count").to_pylist(),
                grouped.column("n_sum").to_pylist(),
                strict=True,
            ):
                files[key] += count
                sizes[key] += total or 0

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per counted column: value -> {files, bytes}, most files first (then by name)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for column in COUNTED_COLUMNS:
            if column not in self.columns:
                out[column] = {}
                continue
            files, sizes = self.files[column], self.sizes[column]
            ordered = sorted(files, key=lambda k: (-files[k], k))
            out[column] = {k: {"files": files[k], "bytes": sizes[k]} for k in ordered}
        return out

    def file_sizes(self) -> list[dict[str, Any]]:
        edges = (0, *SIZE_EDGES, None)
        return [
            {"label": _size_label(low, high), "min": low, "max": high, "files": int(n)}
            for low, high, n in zip(edges[:-1], edges[1:], self.size_histogram.tolist(), strict=True)
        ]
