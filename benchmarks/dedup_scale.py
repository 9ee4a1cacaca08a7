"""Dedup at scale: `stackwright dedup` on a synthetic dataset of millions of files, time and peak RSS.

The dataset (cached under ``bench-out/dedup-scale/``) is written directly as stackwright Parquet
shards with a manifest: each file is ``--tokens`` words drawn from a 20,000-word vocabulary, laid out
in lines; 10% of the files are exact copies of earlier ones and 10% are near copies (2% of their
words replaced, about Jaccard 0.8 on word 5-grams). The dedup runs as a subprocess; the resident
memory of its whole process tree (driver and workers) is sampled every 0.2 s and the peak is
reported.

    .venv/bin/python benchmarks/dedup_scale.py --files 2000000
    .venv/bin/python benchmarks/dedup_scale.py --files 100000      # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench-out" / "dedup-scale"
SHARD_ROWS = 100_000


def make_dataset(folder: Path, files: int, tokens: int, seed: int) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        return json.loads(manifest_path.read_text())
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}_{rng.integers(1 << 30):x}" for i in range(20_000)], dtype=object)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    shards = []
    made = 0
    index = 0
    while made < files:
        n = min(SHARD_ROWS, files - made)
        words = rng.integers(0, vocab.size, size=(n, tokens))
        kind = rng.random(n)
        # Exact (10%) and near (10%) copies of an earlier row of the same shard.
        src = (rng.random(n) * np.maximum(np.arange(n), 1)).astype(np.int64)
        exact = (kind < 0.10) & (np.arange(n) > 0)
        near = (kind >= 0.10) & (kind < 0.20) & (np.arange(n) > 0)
        words[exact] = words[src[exact]]
        words[near] = words[src[near]]
        changed = rng.random((n, tokens)) < 0.02  # about Jaccard 0.8 on word 5-grams
        mask = near[:, None] & changed
        words[mask] = rng.integers(0, vocab.size, size=int(mask.sum()))
        contents = []
        for row in words:
            w = vocab[row]
            contents.append("\n".join(" ".join(w[i:i + 8]) for i in range(0, tokens, 8)))
        table = pa.table({
            "repo": pa.array([f"synthetic/repo{(made + i) // 50}" for i in range(n)]),
            "path": pa.array([f"src/file{made + i}.py" for i in range(n)]),
            "commit": pa.nulls(n, pa.string()),
            "content": pa.array(contents),
            "size_bytes": pa.array([len(c) for c in contents], pa.int64()),
            "extension": pa.array(["py"] * n),
            "declared_license": pa.nulls(n, pa.string()),
        })
        path = folder / "data" / f"part-{index:05d}.parquet"
        pq.write_table(table, path, compression="zstd", compression_level=1)
        shards.append({"path": f"data/{path.name}", "rows": n, "content_bytes": sum(map(len, contents)),
                       "bytes": path.stat().st_size, "sha256": ""})
        made += n
        index += 1
        print(f"  generated {made:,} files", flush=True)
    manifest = {"format_version": 1, "tool": {"name": "benchmarks/dedup_scale.py"}, "sources": [],
                "rows": files, "content_bytes": sum(s["content_bytes"] for s in shards), "shards": shards,
                "steps": {}, "counts": {}}
    manifest_path.write_text(json.dumps(manifest))
    return manifest


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    total = 0
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            pass
        stack.extend(children.get(p, []))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2_000_000)
    parser.add_argument("--tokens", type=int, default=96, help="words per file")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    folder = WORK / f"data-{args.files}-{args.tokens}"
    started = time.perf_counter()
    manifest = make_dataset(folder, args.files, args.tokens, args.seed)
    print(f"dataset: {manifest['rows']:,} files, {manifest['content_bytes'] / 1e9:.2f} GB "
          f"({time.perf_counter() - started:.0f} s to make or load)")
    out = WORK / f"out-{args.files}-{args.tokens}"
    cmd = [sys.executable, "-m", "stackwright.cli", "dedup", str(folder), "--out", str(out), "--overwrite",
           "--workers", str(args.workers), "--json"]
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"dedup failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    report = json.loads(stdout)
    result = {
        "files": manifest["rows"], "gigabytes": round(manifest["content_bytes"] / 1e9, 3),
        "workers": args.workers, "seconds": round(seconds, 1),
        "files_per_s": round(manifest["rows"] / seconds),
        "peak_rss_gb": round(peak / 1e9, 2), "removed": report["removed"],
        "removed_exact": report["removed_exact"], "removed_near": report["removed_near"],
        "clusters": report["clusters"],
    }
    print(json.dumps(result, indent=2))
    (ROOT / "bench-out").mkdir(exist_ok=True)
    (ROOT / "bench-out" / f"dedup-scale-{args.files}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
