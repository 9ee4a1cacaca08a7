"""One shard's work: read its planned items, apply the content rules and the steps, write Parquet.

``run_task`` is the only function executors call. It is deterministic: the same task, config and
pipeline give a byte-identical shard in any process on any executor.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stackwright.config import BuildConfig
from stackwright.files import fsync_file, sha256_file, write_atomic
from stackwright.pipeline.step import Pipeline, StepStats
from stackwright.records import (
    CONTENT,
    DICTIONARY_COLUMNS,
    LANGUAGE,
    LICENSE,
    LICENSE_CATEGORY,
    BatchBuilder,
    columns_present,
    read_schema,
)
from stackwright.sources.base import SkipCounter, WorkItem, decode_content

DATA_DIR = "data"
STATE_DIR = "_state"
TMP_DIR = "_tmp"
READ_STEP = "read"
WRITE_STEP = "write"
COUNT_COLUMNS = (LANGUAGE, LICENSE, LICENSE_CATEGORY)

# Set in worker processes by the local executor: receives (task index, files, bytes) after each
# batch.
_progress: Callable[[int, int, int], None] | None = None


def set_progress_reporter(reporter: Callable[[int, int, int], None] | None) -> None:
    global _progress
    _progress = reporter


@dataclass(frozen=True)
class Task:
    index: int
    items: tuple[WorkItem, ...]
    weight: int
    files: int

    @property
    def shard_name(self) -> str:
        return f"part-{self.index:05d}.parquet"


@dataclass(frozen=True)
class Job:
    """What every task of a build shares."""

    out_dir: str
    config: BuildConfig
    pipeline: Pipeline
    # Repository metadata columns (records.REPO_METADATA_COLUMNS) the sources fill: every shard has them.
    metadata: tuple[str, ...] = ()


@dataclass
class TaskResult:
    index: int
    shard: str
    rows: int
    content_bytes: int
    file_bytes: int
    sha256: str
    steps: dict[str, StepStats]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "shard": self.shard,
            "rows": self.rows,
            "content_bytes": self.content_bytes,
            "file_bytes": self.file_bytes,
            "sha256": self.sha256,
            "steps": {k: v.to_json() for k, v in self.steps.items()},
            "counts": self.counts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskResult:
        return cls(
            data["index"],
            data["shard"],
            data["rows"],
            data["content_bytes"],
            data["file_bytes"],
            data["sha256"],
            {k: StepStats.from_json(v) for k, v in data["steps"].items()},
            data.get("counts", {}),
        )


def result_path(out_dir: Path, index: int) -> Path:
    return out_dir / STATE_DIR / "tasks" / f"part-{index:05d}.json"


def _count_values(batch: pa.RecordBatch, counts: dict[str, Counter[str]]) -> None:
    for name in columns_present(batch.schema, COUNT_COLUMNS):
        for value in batch.column(name).to_pylist():
            counts.setdefault(name, Counter())["null" if value is None else value] += 1


def run_task(task: Task, job: Job) -> TaskResult:
    config = job.config
    out_dir = Path(job.out_dir)
    pipeline = job.pipeline
    schema = pipeline.output_schema(read_schema(job.metadata))
    step_stats = pipeline.new_stats()
    read = StepStats()
    write = StepStats()
    skips = SkipCounter()
    counts: dict[str, Counter[str]] = {}
    builder = BatchBuilder(job.metadata)
    rows = 0
    content_bytes = 0

    tmp_dir = out_dir / TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp_path = tmp_dir / f"{task.shard_name}.{uuid.uuid4().hex}"
    writer = pq.ParquetWriter(
        tmp_path,
        schema,
        compression="zstd",
        compression_level=config.compression_level,
        use_dictionary=columns_present(schema, DICTIONARY_COLUMNS),
        write_statistics=True,
    )

    def flush() -> None:
        nonlocal rows, content_bytes
        files, nbytes = len(builder), builder.content_bytes
        batch = pipeline.run(builder.flush(), step_stats)
        start = time.perf_counter()
        write.rows_in += batch.num_rows
        if batch.num_rows:
            writer.write_batch(batch)
            _count_values(batch, counts)
        write.rows_out += batch.num_rows
        write.seconds += time.perf_counter() - start
        rows += batch.num_rows
        content_bytes += int(pa.compute.sum(pa.compute.binary_length(batch.column(CONTENT))).as_py() or 0)
        if _progress is not None:
            _progress(task.index, files, nbytes)

    try:
        read_start = time.perf_counter()
        for item in task.items:
            for raw in item.read(config.read, skips):
                read.rows_in += 1
                text, reason = decode_content(raw.data, config.read)
                if text is None:
                    read.drop(reason or "unknown")
                    continue
                read.rows_out += 1
                builder.append(raw.repo, raw.path, text, len(raw.data) if isinstance(raw.data, bytes)
                               else len(text.encode("utf-8")))
                if len(builder) >= config.batch_rows or builder.content_bytes >= config.batch_bytes:
                    read.seconds += time.perf_counter() - read_start
                    flush()
                    read_start = time.perf_counter()
        read.seconds += time.perf_counter() - read_start
        if len(builder):
            flush()
        writer.close()
    except BaseException:
        writer.close()
        tmp_path.unlink(missing_ok=True)
        raise

    # Files that an item skipped while reading (unreadable, unsafe archive members, ...) were
    # never yielded: they count as read and dropped.
    read.rows_in += skips.total()
    read.dropped.update(skips.reasons)

    shard = out_dir / DATA_DIR / task.shard_name
    shard.parent.mkdir(parents=True, exist_ok=True)
    fsync_file(tmp_path)
    digest = sha256_file(tmp_path)
    size = tmp_path.stat().st_size
    os.replace(tmp_path, shard)

    result = TaskResult(
        index=task.index,
        shard=f"{DATA_DIR}/{task.shard_name}",
        rows=rows,
        content_bytes=content_bytes,
        file_bytes=size,
        sha256=digest,
        steps={READ_STEP: read, **step_stats, WRITE_STEP: write},
        counts={k: dict(sorted(v.items())) for k, v in counts.items()},
    )
    write_atomic(result_path(out_dir, task.index), json.dumps(result.to_json(), sort_keys=True).encode())
    return result
