"""Attribution index benchmark: "is this snippet in the release?" with the index, and by brute force.

The release is real code: the ``.py`` files of this interpreter's site-packages (one repository per
top-level package, ``pypi/<name>``, with the license its distribution declares), taken in hash order
of their paths up to ``--mb`` megabytes or ``--files`` files, written as zstd Parquet shards with
row groups of 2,048 rows (what ``stackwright build`` writes) under ``bench-out/attribution/``
(cached; ``--rebuild-corpus`` rewrites it).

Measured, on the same machine in one run:

* build: ``build_attribution_index`` over the shards (seconds, MB/s), the index size against the
  content bytes and against the Parquet bytes;
* recall: ``--queries`` 200-character spans (seeded) cut from the indexed files; a span counts as
  found when the query reports its own file (repo and path) as a whole-snippet match;
* false positives: as many 200-character spans from code that is not indexed (the standard library),
  minus those that really occur in the indexed data (an exact scan of the whole normalised corpus
  decides). Two rates: the *filter* rate (the Bloom filters name at least one block as holding the
  whole span: the cost of a false positive is one confirmation read) and the *answer* rate (the query
  reports a whole-snippet match; confirmation is exact, so this must be 0). Partial matches
  (a shared stretch of at least the default ``min_overlap`` characters) are counted separately:
  they are real shared code, not errors;
* latency: p50/p95 per query with the default ``min_overlap`` (which also looks for partial
  overlaps), on both query sets, and the number of blocks confirmed per query;
* peers, brute-force exact scans on the same normalised text: DuckDB reading the Parquet shards
  (``contains(regexp_replace(content, ...))``: what answering without an index costs), and
  ``pyarrow.compute.match_substring`` over the normalised content held in memory, both on
  ``--peer-queries`` of the queries (their answers are checked against the index's); the exact scan
  used as ground truth (``bytes.find`` over the whole normalised corpus joined in memory) is timed too.

    .venv/bin/python benchmarks/attribution.py                  # ~100 MB, 1,000 + 1,000 queries
    .venv/bin/python benchmarks/attribution.py --mb 20 --queries 200    # a quick run

Prints a table and writes ``bench-out/attribution.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stackwright.release.attribution import (  # noqa: E402
    DEFAULT_BLOCK_BYTES,
    DEFAULT_FPR,
    DEFAULT_K,
    DEFAULT_WINDOW,
    AttributionIndex,
    build_attribution_index,
    normalize,
)

DEFAULT_WORK = ROOT / "bench-out" / "attribution"
DEFAULT_JSON = ROOT / "bench-out" / "attribution.json"
CORPUS_VERSION = 1
MB = 1_000_000
MAX_FILE_BYTES = 1_000_000
ROW_GROUP_ROWS = 2048
SHARD_BYTES = 32 * MB
SPAN = 200
WHITESPACE = r"[ \t\n\r\f\v]+"


# ---------------------------------------------------------------------------------------------
# Corpus


def read_text(path: Path) -> str | None:
    try:
        if not 0 < path.stat().st_size <= MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return None if "\x00" in text else text


def distribution_licenses() -> dict[str, str]:
    """Top-level package -> the license its distribution declares (``License-Expression``/``License``)."""
    from importlib import metadata

    licenses: dict[str, str] = {}
    for package, dists in metadata.packages_distributions().items():
        try:
            meta = metadata.metadata(dists[0])
        except metadata.PackageNotFoundError:
            continue
        value = meta.get("License-Expression") or meta.get("License") or ""
        value = value.strip().splitlines()[0] if value.strip() else ""
        licenses[package] = value[:80] if value and value.upper() != "UNKNOWN" else "NOASSERTION"
    return licenses


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def python_files(root: Path, skip_site_packages: bool = False) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d
            for d in dirnames
            if d != "__pycache__" and not (skip_site_packages and d in ("site-packages", "dist-packages"))
        ]
        found.extend(Path(dirpath) / f for f in filenames if f.endswith(".py"))
    return found


def path_order(root: Path, paths: list[Path]) -> list[Path]:
    """A fixed pseudo-random order (hash of the relative path): a sample spread over every package."""
    return sorted(paths, key=lambda p: hashlib.sha1(str(p.relative_to(root)).encode()).digest())


def make_corpus(work: Path, target_mb: float, max_files: int, rebuild: bool) -> dict[str, Any]:
    """Parquet shards of site-packages code under ``work/release/data`` (reused when the same)."""
    release = work / "release"
    key = {"version": CORPUS_VERSION, "mb": target_mb, "files": max_files, "root": str(site_packages())}
    stamp = release / "corpus.json"
    if not rebuild and stamp.is_file():
        saved = json.loads(stamp.read_text())
        if saved.get("key") == key and all((release / s).is_file() for s in saved["shards"]):
            return saved
    shutil.rmtree(release, ignore_errors=True)
    (release / "data").mkdir(parents=True)
    root = site_packages()
    licenses = distribution_licenses()
    rows: dict[str, list[Any]] = {"repo": [], "path": [], "content": [], "license": []}
    shards: list[str] = []
    total = 0
    pending = 0

    def flush() -> None:
        nonlocal pending
        if not rows["path"]:
            return
        name = f"data/part-{len(shards):05d}.parquet"
        table = pa.table(
            {
                "repo": pa.array(rows["repo"], pa.string()),
                "path": pa.array(rows["path"], pa.string()),
                "content": pa.array(rows["content"], pa.string()),
                "license": pa.array(rows["license"], pa.string()),
            }
        )
        tmp = release / f"{name}.tmp"
        pq.write_table(
            table,
            tmp,
            row_group_size=ROW_GROUP_ROWS,
            compression="zstd",
            compression_level=3,
            use_dictionary=["repo", "license"],
        )
        os.replace(tmp, release / name)
        shards.append(name)
        for column in rows.values():
            column.clear()
        pending = 0

    files = 0
    for path in path_order(root, python_files(root)):
        if total >= target_mb * MB or (max_files and files >= max_files):
            break
        text = read_text(path)
        if text is None:
            continue
        rel = path.relative_to(root)
        package = rel.parts[0].removesuffix(".py")
        rows["repo"].append(f"pypi/{package}")
        rows["path"].append(str(rel))
        rows["content"].append(text)
        rows["license"].append(licenses.get(package, "NOASSERTION"))
        size = len(text.encode("utf-8"))
        total += size
        pending += size
        files += 1
        if pending >= SHARD_BYTES:
            flush()
    flush()
    info = {
        "key": key,
        "shards": shards,
        "files": files,
        "content_bytes": total,
        "parquet_bytes": sum((release / s).stat().st_size for s in shards),
    }
    stamp.write_text(json.dumps(info, indent=2))
    return info


# ---------------------------------------------------------------------------------------------
# Queries


def sample_spans(
    rng: random.Random, texts: list[tuple[str, str, str]], count: int, min_chars: int
) -> list[tuple[str, str, str]]:
    """``count`` (repo, path, span) of SPAN raw characters whose normalised form is at least ``min_chars``."""
    usable = [t for t in texts if len(t[2]) >= SPAN]
    spans: list[tuple[str, str, str]] = []
    while len(spans) < count:
        repo, path, text = rng.choice(usable)
        start = rng.randrange(len(text) - SPAN + 1)
        span = text[start : start + SPAN]
        if len(normalize(span)) >= min_chars:
            spans.append((repo, path, span))
    return spans


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def timed_queries(
    index: AttributionIndex, spans: list[tuple[str, str, str]], whole: bool = False
) -> tuple[list[float], list[Any]]:
    """Each span asked with the default ``min_overlap``, or (``whole``) for whole-snippet matches only."""
    seconds: list[float] = []
    answers: list[Any] = []
    for _, _, span in spans:
        start = time.perf_counter()
        answers.append(index.query(span, min_overlap=len(span) if whole else None))
        seconds.append(time.perf_counter() - start)
    return seconds, answers


def duckdb_scan(shards: list[Path], queries: list[str]) -> tuple[list[float], list[set[tuple[str, str]]]]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    files = [str(s) for s in shards]
    sql = (
        "SELECT repo, path FROM read_parquet(?) "
        f"WHERE contains(regexp_replace(content, '{WHITESPACE}', ' ', 'g'), ?)"
    )
    seconds, answers = [], []
    for q in queries:
        start = time.perf_counter()
        found = con.execute(sql, [files, q]).fetchall()
        seconds.append(time.perf_counter() - start)
        answers.append({(r, p) for r, p in found})
    return seconds, answers


def arrow_scan(table: pa.Table, normalized: pa.Array, queries: list[str]) -> tuple[list[float], list[set]]:
    seconds, answers = [], []
    for q in queries:
        start = time.perf_counter()
        mask = pc.match_substring(normalized, q)
        hits = table.filter(mask).select(["repo", "path"]).to_pylist()
        seconds.append(time.perf_counter() - start)
        answers.append({(h["repo"], h["path"]) for h in hits})
    return seconds, answers


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=100, help="content to index (MB, default 100)")
    parser.add_argument("--files", type=int, default=0, help="at most this many files (0: no limit)")
    parser.add_argument("--queries", type=int, default=1000, help="spans per query set (default 1000)")
    parser.add_argument(
        "--peer-queries",
        type=int,
        default=10,
        help="queries per set given to the brute-force peers (default 10)",
    )
    parser.add_argument("--k", type=int, default=DEFAULT_K)
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    parser.add_argument("--fpr", type=float, default=DEFAULT_FPR)
    parser.add_argument("--block-bytes", type=int, default=DEFAULT_BLOCK_BYTES)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--json-out", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--rebuild-corpus", action="store_true")
    args = parser.parse_args()

    print(
        f"corpus: site-packages .py files, up to {args.mb:g} MB"
        + (f" / {args.files} files" if args.files else ""),
        flush=True,
    )
    corpus = make_corpus(args.work, args.mb, args.files, args.rebuild_corpus)
    release = args.work / "release"
    shards = [release / s for s in corpus["shards"]]
    print(
        f"  {corpus['files']:,} files, {corpus['content_bytes'] / MB:.1f} MB content, "
        f"{corpus['parquet_bytes'] / MB:.1f} MB Parquet in {len(shards)} shard(s)",
        flush=True,
    )

    index_dir = args.work / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    start = time.perf_counter()
    build = build_attribution_index(
        shards, index_dir, k=args.k, window=args.window, fpr=args.fpr, block_bytes=args.block_bytes
    )
    build_seconds = time.perf_counter() - start
    index = AttributionIndex.open(index_dir)
    index_bytes = sum(p.stat().st_size for p in index_dir.iterdir())
    print(
        f"index: {build['blocks']} blocks, {index_bytes / MB:.2f} MB, built in {build_seconds:.1f} s",
        flush=True,
    )

    # Everything in memory once: the sampling source, the ground truth and the in-memory peer.
    table = pa.concat_tables([pq.read_table(s, columns=["repo", "path", "content"]) for s in shards])
    normalized = pc.utf8_trim(
        pc.replace_substring_regex(table.column("content").combine_chunks(), WHITESPACE, " "), " "
    )
    texts = list(
        zip(
            table.column("repo").to_pylist(),
            table.column("path").to_pylist(),
            table.column("content").to_pylist(),
            strict=True,
        )
    )
    joined = b"\x00".join(s.encode("utf-8") for s in normalized.to_pylist())

    rng = random.Random(args.seed)
    minimum = index.min_query_chars
    inside = sample_spans(rng, texts, args.queries, minimum)

    std_root = stdlib()
    outside_texts = []
    for path in path_order(std_root, python_files(std_root, skip_site_packages=True)):
        text = read_text(path)
        if text is not None:
            outside_texts.append(("python/stdlib", str(path.relative_to(std_root)), text))
    candidates = sample_spans(rng, outside_texts, int(args.queries * 1.3) + 20, minimum)
    truth_seconds: list[float] = []
    outside, present = [], 0
    for span in candidates:
        start = time.perf_counter()
        occurs = joined.find(normalize(span[2]).encode("utf-8")) >= 0
        truth_seconds.append(time.perf_counter() - start)
        if occurs:
            present += 1
        elif len(outside) < args.queries:
            outside.append(span)
    print(
        f"queries: {len(inside)} indexed spans, {len(outside)} non-indexed spans "
        f"({present} stdlib spans that occur in the data were left out)",
        flush=True,
    )

    # Recall.
    inside_seconds, inside_answers = timed_queries(index, inside)
    found = sum(
        any(m.exact and (m.repo, m.path) == (repo, path) for m in answer)
        for (repo, path, _), answer in zip(inside, inside_answers, strict=True)
    )
    # False positives.
    outside_seconds, outside_answers = timed_queries(index, outside)
    answer_fp = sum(any(m.exact for m in answer) for answer in outside_answers)
    partial = sum(bool(answer) for answer in outside_answers)
    filter_fp = sum(
        bool(index.candidates(span, min_overlap=len(normalize(span))).shape[0]) for _, _, span in outside
    )
    blocks_inside = [index.candidates(span).shape[0] for _, _, span in inside]
    blocks_outside = [index.candidates(span).shape[0] for _, _, span in outside]

    # Peers on a subset, answers checked against the index's whole-snippet matches.
    peer_spans = inside[: args.peer_queries] + outside[: args.peer_queries]
    peer_queries = [normalize(s) for _, _, s in peer_spans]
    peer_answers = inside_answers[: args.peer_queries] + outside_answers[: args.peer_queries]
    expected = [{(m.repo, m.path) for m in answer if m.exact} for answer in peer_answers]
    duck_seconds, duck_found = duckdb_scan(shards, peer_queries)
    arrow_seconds, arrow_found = arrow_scan(table, normalized, peer_queries)
    agree = duck_found == expected and arrow_found == expected

    # The "is the whole snippet in?" question on a subset: no partial search, fewer blocks to read.
    whole_count = min(len(inside), len(outside), 300)
    whole_seconds = timed_queries(index, inside[:whole_count], whole=True)[0]
    whole_seconds += timed_queries(index, outside[:whole_count], whole=True)[0]
    all_seconds = inside_seconds + outside_seconds
    p50, p95 = percentile(all_seconds, 50), percentile(all_seconds, 95)
    duck_p50 = percentile(duck_seconds, 50)
    results = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "corpus": {k: corpus[k] for k in ("files", "content_bytes", "parquet_bytes")}
        | {"shards": len(shards)},
        "parameters": build["parameters"],
        "build": {
            "seconds": round(build_seconds, 3),
            "mb_per_s": round(corpus["content_bytes"] / MB / build_seconds, 1),
            "blocks": build["blocks"],
            "fingerprints": build["fingerprints"],
            "index_bytes": index_bytes,
            "index_pct_of_content": round(100 * index_bytes / corpus["content_bytes"], 2),
            "index_pct_of_parquet": round(100 * index_bytes / corpus["parquet_bytes"], 2),
        },
        "recall": {"queries": len(inside), "found": found, "recall": round(found / len(inside), 4)},
        "false_positives": {
            "queries": len(outside),
            "excluded_present": present,
            "filter_fp_rate": round(filter_fp / len(outside), 4),
            "answer_fp_rate": round(answer_fp / len(outside), 4),
            "with_partial_matches": partial,
        },
        "latency_ms": {
            "p50": round(1000 * p50, 2),
            "p95": round(1000 * p95, 2),
            "indexed_p50": round(1000 * percentile(inside_seconds, 50), 2),
            "indexed_p95": round(1000 * percentile(inside_seconds, 95), 2),
            "not_indexed_p50": round(1000 * percentile(outside_seconds, 50), 2),
            "not_indexed_p95": round(1000 * percentile(outside_seconds, 95), 2),
            "blocks_confirmed_mean_indexed": round(float(np.mean(blocks_inside)), 2),
            "blocks_confirmed_mean_not_indexed": round(float(np.mean(blocks_outside)), 2),
            "whole_snippet_queries": len(whole_seconds),
            "whole_snippet_p50": round(1000 * percentile(whole_seconds, 50), 2),
            "whole_snippet_p95": round(1000 * percentile(whole_seconds, 95), 2),
        },
        "peers_ms": {
            "queries": len(peer_queries),
            "answers_agree": agree,
            "duckdb_parquet_scan_p50": round(1000 * duck_p50, 1),
            "duckdb_parquet_scan_p95": round(1000 * percentile(duck_seconds, 95), 1),
            "arrow_in_memory_scan_p50": round(1000 * percentile(arrow_seconds, 50), 1),
            "bytes_find_in_memory_p50": round(1000 * percentile(truth_seconds, 50), 2),
            "duckdb_over_index_p50_ratio": round(duck_p50 / p50, 1) if p50 else None,
        },
    }

    rows = [
        (
            "content / Parquet",
            f"{corpus['content_bytes'] / MB:.1f} MB / {corpus['parquet_bytes'] / MB:.1f} MB "
            f"({corpus['files']:,} files)",
        ),
        (
            "index parameters",
            f"k={args.k} window={args.window} fpr={args.fpr} block={args.block_bytes // 1024} KiB",
        ),
        (
            "index build",
            f"{build_seconds:.1f} s ({results['build']['mb_per_s']} MB/s), {build['blocks']} blocks",
        ),
        (
            "index size",
            f"{index_bytes / MB:.2f} MB = {results['build']['index_pct_of_content']}% of content, "
            f"{results['build']['index_pct_of_parquet']}% of Parquet",
        ),
        ("recall (indexed spans)", f"{found}/{len(inside)} = {found / len(inside):.4f}"),
        ("filter FP (not indexed)", f"{filter_fp}/{len(outside)} = {filter_fp / len(outside):.4f}"),
        ("answer FP (not indexed)", f"{answer_fp}/{len(outside)} = {answer_fp / len(outside):.4f}"),
        (
            "partial matches (not indexed)",
            f"{partial}/{len(outside)} spans share >= default min_overlap chars",
        ),
        ("index query p50 / p95", f"{1000 * p50:.1f} / {1000 * p95:.1f} ms"),
        (
            "  indexed / not indexed p50",
            f"{results['latency_ms']['indexed_p50']} / {results['latency_ms']['not_indexed_p50']} ms",
        ),
        (
            "  blocks confirmed / query",
            f"{results['latency_ms']['blocks_confirmed_mean_indexed']} / "
            f"{results['latency_ms']['blocks_confirmed_mean_not_indexed']}",
        ),
        (
            "whole-snippet query p50 / p95",
            f"{results['latency_ms']['whole_snippet_p50']} / {results['latency_ms']['whole_snippet_p95']} ms "
            f"({len(whole_seconds)} queries, half not indexed)",
        ),
        (
            "DuckDB Parquet scan p50 / p95",
            f"{1000 * duck_p50:.1f} / {1000 * percentile(duck_seconds, 95):.1f} ms "
            f"({len(peer_queries)} queries)",
        ),
        ("Arrow in-memory scan p50", f"{1000 * percentile(arrow_seconds, 50):.1f} ms"),
        ("bytes.find in-memory p50", f"{1000 * percentile(truth_seconds, 50):.2f} ms (whole corpus in RAM)"),
        ("DuckDB scan / index p50", f"{results['peers_ms']['duckdb_over_index_p50_ratio']}x"),
        ("peer answers agree", str(agree)),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.json_out}")


if __name__ == "__main__":
    main()
