"""Redact every file of a finished dataset into a new dataset (shard by shard)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from stackwright.config import BuildConfig
from stackwright.curate.pii.steps import RedactPii
from stackwright.dataset.manifest import MANIFEST, read_manifest
from stackwright.files import sha256_file, write_atomic
from stackwright.pipeline.step import StepStats
from stackwright.records import DICTIONARY_COLUMNS, columns_present


def redact_dataset(source: Path, target: Path, config: BuildConfig) -> Counter[str]:
    manifest = read_manifest(source)
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} is not empty; choose a new folder")
    step = RedactPii(config.pii)
    stats = StepStats()
    (target / "data").mkdir(parents=True, exist_ok=True)
    shards = []
    for shard in manifest["shards"]:
        src = source / shard["path"]
        dst = target / shard["path"]
        tmp = dst.with_name(f".{dst.name}.tmp")
        pf = pq.ParquetFile(src)
        schema = pf.schema_arrow
        writer = pq.ParquetWriter(tmp, schema, compression="zstd", compression_level=config.compression_level,
                                  use_dictionary=columns_present(schema, DICTIONARY_COLUMNS))
        for batch in pf.iter_batches(2048):
            stats.rows_in += batch.num_rows
            stats.rows_out += batch.num_rows
            writer.write_batch(step.process(batch, stats))
        writer.close()
        tmp.replace(dst)
        shards.append({**shard, "bytes": dst.stat().st_size, "sha256": sha256_file(dst)})
    steps = dict(manifest.get("steps", {}))
    steps["pii"] = stats.to_json()
    origin = {"path": str(source.resolve()), "plan_fingerprint": manifest.get("plan_fingerprint")}
    new = {**manifest, "shards": shards, "steps": steps, "derived_from": origin}
    write_atomic(target / MANIFEST, json.dumps(new, indent=2).encode())
    shutil.rmtree(target / "_tmp", ignore_errors=True)
    return stats.counted
