"""Exact and near deduplication of a stackwright dataset: map -> shuffle -> reduce -> filter.

1. map (one task per input shard, on the local or Ray executor): content hash, MinHash signature
   and LSH band hashes of every file, written to ``OUT/_work/sig-*.parquet`` with the fields of the
   keep rule;
2. shuffle and reduce (driver): one band at a time, files whose band hashes are equal become edges
   (as do byte-identical files); connected components over all edges are the clusters. Only one
   band's column is in memory at a time, so memory grows with the file count, not with the data;
3. keep rule, per cluster: permissive before no-license before anything else, then more stars (when
   known), then the lexicographically first repository and path;
4. filter (one task per input shard): the kept rows, with ``duplicate_count`` (how many removed files
   each kept one stands for), into ``OUT/data``; ``OUT/dedup/clusters.parquet`` lists every file in a
   cluster of two or more and ``OUT/dedup/report.json`` sums it up.

With ``against`` (cross-dataset mode) the files of the input that fall in a cluster with any file of
the other dataset are removed (decontamination), and nothing else.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stackwright.config import BuildConfig, DedupConfig
from stackwright.dataset.manifest import MANIFEST, read_manifest
from stackwright.dedup.lsh import band_hashes, has_signature, optimal_bands
from stackwright.dedup.minhash import arrow_shingle_hashes, oph_signatures
from stackwright.errors import StackwrightError
from stackwright.files import sha256_file, write_atomic
from stackwright.records import (
    CONTENT,
    DICTIONARY_COLUMNS,
    DUPLICATE_COUNT,
    LICENSE_CATEGORY,
    PATH,
    REPO,
    STARS,
    columns_present,
)
from stackwright.records import field as record_field

WORK = "_work"
REPORT_DIR = "dedup"
EXACT = "exact"
NEAR = "near"
READ_ROWS = 4096  # rows read per batch in the map and filter tasks
_LICENSE_RANK = {"permissive": 0, "no-license": 1}


class DedupError(StackwrightError):
    """A deduplication that cannot start; the message is shown to the user as one line."""


@dataclass(frozen=True)
class ShardTask:
    index: int  # position among all tasks (input shards first, then the other dataset's)
    shard: str  # absolute path of the input shard
    side: int  # 0: the dataset being deduplicated, 1: the dataset it is compared against
    weight: int = 0
    files: int = 0


@dataclass(frozen=True)
class DedupJob:
    out_dir: str
    dedup: DedupConfig
    bands: int
    rows: int
    compression_level: int
    removed_dir: str = ""


def signature_task(task: ShardTask, job: DedupJob) -> int:
    """Map: the content hash, band hashes and keep-rule fields of every row of one shard."""
    cfg = job.dedup
    pf = pq.ParquetFile(task.shard)
    names = pf.schema_arrow.names
    wanted = [c for c in (REPO, PATH, CONTENT, LICENSE_CATEGORY, STARS) if c in names]
    tables = []
    rows = 0
    for batch in pf.iter_batches(READ_ROWS, columns=wanted):
        n = batch.num_rows
        # Straight from the Arrow buffers: no Python string per file.
        hashes, offsets, digests = arrow_shingle_hashes(batch.column(CONTENT), cfg.ngram, cfg.min_tokens)
        columns: dict[str, Any] = {
            "digest": pa.array(digests),
            REPO: batch.column(REPO),
            PATH: batch.column(PATH),
            "license_rank": pa.array(_license_ranks(batch), pa.int8()),
            "stars": batch.column(STARS).cast(pa.int64()) if STARS in batch.schema.names
            else pa.nulls(n, pa.int64()),
        }
        if cfg.near:
            sig = oph_signatures(hashes, offsets, cfg.num_perm, cfg.seed)
            bands = band_hashes(sig, job.bands, job.rows)
            columns["has_signature"] = pa.array(has_signature(sig))
            for b in range(job.bands):
                columns[f"b{b}"] = pa.array(bands[:, b])
            if cfg.verify:
                columns["signature"] = pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1)),
                                                                         cfg.num_perm)
        tables.append(pa.table(columns))
        rows += n
    path = Path(job.out_dir) / WORK / f"sig-{task.index:05d}.parquet"
    table = pa.concat_tables(tables) if tables else None
    if table is not None:
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp, compression="zstd", compression_level=1)
        tmp.replace(path)
    return rows


def _license_ranks(batch: pa.RecordBatch) -> list[int]:
    if LICENSE_CATEGORY not in batch.schema.names:
        return [2] * batch.num_rows
    return [_LICENSE_RANK.get(c, 2) for c in batch.column(LICENSE_CATEGORY).to_pylist()]


def filter_task(task: ShardTask, job: DedupJob) -> dict[str, Any]:
    """Filter: write the kept rows of one input shard, with their duplicate counts."""
    marks = np.load(Path(job.removed_dir) / f"marks-{task.index:05d}.npz")
    removed, counts = marks["removed"], marks["counts"]
    pf = pq.ParquetFile(task.shard)
    schema = pf.schema_arrow
    out_field = record_field(DUPLICATE_COUNT)
    if DUPLICATE_COUNT in schema.names:
        schema = schema.remove(schema.get_field_index(DUPLICATE_COUNT))
    schema = schema.append(out_field)
    out_dir = Path(job.out_dir) / "data"
    final = out_dir / f"part-{task.index:05d}.parquet"
    tmp = out_dir / f".{final.name}.tmp"
    writer = pq.ParquetWriter(tmp, schema, compression="zstd", compression_level=job.compression_level,
                              use_dictionary=columns_present(schema, DICTIONARY_COLUMNS),
                              write_statistics=True)
    start = rows = content_bytes = 0
    counted: dict[str, Counter[str]] = {}
    try:
        for batch in pf.iter_batches(READ_ROWS):
            n = batch.num_rows
            keep = ~removed[start:start + n]
            dup = counts[start:start + n]
            start += n
            if DUPLICATE_COUNT in batch.schema.names:
                batch = batch.drop_columns([DUPLICATE_COUNT])
            batch = batch.append_column(out_field, pa.array(dup, pa.int64())).filter(pa.array(keep))
            if batch.num_rows:
                writer.write_batch(batch)
                rows += batch.num_rows
                content_bytes += int(pc.sum(pc.binary_length(batch.column(CONTENT))).as_py() or 0)
                for name in ("language", "license", "license_category"):
                    if name in batch.schema.names:
                        c = counted.setdefault(name, Counter())
                        c.update("null" if v is None else v for v in batch.column(name).to_pylist())
        writer.close()
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(final)
    return {"path": f"data/{final.name}", "rows": rows, "content_bytes": content_bytes,
            "bytes": final.stat().st_size, "sha256": sha256_file(final),
            "counts": {k: dict(v) for k, v in counted.items()}}


@dataclass
class DedupResult:
    out: Path
    manifest: dict[str, Any]
    report: dict[str, Any]
    seconds: float

    def summary(self) -> dict[str, Any]:
        """What ``stackwright dedup --json`` prints: the report, where the output is, and the time."""
        return {**self.report, "dataset": str(self.out), "seconds": round(self.seconds, 3)}


def deduplicate(dataset: Path, out: Path, config: BuildConfig, against: Path | None = None,
                overwrite: bool = False, console: Any = None) -> DedupResult:
    from stackwright.pipeline.executors import make_executor

    started = time.perf_counter()
    cfg = config.dedup
    source = read_manifest(dataset)
    other = read_manifest(against) if against is not None else None
    if not cfg.exact and not cfg.near:
        raise DedupError("nothing to do: both exact and near deduplication are off")
    out = out.resolve()
    _prepare(out, dataset.resolve(), overwrite)
    if cfg.bands and cfg.rows:
        bands, rows = cfg.bands, cfg.rows
        if bands * rows > cfg.num_perm:
            raise DedupError(f"bands x rows ({bands} x {rows}) exceeds num_perm ({cfg.num_perm})")
    else:
        bands, rows = optimal_bands(cfg.threshold, cfg.num_perm)
    tasks = [ShardTask(i, str(dataset / s["path"]), 0, s.get("content_bytes", 0), s["rows"])
             for i, s in enumerate(source["shards"])]
    if other is not None and against is not None:
        tasks += [ShardTask(len(tasks) + i, str(against / s["path"]), 1, s.get("content_bytes", 0), s["rows"])
                  for i, s in enumerate(other["shards"])]
    job = DedupJob(str(out), cfg, bands, rows, config.compression_level, str(out / WORK))
    executor = make_executor(config.executor, config.workers, config.ray_address)

    def status(message: str) -> None:
        if console is not None:
            console.print(f"dedup: {message}", highlight=False)

    status(f"signatures of {sum(t.files for t in tasks):,} files ({bands} bands x {rows} rows)")
    counts: dict[int, int] = {}
    executor.run(tasks, job, lambda *_: None, lambda t, r: counts.__setitem__(t.index, r), fn=signature_task)
    offsets = np.zeros(len(tasks) + 1, dtype=np.int64)
    np.cumsum([counts[t.index] for t in tasks], out=offsets[1:])
    total = int(offsets[-1])
    sig_files = [out / WORK / f"sig-{t.index:05d}.parquet" for t in tasks]
    side = np.zeros(total, dtype=np.int8)
    for t in tasks:
        side[offsets[t.index]:offsets[t.index + 1]] = t.side

    status("clustering (exact hashes, then one LSH band at a time)")
    edges: list[np.ndarray] = []
    exact_pairs = near_pairs = 0
    if cfg.exact:
        # A 64-bit hash of each file's bytes: with ten million files, the chance that two different
        # files share one is about 3 in a million.
        digests = np.asarray(_column(sig_files, "digest", total), dtype=np.uint64)
        found = _equal_runs(digests, np.ones(total, dtype=bool))
        exact_pairs = found.shape[0]
        edges.append(found)
    exact_edges = np.concatenate(edges) if edges else np.empty((0, 2), np.int64)
    if cfg.near and total:
        valid = np.asarray(_column(sig_files, "has_signature", total), dtype=bool)
        for b in range(bands):
            found = _equal_runs(np.asarray(_column(sig_files, f"b{b}", total), dtype=np.uint64), valid)
            if cfg.verify and found.size:
                found = _verified(found, sig_files, total, cfg.threshold)
            near_pairs += found.shape[0]
            edges.append(found)
    labels, sizes = _components(np.concatenate(edges) if edges else np.empty((0, 2), np.int64), total)

    in_cluster = sizes[labels] >= 2
    # Names and keep-rule fields of every file, read once for the keepers, the clusters and the report.
    names = pa.concat_tables([pq.read_table(f, columns=[REPO, PATH, "license_rank", "stars"])
                              for f in sig_files if f.exists()]) if total else None
    removed = np.zeros(total, dtype=bool)
    keeper = np.arange(total)
    if against is None and names is not None:
        keeper = _keepers(labels, in_cluster, names, total)
        removed = in_cluster & (keeper != np.arange(total))
    else:
        touched = np.zeros(labels.max() + 1 if total else 0, dtype=bool)
        touched[labels[side == 1]] = True
        removed = (side == 0) & touched[labels] & in_cluster
    dup_counts = np.bincount(keeper[removed], minlength=total).astype(np.int64)
    exact_set = _pairs_nodes(exact_edges, total)
    kind = np.where(exact_set & removed, EXACT, NEAR)

    status(f"writing the kept files ({int(removed[side == 0].sum()):,} removed)")
    marks_dir = out / WORK
    for t in tasks:
        if t.side == 0:
            lo, hi = offsets[t.index], offsets[t.index + 1]
            np.savez(marks_dir / f"marks-{t.index:05d}.npz", removed=removed[lo:hi], counts=dup_counts[lo:hi])
    (out / "data").mkdir(parents=True, exist_ok=True)
    shard_results: dict[int, dict[str, Any]] = {}
    executor.run([t for t in tasks if t.side == 0], job, lambda *_: None,
                 lambda t, r: shard_results.__setitem__(t.index, r), fn=filter_task)

    report = _report(names, labels, sizes, removed, keeper, kind, side, cfg, bands, rows,
                     exact_pairs, near_pairs, against)
    _write_clusters(out, names, labels, sizes, removed, kind, side)
    manifest = _manifest(source, dataset, shard_results, tasks, report)
    write_atomic(out / REPORT_DIR / "report.json", json.dumps(report, indent=2).encode())
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=2).encode())
    shutil.rmtree(out / WORK, ignore_errors=True)
    return DedupResult(out, manifest, report, time.perf_counter() - started)


def _prepare(out: Path, dataset: Path, overwrite: bool) -> None:
    if out == dataset:
        raise DedupError("--out must be a new folder, not the input dataset")
    if out.exists() and any(out.iterdir()):
        ours = {"data", MANIFEST, REPORT_DIR, WORK, "_stage", "stats.json"}  # _stage: a build's input
        if not overwrite or not {p.name for p in out.iterdir()} <= ours:
            raise DedupError(f"{out} is not empty; choose an empty --out (or --overwrite a dedup output)")
        for name in ("data", REPORT_DIR, WORK):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / MANIFEST).unlink(missing_ok=True)
    (out / WORK).mkdir(parents=True, exist_ok=True)
    (out / REPORT_DIR).mkdir(parents=True, exist_ok=True)


def _column(files: list[Path], name: str, total: int) -> Any:
    """One column of every signature file, in order, as a numpy array (or a list for binary)."""
    parts = [pq.read_table(f, columns=[name]).column(0) for f in files if f.exists()]
    if not parts:
        return np.empty(0)
    column = pa.chunked_array([c for p in parts for c in p.chunks], type=parts[0].type)
    if pa.types.is_fixed_size_binary(column.type):
        return column.to_pylist()
    return column.to_numpy()


def _equal_runs(keys: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Edges (i, j) joining each file to the first file with the same key."""
    index = np.flatnonzero(valid)
    if index.size < 2:
        return np.empty((0, 2), dtype=np.int64)
    k = keys[index]
    order = np.argsort(k, kind="stable")
    sk = k[order]
    start = np.ones(sk.size, dtype=bool)
    start[1:] = sk[1:] != sk[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(sk.size), 0))
    members = ~start
    return np.stack([index[order[members]], index[order[first[members]]]], axis=1).astype(np.int64)


def _verified(pairs: np.ndarray, files: list[Path], total: int, threshold: float) -> np.ndarray:
    """Candidate pairs whose signatures agree on at least ``threshold`` of their positions."""
    column = pa.chunked_array([c for f in files for c in pq.read_table(f, columns=["signature"])
                               .column(0).chunks])
    width = column.type.list_size
    flat = np.concatenate([c.values.to_numpy() for c in column.chunks]).reshape(-1, width)
    agree = (flat[pairs[:, 0]] == flat[pairs[:, 1]]).mean(axis=1)
    return pairs[agree >= threshold]


def _components(edges: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    graph = coo_matrix((np.ones(edges.shape[0], dtype=np.int8), (edges[:, 0], edges[:, 1])),
                       shape=(total, total))
    _, labels = connected_components(graph, directed=False)
    labels = labels.astype(np.int64)
    return labels, np.bincount(labels)


def _keepers(labels: np.ndarray, in_cluster: np.ndarray, names: pa.Table, total: int) -> np.ndarray:
    """For each file, the file its cluster keeps (itself when alone)."""
    keeper = np.arange(total)
    members = np.flatnonzero(in_cluster)
    if members.size == 0:
        return keeper
    sub = names.take(pa.array(members)).append_column("cluster", pa.array(labels[members]))
    sub = sub.append_column("member", pa.array(members)).append_column(
        "neg_stars", pc.negate(pc.fill_null(sub.column(STARS), 0)))
    ordered = sub.sort_by([("cluster", "ascending"), ("license_rank", "ascending"),
                           ("neg_stars", "ascending"), (REPO, "ascending"), (PATH, "ascending")])
    clusters = ordered.column("cluster").to_numpy()
    member = ordered.column("member").to_numpy()
    first = np.ones(clusters.size, dtype=bool)
    first[1:] = clusters[1:] != clusters[:-1]
    chosen = np.full(labels.max() + 1, -1, dtype=np.int64)
    chosen[clusters[first]] = member[first]
    keeper[members] = chosen[labels[members]]
    return keeper


def _pairs_nodes(edges: np.ndarray, total: int) -> np.ndarray:
    nodes = np.zeros(total, dtype=bool)
    if edges.size:
        nodes[edges.reshape(-1)] = True
    return nodes


def _write_clusters(out: Path, names: pa.Table | None, labels: np.ndarray, sizes: np.ndarray,
                    removed: np.ndarray, kind: np.ndarray, side: np.ndarray) -> None:
    members = np.flatnonzero(sizes[labels] >= 2) if names is not None else np.empty(0, np.int64)
    if names is None:
        sub = pa.table({REPO: pa.array([], pa.string()), PATH: pa.array([], pa.string())})
    else:
        sub = names.select([REPO, PATH]).take(pa.array(members, pa.int64()))
    sub = sub.append_column("cluster", pa.array(labels[members], pa.int64()))
    sub = sub.append_column("kept", pa.array(~removed[members]))
    sub = sub.append_column("kind", pa.array(kind[members].tolist(), pa.string()))
    sub = sub.append_column("dataset", pa.array(np.where(side[members] == 0, "input", "against").tolist()))
    pq.write_table(sub, out / REPORT_DIR / "clusters.parquet", compression="zstd")


def _report(names: pa.Table | None, labels: np.ndarray, sizes: np.ndarray, removed: np.ndarray,
            keeper: np.ndarray, kind: np.ndarray, side: np.ndarray, cfg: DedupConfig, bands: int, rows: int,
            exact_pairs: int, near_pairs: int, against: Path | None) -> dict[str, Any]:
    input_files = int((side == 0).sum())
    cluster_sizes = sizes[sizes >= 2]
    histogram = Counter(int(s) for s in cluster_sizes)
    examples: list[dict[str, Any]] = []
    picks = np.flatnonzero(removed)[:: max(1, int(removed.sum()) // 10 or 1)][:10]
    if picks.size and names is not None:
        table = names
        for i in picks.tolist():
            k = int(keeper[i])
            examples.append({"removed": {"repo": table[REPO][i].as_py(), "path": table[PATH][i].as_py()},
                             "kept": {"repo": table[REPO][k].as_py(), "path": table[PATH][k].as_py()},
                             "kind": str(kind[i])})
    return {
        "settings": {**cfg.model_dump(), "bands": bands, "rows": rows},
        "against": str(against) if against else None,
        "files": input_files,
        "removed": int(removed.sum()),
        "removed_exact": int((removed & (kind == EXACT)).sum()),
        "removed_near": int((removed & (kind == NEAR)).sum()),
        "kept": input_files - int(removed.sum()),
        "clusters": int(cluster_sizes.size),
        "largest_cluster": int(cluster_sizes.max()) if cluster_sizes.size else 0,
        "cluster_sizes": {str(k): v for k, v in sorted(histogram.items())[:50]},
        "candidate_pairs": {"exact": exact_pairs, "near": near_pairs},
        "examples": examples,
    }


def _manifest(source: dict[str, Any], dataset: Path, shards: dict[int, dict[str, Any]],
              tasks: list[ShardTask], report: dict[str, Any]) -> dict[str, Any]:
    ordered = [shards[t.index] for t in tasks if t.side == 0]
    counts: dict[str, Counter[str]] = {}
    for s in ordered:
        for name, values in s.pop("counts", {}).items():
            counts.setdefault(name, Counter()).update(values)
    steps = dict(source.get("steps", {}))
    steps["dedup"] = {"in": report["files"], "out": report["kept"],
                      "dropped": {k: v for k, v in (("exact", report["removed_exact"]),
                                                    ("near", report["removed_near"])) if v}}
    manifest = {key: value for key, value in source.items() if key not in {"shards", "steps", "counts"}}
    manifest.update({
        "derived_from": {"path": str(dataset.resolve()), "plan_fingerprint": source.get("plan_fingerprint")},
        "dedup": {k: report[k] for k in ("settings", "against", "files", "removed", "removed_exact",
                                         "removed_near", "clusters", "largest_cluster")},
        "rows": sum(s["rows"] for s in ordered),
        "content_bytes": sum(s["content_bytes"] for s in ordered),
        "file_bytes": sum(s["bytes"] for s in ordered),
        "counts": {k: dict(v.most_common()) for k, v in sorted(counts.items())},
        "steps": steps,
        "shards": ordered,
    })
    return manifest
