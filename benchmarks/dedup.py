"""Near-deduplication benchmark: stackwright dedup, datasketch and datatrove on the same files, in one run.

The corpus is real Python code with real near-duplicates: the standard libraries of every Python
version installed with pyenv, the site-packages of those versions and of the virtual environments
found on this machine (the same packages at the same or other versions), side by side, plus
*planted* copies of a random sample of files with small edits (identifiers renamed, lines inserted
or deleted, comments changed) at four levels, so that some land above and some below Jaccard 0.7.
Files are chosen by relative path (hash order), every installed copy of a chosen path coming in,
so the duplicate density is about the same at every corpus size. It is written once as JSONL
(``repo``, ``path``, ``content``; two files, one per worker) and as a stackwright dataset (built
from that JSONL with ``stackwright build --steps drop_empty``), cached under ``--work``.

Ground truth, on the shingles every tool is asked to use (tokens split on ``[^A-Za-z_0-9]``, word
5-grams; files with fewer than 5 tokens only count as duplicates of identical copies): exact
Jaccard of every candidate pair from a MinHash LSH built for recall (48 bands x 3 rows; a pair
with Jaccard 0.7 is missed with probability (1 - 0.7^3)^48 < 2e-9), candidates whose signature
estimate is at least 0.45 (6.5 standard deviations below 0.7) checked exactly. True duplicates:
files with an identical copy or a partner at Jaccard >= 0.7.

Timed end to end, each in its own process (start-up and imports included) with the peak RSS of
its process tree sampled from /proc:

* datasketch: ``MinHash(num_perm=256)`` per file fed with the shingles' bytes (``update_batch``,
  permutations made once), hashed in a pool of N worker processes, ``MinHashLSH(threshold=0.7,
  num_perm=256)`` (it picks 25 bands x 10 rows), insert all, query each, union-find; the kept files
  written as zstd Parquet;
* datatrove: ``MinhashDedupSignature -> MinhashDedupBuckets -> MinhashDedupCluster ->
  MinhashDedupFilter`` with ``MinhashConfig(n_grams=5, num_buckets=25, hashes_per_bucket=10)``
  (the operating point datasketch picks for 0.7 and BigCode used), the same tokens (a word
  tokenizer splitting on ``[^A-Za-z_0-9]``, text normalisation off), ``LocalPipelineExecutor`` with
  N tasks/workers (one task per bucket in stage 2, one task in stage 3, as datatrove requires);
* stackwright: ``stackwright dedup DATASET --out OUT --threshold 0.7 --num-perm 256 --workers N``.

Each is scored the same way: document level (a file in a predicted cluster of size >= 2 against
the true duplicates: precision, recall, F1) and pair level (a sample of at most 200k predicted
same-cluster pairs checked against exact Jaccard; recall over all true pairs).

    .venv/bin/python benchmarks/dedup.py              # 100k files
    .venv/bin/python benchmarks/dedup.py --quick      # 10k files, a few minutes

The module's top level imports the standard library only (worker processes re-import it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import METADATA_DIRS, SKIP_DIRS, clean_name, text_file

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORK = ROOT / "bench-out" / "dedup"
DEFAULT_JSON = ROOT / "bench-out" / "dedup.json"
CORPUS_VERSION = 1
TRUTH_VERSION = 1
MB = 1_000_000
THRESHOLD = 0.7
NGRAM = 5
NUM_PERM = 256
TOKEN_SPLIT = re.compile(r"[^A-Za-z_0-9]")
SKIP_PARTS = ("licensedcode/data/",)  # ScanCode's rule texts: tens of thousands of tiny near-copies
# Planted edits: (identifiers renamed, share of lines edited) per level.
PLANT_LEVELS = {"light": (1, 0.02), "medium": (2, 0.05), "heavy": (3, 0.10), "severe": (6, 0.20)}
GT_BANDS, GT_ROWS = 48, 3  # ground-truth candidates: P(miss | J=0.7) = (1 - 0.7**3)**48 < 2e-9
GT_ESTIMATE_MIN = 0.45
GT_BUCKET_PAIR_CAP = 2_000_000
PAIR_SAMPLE = 200_000
TOOLS = ("datasketch", "datatrove", "stackwright")


def tokens(text: str) -> list[str]:
    return [t for t in TOKEN_SPLIT.split(text) if t]


def shingles(text: str) -> set[str]:
    toks = tokens(text)
    return {" ".join(toks[i:i + NGRAM]) for i in range(len(toks) - NGRAM + 1)}


# --------------------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Source:
    repo: str  # repository name in the tables, ``owner/name``
    root: Path
    kind: str  # stdlib | site-packages


def find_sources() -> list[Source]:
    """Standard libraries of the pyenv versions, their site-packages, and the virtual environments under
    /tmp, /root and this project (``.venv``), each once (by real path)."""
    found: list[Source] = []
    seen: set[Path] = set()

    def add(repo: str, root: Path, kind: str) -> None:
        real = root.resolve()
        if root.is_dir() and real not in seen:
            seen.add(real)
            found.append(Source(repo, root, kind))

    add("venv/stackwright", Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        / "site-packages", "site-packages")
    pyenv = Path("/root/.pyenv/versions")
    for version in sorted(pyenv.glob("*")) if pyenv.is_dir() else []:
        for lib in sorted(version.glob("lib/python[0-9].*")):
            add(f"python/cpython-{version.name}", lib, "stdlib")
            add(f"site-packages/python-{version.name}", lib / "site-packages", "site-packages")
    for pattern in ("/tmp/*/lib/python3*/site-packages", "/tmp/*/.venv/lib/python3*/site-packages",
                    "/root/*/lib/python3*/site-packages", "/root/*/.venv/lib/python3*/site-packages"):
        for root in sorted(Path("/").glob(pattern.lstrip("/"))):
            parts = root.parts
            top = parts[2] if parts[1] in ("tmp", "root") else parts[1]
            add(f"venv/{top.strip('.') or 'env'}", root, "site-packages")
    return found


def list_paths(source: Source) -> Iterator[str]:
    """Relative paths of candidate text files (by name and size; content checked later)."""
    skip_suffixes = (".so", ".pyc", ".pyo", ".dll", ".dylib", ".a", ".o", ".exe", ".whl", ".zip", ".gz",
                     ".png")
    for folder, dirs, files in os.walk(source.root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(METADATA_DIRS))
        rel_dir = os.path.relpath(folder, source.root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        if any(p in rel_dir for p in SKIP_PARTS):
            dirs[:] = []
            continue
        for name in sorted(files):
            if name.endswith(skip_suffixes):
                continue
            rel = rel_dir + name
            if clean_name(rel):
                yield rel


def read_text(path: Path) -> str | None:
    """The content of a corpus-worthy file (ingest.text_file: UTF-8, no NUL, 0 < size <= 1 MB; not only
    whitespace, which stackwright's drop_empty would drop), else None."""
    if not text_file(path):
        return None
    text = path.read_bytes().decode("utf-8")
    return text if text.strip() else None


def key_order(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=8).digest()


def plant(text: str, level: str, rng: random.Random) -> str:
    """A copy of ``text`` with small edits: identifiers renamed everywhere, lines inserted, deleted or
    given a comment."""
    renames, share = PLANT_LEVELS[level]
    idents = sorted({t for t in tokens(text) if len(t) >= 4 and t[0].isalpha()})
    chosen = rng.sample(idents, min(renames, len(idents)))
    if chosen:
        mapping = {name: f"{name}_{rng.choice(['v2', 'new', 'impl', 'alt'])}" for name in chosen}
        text = re.sub(r"\b(" + "|".join(map(re.escape, chosen)) + r")\b", lambda m: mapping[m[0]], text)
    lines = text.split("\n")
    words = ["note", "changed", "see", "issue", "fixed", "upstream", "todo", "legacy", "refactor", "cleanup"]
    for _ in range(max(1, round(share * len(lines)))):
        i = rng.randrange(len(lines) + 1)
        op = rng.random()
        comment = "# " + " ".join(rng.choices(words, k=rng.randint(2, 6)))
        if op < 0.4:
            lines.insert(i, comment)
        elif op < 0.7 and len(lines) > 1:
            del lines[min(i, len(lines) - 1)]
        else:
            j = min(i, len(lines) - 1)
            lines[j] = lines[j].rstrip() + "  " + comment
    return "\n".join(lines)


@dataclass
class Corpus:
    root: Path
    rows: int
    counts: dict[str, int]  # files per source repository
    planted: dict[str, int]  # planted copies per level
    content_bytes: int

    @property
    def table(self) -> Path:
        return self.root / "table"

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def jsonl(self) -> list[Path]:
        return sorted(self.table.glob("part-*.jsonl"))


def load_rows(corpus: Corpus) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in corpus.jsonl:
        with open(path, encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    return rows


def make_corpus(work: Path, files: int, parts: int, planted_share: float, seed: int) -> Corpus:
    root = work / f"corpus-{files}"
    meta = root / "corpus.json"
    settings = {"version": CORPUS_VERSION, "files": files, "parts": parts, "planted_share": planted_share,
                "seed": seed}
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads(meta.read_text())
        if data["settings"] == settings and (root / "dataset" / ".done").exists():
            corpus = Corpus(root, data["rows"], data["counts"], data["planted"], data["content_bytes"])
            print(f"corpus: reusing {root} ({corpus.rows:,} files, {corpus.content_bytes / MB:.0f} MB)")
            return corpus
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    sources = find_sources()
    print(f"corpus: listing {len(sources)} source trees: " + ", ".join(s.repo for s in sources))
    by_key: dict[str, list[Source]] = {}
    for source in sources:
        for rel in list_paths(source):
            by_key.setdefault(rel, []).append(source)
    real_target = files - round(files * planted_share)
    rows: list[dict[str, str]] = []
    for rel in sorted(by_key, key=key_order):
        for source in by_key[rel]:
            text = read_text(source.root / rel)
            if text is not None:
                rows.append({"repo": source.repo, "path": rel, "content": text})
        if len(rows) >= real_target:
            break
    rows = rows[:real_target]
    rng = random.Random(seed)
    eligible = [r for r in rows if len(tokens(r["content"])) >= 50 and r["content"].count("\n") >= 10]
    levels = list(PLANT_LEVELS)
    planted: dict[str, int] = dict.fromkeys(levels, 0)
    n = 0
    for original in rng.sample(eligible, len(eligible)):
        if len(rows) >= files:
            break
        level = levels[n % len(levels)]
        text = plant(original["content"], level, rng)
        if text.strip():
            rows.append({"repo": f"planted/{level}", "path": f"{original['repo']}/{original['path']}",
                         "content": text})
            planted[level] += 1
            n += 1
    rng.shuffle(rows)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["repo"]] = counts.get(r["repo"], 0) + 1
    table = root / "table"
    table.mkdir()
    per_part = -(-len(rows) // parts)
    for p in range(parts):
        with open(table / f"part-{p:05d}.jsonl", "w", encoding="utf-8") as out:
            for r in rows[p * per_part:(p + 1) * per_part]:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
    content_bytes = sum(len(r["content"].encode()) for r in rows)
    corpus = Corpus(root, len(rows), counts, planted, content_bytes)
    print(f"corpus: {len(rows):,} files, {content_bytes / MB:.0f} MB; building the stackwright dataset")
    cmd = [str(stackwright_bin()), "build", *map(str, corpus.jsonl), "--out", str(corpus.dataset),
           "--steps", "drop_empty", "--no-progress", "--workers", str(parts)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"stackwright build failed:\n{proc.stdout}\n{proc.stderr}")
    built = dataset_rows(corpus.dataset)
    if built != len(rows):
        raise RuntimeError(f"the stackwright dataset holds {built} rows, the table {len(rows)}")
    (corpus.dataset / ".done").write_text("ok\n")
    meta.write_text(json.dumps({"settings": settings, "rows": len(rows), "counts": counts,
                                "planted": planted, "content_bytes": content_bytes}, indent=1))
    return corpus


def stackwright_bin() -> Path:
    return Path(sys.executable).with_name("stackwright")


def dataset_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(folder.glob("data/part-*.parquet")))


# --------------------------------------------------------------------------------------- ground truth


class Shingler:
    """Shingles as sorted unique uint64 arrays: token ids from a vocabulary, each id a random 64-bit
    value, a 5-gram the sum of its tokens' values times per-position odd multipliers (mod 2^64)."""

    def __init__(self, seed: int = 7) -> None:
        import numpy as np

        self.np = np
        self.vocab: dict[str, int] = {}
        self.rng = np.random.default_rng(seed)
        self.values = self.rng.integers(0, 2**63, size=1 << 16, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.mult = self.rng.integers(0, 2**63, size=NGRAM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)

    def __call__(self, text: str) -> Any:
        np = self.np
        vocab = self.vocab
        ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in TOKEN_SPLIT.split(text) if t),
                          dtype=np.int64)
        if len(vocab) > len(self.values):
            extra = self.rng.integers(0, 2**63, size=len(vocab) * 2 - len(self.values), dtype=np.uint64)
            self.values = np.concatenate([self.values, extra * np.uint64(2) + np.uint64(1)])
        n = len(ids) - NGRAM + 1
        if n <= 0:
            return np.empty(0, dtype=np.uint64)
        vals = self.values[ids]
        h = np.zeros(n, dtype=np.uint64)
        for k in range(NGRAM):
            h += vals[k:k + n] * self.mult[k]
        return np.unique(h)


def jaccard(a: Any, b: Any) -> float:
    import numpy as np

    if len(a) == 0 or len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


@dataclass
class Truth:
    gid: Any  # exact-content group per file (np.int64)
    group_size: Any  # files per group
    near: Any  # (M, 2) int64 pairs of groups, ga < gb, with Jaccard >= THRESHOLD (distinct contents)
    near_j: Any  # their Jaccard
    short: Any  # per group: fewer than NGRAM tokens
    stats: dict[str, Any] = field(default_factory=dict)

    def duplicate_files(self) -> Any:
        import numpy as np

        in_near = np.zeros(len(self.group_size), dtype=bool)
        in_near[self.near.ravel()] = True
        return (self.group_size[self.gid] >= 2) | in_near[self.gid]

    def pair_count(self) -> int:
        gs = self.group_size.astype(object)
        exact = sum(int(k) * (int(k) - 1) // 2 for k in gs)
        return exact + int(sum(int(gs[a]) * int(gs[b]) for a, b in self.near))


def compute_truth(corpus: Corpus, rows: list[dict[str, str]]) -> Truth:
    import numpy as np
    import xxhash

    cache = corpus.root / f"truth-v{TRUTH_VERSION}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        truth = Truth(z["gid"], z["group_size"], z["near"], z["near_j"], z["short"],
                      json.loads(str(z["stats"])))
        print(f"truth: reusing {cache}")
        return truth
    started = time.perf_counter()
    groups: dict[bytes, int] = {}
    gid = np.array([groups.setdefault(xxhash.xxh3_128_digest(r["content"].encode()), len(groups))
                    for r in rows], dtype=np.int64)
    reps = np.full(len(groups), -1, dtype=np.int64)
    reps[gid[::-1]] = np.arange(len(rows))[::-1]  # first file of each group
    group_size = np.bincount(gid, minlength=len(groups))
    shingler = Shingler()
    sh = [shingler(rows[i]["content"]) for i in reps]
    sizes = np.array([len(s) for s in sh], dtype=np.int64)
    short = sizes == 0
    long_groups = np.flatnonzero(~short)
    print(f"truth: {len(rows):,} files, {len(groups):,} distinct contents ({int(short.sum()):,} with fewer "
          f"than {NGRAM} tokens), {int(sizes.sum()):,} shingles; MinHash {GT_BANDS}x{GT_ROWS} for candidates")
    # MinHash signatures (multiply-shift permutations of the 64-bit shingle hashes, top 32 bits).
    perms = GT_BANDS * GT_ROWS
    rng = np.random.default_rng(11)
    a = rng.integers(0, 2**63, size=perms, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=perms, dtype=np.uint64)
    sig = np.zeros((len(long_groups), perms), dtype=np.uint32)
    chunk: list[int] = []
    total = 0

    def flush(members: list[int]) -> None:
        flat = np.concatenate([sh[long_groups[m]] for m in members])
        starts = np.zeros(len(members), dtype=np.int64)
        np.cumsum([len(sh[long_groups[m]]) for m in members[:-1]], out=starts[1:])
        for k in range(perms):
            v = ((flat * a[k] + b[k]) >> np.uint64(32)).astype(np.uint32)
            sig[members, k] = np.minimum.reduceat(v, starts)

    for m in range(len(long_groups)):
        chunk.append(m)
        total += len(sh[long_groups[m]])
        if total >= 4_000_000:
            flush(chunk)
            chunk, total = [], 0
    if chunk:
        flush(chunk)
    # LSH candidates with a length filter (J >= t needs min/max set size >= t) inside each bucket.
    long_sizes = sizes[long_groups]
    candidates: list[Any] = []
    capped = 0
    n_long = len(long_groups)
    for band in range(GT_BANDS):
        keys = np.ascontiguousarray(sig[:, band * GT_ROWS:(band + 1) * GT_ROWS]).view(
            np.dtype((np.void, 4 * GT_ROWS))).ravel()
        order = np.lexsort((long_sizes, keys))
        sk = keys[order]
        bounds = np.flatnonzero(np.concatenate([[True], sk[1:] != sk[:-1], [True]]))
        band_pairs: list[Any] = []
        for lo, hi in itertools.pairwise(bounds.tolist()):
            if hi - lo < 2:
                continue
            members = order[lo:hi]  # sorted by size
            msz = long_sizes[members]
            limit = np.searchsorted(msz, np.floor(msz / THRESHOLD), side="right")
            counts = limit - np.arange(1, len(members) + 1)
            counts = np.maximum(counts, 0)
            if counts.sum() > GT_BUCKET_PAIR_CAP:
                capped += 1
                counts = np.minimum(counts, GT_BUCKET_PAIR_CAP // len(members) + 1)
            left = np.repeat(np.arange(len(members)), counts)
            offs = np.arange(len(left)) - np.repeat(np.cumsum(counts) - counts, counts)
            right = left + 1 + offs
            x, y = members[left], members[right]
            band_pairs.append(np.minimum(x, y) * n_long + np.maximum(x, y))
        if band_pairs:
            candidates.append(np.unique(np.concatenate(band_pairs)))
        if len(candidates) > 4:
            candidates = [np.unique(np.concatenate(candidates))]
    cand = np.unique(np.concatenate(candidates)) if candidates else np.empty(0, dtype=np.int64)
    ca, cb = cand // n_long, cand % n_long
    keep = np.zeros(len(cand), dtype=bool)
    for s in range(0, len(cand), 1_000_000):
        est = (sig[ca[s:s + 1_000_000]] == sig[cb[s:s + 1_000_000]]).mean(axis=1)
        keep[s:s + 1_000_000] = est >= GT_ESTIMATE_MIN
    ca, cb = ca[keep], cb[keep]
    near, near_j = [], []
    for x, y in zip(ca.tolist(), cb.tolist(), strict=True):
        gx, gy = long_groups[x], long_groups[y]
        j = jaccard(sh[gx], sh[gy])
        if j >= THRESHOLD:
            near.append((min(gx, gy), max(gx, gy)))
            near_j.append(j)
    near_arr = np.array(near, dtype=np.int64).reshape(-1, 2)
    stats = {"distinct_contents": len(groups), "short_contents": int(short.sum()),
             "shingles": int(sizes.sum()), "lsh": f"{GT_BANDS}x{GT_ROWS}",
             "candidate_pairs": len(cand), "verified_pairs": len(ca),
             "estimate_min": GT_ESTIMATE_MIN, "buckets_capped": capped,
             "seconds": round(time.perf_counter() - started, 1)}
    if capped:
        print(f"truth: WARNING: {capped} LSH bucket(s) hit the cap of {GT_BUCKET_PAIR_CAP:,} pairs")
    truth = Truth(gid, group_size, near_arr, np.array(near_j), short, stats)
    np.savez(cache, gid=gid, group_size=group_size, near=near_arr, near_j=truth.near_j, short=short,
             stats=json.dumps(stats))
    return truth


# --------------------------------------------------------------------------------------- tools
# Each runs in its own process (``--run-tool``) and writes labels.npy: per corpus row (JSONL order) the
# cluster id (-1: no cluster) and kept.npy (bool).


def row_keys(corpus: Corpus) -> dict[tuple[str, str], int]:
    keys: dict[tuple[str, str], int] = {}
    for path in corpus.jsonl:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                keys[(r["repo"], r["path"])] = len(keys)
    return keys


_DS_STATE: dict[str, Any] = {}


def _ds_init(hash_name: str) -> None:
    import numpy as np
    import xxhash
    from datasketch import MinHash
    from datasketch.hashfunc import sha1_hash32

    _DS_STATE["hash"] = xxhash.xxh32_intdigest if hash_name == "xxh32" else sha1_hash32
    _DS_STATE["perms"] = MinHash(num_perm=NUM_PERM, scheme="affine32").permutations
    _DS_STATE["np"] = np


def _ds_minhash(batch: list[tuple[int, str]]) -> list[tuple[int, Any]]:
    from datasketch import MinHash

    out = []
    for index, text in batch:
        grams = shingles(text)
        if not grams:
            continue
        m = MinHash(num_perm=NUM_PERM, hashfunc=_DS_STATE["hash"], permutations=_DS_STATE["perms"],
                    scheme="affine32")
        m.update_batch([g.encode("utf-8") for g in grams])
        out.append((index, m.hashvalues))
    return out


def run_datasketch(corpus: Corpus, out: Path, workers: int, hash_name: str) -> dict[str, Any]:
    import multiprocessing as mp

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasketch import LeanMinHash, MinHashLSH

    rows = load_rows(corpus)
    batches = [[(i, rows[i]["content"]) for i in range(s, min(s + 256, len(rows)))]
               for s in range(0, len(rows), 256)]
    sigs: dict[int, Any] = {}
    if workers > 1:
        with mp.get_context("fork").Pool(workers, initializer=_ds_init, initargs=(hash_name,)) as pool:
            for part in pool.imap_unordered(_ds_minhash, batches):
                sigs.update(part)
    else:
        _ds_init(hash_name)
        for batch in batches:
            sigs.update(_ds_minhash(batch))
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    mins = {i: LeanMinHash(seed=1, hashvalues=hv, scheme="affine32") for i, hv in sigs.items()}
    with lsh.insertion_session() as session:
        for i, m in mins.items():
            session.insert(i, m)
    parent = list(range(len(rows)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in mins.items():
        for j in lsh.query(m):
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([find(i) for i in range(len(rows))])
    sizes = np.bincount(roots, minlength=len(rows))
    labels = np.where(sizes[roots] >= 2, roots, -1)
    kept = (labels < 0) | (roots == np.arange(len(rows)))
    (out / "data").mkdir(parents=True)
    keep_idx = np.flatnonzero(kept)
    table = pa.table({k: [rows[i][k] for i in keep_idx] for k in ("repo", "path", "content")})
    pq.write_table(table, out / "data" / "part-00000.parquet", compression="zstd")
    np.save(out / "labels.npy", labels)
    np.save(out / "kept.npy", kept)
    return {"lsh_bands": lsh.b, "lsh_rows": lsh.r, "hash": hash_name, "signatures": len(sigs)}


def _code_word_tokenizer() -> Any:
    from datatrove.utils.word_tokenizers import WordTokenizer

    class CodeWordTokenizer(WordTokenizer):
        """Tokens split on [^A-Za-z_0-9], as BigCode's script and the ground truth do."""

        def word_tokenize(self, text: str) -> list[str]:
            return tokens(text)

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [m.span() for m in re.finditer(r"[A-Za-z_0-9]+", text)]

    return CodeWordTokenizer("code")


def _xxh64_text(text: str) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(text.encode("utf-8"))


def run_datatrove(corpus: Corpus, out: Path, workers: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow.parquet as pq
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.text import TextNormConfig

    norm = TextNormConfig(lowercase=False, norm_whitespace=False, remove_punctuation=False,
                          norm_unicode_diacritics=False, norm_numbers=False)
    config = MinhashConfig(n_grams=NGRAM, num_buckets=25, hashes_per_bucket=10, norm_config=norm)
    tasks = len(corpus.jsonl)

    def reader() -> Any:
        return JsonlReader(str(corpus.table), text_key="content", glob_pattern="part-*.jsonl")

    def common(stage: str) -> dict[str, Any]:
        return {"skip_completed": False, "logging_dir": str(out / "logs" / stage)}

    signature = MinhashDedupSignature(str(out / "signatures"), config=config, language=_code_word_tokenizer())
    # datatrove 0.10's default hash (xxhash 64-bit) passes str to xxhash.xxh64_intdigest, which xxhash 4
    # refuses ("Strings must be encoded before hashing"): the same hash on the UTF-8 bytes.
    signature._hash_func = _xxh64_text
    stages = [
        LocalPipelineExecutor(pipeline=[reader(), signature],
            tasks=tasks, workers=workers, **common("signatures")),
        LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(str(out / "signatures"), str(out / "buckets"),
                                                            config=config)],
                              tasks=config.num_buckets, workers=workers, **common("buckets")),
        LocalPipelineExecutor(pipeline=[MinhashDedupCluster(str(out / "buckets"), str(out / "remove"),
                                                            config=config, save_cluster_id=True)],
                              tasks=1, workers=1, **common("cluster")),
        LocalPipelineExecutor(pipeline=[
            reader(),
            MinhashDedupFilter(str(out / "remove"), load_cluster_ids=True,
                               exclusion_writer=ParquetWriter(str(out / "removed"), compression="zstd")),
            ParquetWriter(str(out / "data"), compression="zstd")],
            tasks=tasks, workers=workers, **common("filter")),
    ]
    for i, stage in enumerate(stages):
        stage.run()
        print(f"datatrove: stage {i + 1} done", file=sys.stderr)
    keys = row_keys(corpus)
    labels = np.full(len(keys), -1, dtype=np.int64)
    kept = np.zeros(len(keys), dtype=bool)
    for folder, is_kept in (("data", True), ("removed", False)):
        for path in sorted((out / folder).rglob("*.parquet")):
            meta = pq.read_table(path, columns=["metadata"]).column("metadata").to_pylist()
            for m in meta:
                i = keys[(m["repo"], m["path"])]
                labels[i] = m.get("minhash_cluster_id", -1)
                kept[i] = is_kept
    np.save(out / "labels.npy", labels)
    np.save(out / "kept.npy", kept)
    return {"num_buckets": 25, "hashes_per_bucket": 10, "hash": "xxhash 64-bit (datatrove's default)",
            "tokenizer": "[^A-Za-z_0-9] split, normalisation off"}


def stackwright_labels(corpus: Corpus, out: Path) -> tuple[Any, Any]:
    import numpy as np
    import pyarrow.parquet as pq

    keys = row_keys(corpus)
    labels = np.full(len(keys), -1, dtype=np.int64)
    kept = np.zeros(len(keys), dtype=bool)
    clusters = pq.read_table(out / "dedup" / "clusters.parquet", columns=["repo", "path", "cluster", "kept"])
    said_kept = np.ones(len(keys), dtype=bool)
    for repo, path, cluster, is_kept in zip(
        *(clusters.column(c).to_pylist() for c in ("repo", "path", "cluster", "kept")), strict=True
    ):
        labels[keys[(repo, path)]] = cluster
        said_kept[keys[(repo, path)]] = is_kept
    for part in sorted(out.glob("data/part-*.parquet")):
        t = pq.read_table(part, columns=["repo", "path"])
        for repo, path in zip(t.column("repo").to_pylist(), t.column("path").to_pylist(), strict=True):
            kept[keys[(repo, path)]] = True
    if (mismatch := int((kept != said_kept).sum())):
        print(f"  stackwright: WARNING: {mismatch} files whose clusters.parquet kept disagrees with OUT/data")
    return labels, kept


def tool_main(args: argparse.Namespace) -> None:
    """Entry of a tool's own process."""
    data = json.loads(Path(args.run_tool).read_text())
    c = data["corpus"]
    corpus = Corpus(Path(c["root"]), c["rows"], c["counts"], c["planted"], c["content_bytes"])
    out = Path(data["out"])
    if data["tool"] == "datasketch":
        info = run_datasketch(corpus, out, data["workers"], data["hash"])
    else:
        info = run_datatrove(corpus, out, data["workers"])
    (out / "info.json").write_text(json.dumps(info))


class TreeSampler(threading.Thread):
    """Peak summed RSS of a process and its descendants, sampled from /proc every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.peak_single = 0
        self.stop = threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE")

    def tree_rss(self) -> tuple[int, int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read()
                ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            except (OSError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
        total = single = 0
        todo = [self.pid]
        while todo:
            pid = todo.pop()
            todo += children.get(pid, [])
            try:
                with open(f"/proc/{pid}/statm", "rb") as fh:
                    rss = int(fh.read().split()[1]) * self.page
            except (OSError, ValueError, IndexError):
                continue
            total += rss
            single = max(single, rss)
        return total, single

    def run(self) -> None:
        while not self.stop.is_set():
            total, single = self.tree_rss()
            self.peak = max(self.peak, total)
            self.peak_single = max(self.peak_single, single)
            self.stop.wait(0.05)


@dataclass
class Run:
    tool: str
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    peak_single_rss_mb: float = 0.0
    ok: bool = False
    note: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)


def timed(cmd: list[str], log: Path) -> tuple[float, int, int, int]:
    """(seconds, return code, peak tree RSS, peak single-process RSS) of ``cmd``."""
    with open(log, "wb") as fh:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        seconds = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
    return seconds, rc, sampler.peak, sampler.peak_single


def run_tool(tool: str, corpus: Corpus, args: argparse.Namespace) -> tuple[Run, Any, Any]:
    import numpy as np

    out = args.work / "runs" / f"{tool}-{corpus.rows}"
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    run = Run(tool)
    log = out.parent / f"{tool}-{corpus.rows}.log"
    if tool == "stackwright":
        cmd = [str(stackwright_bin()), "dedup", str(corpus.dataset), "--out", str(out), "--threshold",
               str(THRESHOLD), "--num-perm", str(NUM_PERM), "--workers", str(args.workers), "--json"]
    else:
        out.mkdir(parents=True)
        spec = out / "spec.json"
        spec.write_text(json.dumps({"tool": tool, "out": str(out), "workers": args.workers,
                                    "hash": args.datasketch_hash,
                                    "corpus": {"root": str(corpus.root), "rows": corpus.rows,
                                               "counts": corpus.counts, "planted": corpus.planted,
                                               "content_bytes": corpus.content_bytes}}))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--run-tool", str(spec)]
    seconds, rc, peak, single = timed(cmd, log)
    run.seconds, run.peak_rss_mb, run.peak_single_rss_mb = seconds, peak / MB, single / MB
    text = log.read_text(errors="replace")
    if rc != 0:
        run.note = f"exit {rc}: " + " | ".join(text.strip().splitlines()[-3:])[-400:]
        print(f"  {tool:<12} FAILED ({run.note}); log: {log}", flush=True)
        return run, None, None
    try:
        if tool == "stackwright":
            with contextlib.suppress(ValueError):
                run.info = json.loads(text[text.index("{"):])
            labels, kept = stackwright_labels(corpus, out)
        else:
            run.info = json.loads((out / "info.json").read_text())
            labels, kept = np.load(out / "labels.npy"), np.load(out / "kept.npy")
    except Exception as exc:  # an output that does not follow the contract
        run.note = f"unreadable output: {type(exc).__name__}: {exc}"
        print(f"  {tool:<12} FAILED ({run.note}); log: {log}", flush=True)
        return run, None, None
    run.ok = True
    print(f"  {tool:<12} {seconds:8.1f} s  peak RSS {run.peak_rss_mb:7.0f} MB (tree)", flush=True)
    return run, labels, kept


# --------------------------------------------------------------------------------------- scoring


def score(labels: Any, kept: Any, truth: Truth, rows: list[dict[str, str]], seed: int) -> dict[str, Any]:
    import numpy as np

    n = len(labels)
    labels = np.asarray(labels, dtype=np.int64)
    _, inverse, csize = np.unique(labels, return_inverse=True, return_counts=True)
    in_cluster = (labels >= 0) & (csize[inverse] >= 2)
    true_dup = truth.duplicate_files()
    tp = int((in_cluster & true_dup).sum())
    doc_p = tp / max(int(in_cluster.sum()), 1)
    doc_r = tp / max(int(true_dup.sum()), 1)
    long_files = ~truth.short[truth.gid]
    tp_long = int((in_cluster & true_dup & long_files).sum())
    # Pair recall over every true pair, weighted by exact-group sizes.
    cl = np.where(in_cluster, labels, -1 - np.arange(n))  # singletons: a label of their own
    gc: dict[tuple[int, int], int] = {}
    for g, c in zip(truth.gid.tolist(), cl.tolist(), strict=True):
        gc[(g, c)] = gc.get((g, c), 0) + 1
    by_group: dict[int, dict[int, int]] = {}
    for (g, c), m in gc.items():
        by_group.setdefault(g, {})[c] = m
    caught = sum(m * (m - 1) // 2 for (_, _), m in gc.items())
    for ga, gb in truth.near.tolist():
        da, db = by_group[ga], by_group[gb]
        if len(da) > len(db):
            da, db = db, da
        caught += sum(m * db.get(c, 0) for c, m in da.items())
    true_pairs = truth.pair_count()
    # Pair precision on a sample of predicted same-cluster pairs.
    rng = np.random.default_rng(seed)
    members: dict[int, list[int]] = {}
    for i in np.flatnonzero(in_cluster).tolist():
        members.setdefault(int(labels[i]), []).append(i)
    clusters = list(members.values())
    k = np.array([len(m) for m in clusters], dtype=np.int64)
    pairs_per = k * (k - 1) // 2
    predicted_pairs = int(pairs_per.sum())
    if predicted_pairs == 0:
        sample: list[tuple[int, int]] = []
    elif predicted_pairs <= PAIR_SAMPLE:
        sample = [(m[x], m[y]) for m in clusters for x in range(len(m)) for y in range(x + 1, len(m))]
    else:
        which = rng.choice(len(clusters), size=PAIR_SAMPLE, p=pairs_per / predicted_pairs)
        sample = []
        for c in which.tolist():
            x, y = rng.choice(len(clusters[c]), size=2, replace=False).tolist()
            sample.append((clusters[c][x], clusters[c][y]))
    near_set = set((truth.near[:, 0] * len(truth.group_size) + truth.near[:, 1]).tolist())
    shingler = Shingler()
    cache: dict[int, Any] = {}

    def sh(g: int, i: int) -> Any:
        if g not in cache:
            cache[g] = shingler(rows[i]["content"])
        return cache[g]

    good = missed = 0
    for i, j in sample:
        gi, gj = int(truth.gid[i]), int(truth.gid[j])
        if gi == gj or min(gi, gj) * len(truth.group_size) + max(gi, gj) in near_set:
            good += 1
        elif jaccard(sh(gi, i), sh(gj, j)) >= THRESHOLD:
            good += 1
            missed += 1  # a true pair the ground truth lacks
    pair_p = good / len(sample) if sample else 0.0
    pair_r = caught / max(true_pairs, 1)

    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r else 0.0

    return {
        "files": n, "removed": int(n - kept.sum()), "clusters": len(members),
        "files_in_clusters": int(in_cluster.sum()),
        "doc_precision": round(doc_p, 4), "doc_recall": round(doc_r, 4), "doc_f1": round(f1(doc_p, doc_r), 4),
        "doc_recall_5_tokens_or_more": round(tp_long / max(int((true_dup & long_files).sum()), 1), 4),
        "predicted_pairs": predicted_pairs, "pairs_sampled": len(sample),
        "pair_precision": round(pair_p, 4), "pair_recall": round(pair_r, 4),
        "pair_f1": round(f1(pair_p, pair_r), 4),
        "truth_misses_in_sample": missed,
    }


# --------------------------------------------------------------------------------------- report


def print_table(runs: list[Run], files: int) -> dict[str, float]:
    header = (f"{'tool':<13}{'seconds':>9}{'files/s':>9}{'peak MB':>9}{'removed':>9}{'clusters':>9}"
              f"{'prec':>7}{'recall':>7}{'F1':>7}{'pair P':>8}{'pair R':>8}")
    print()
    print(header)
    print("-" * len(header))
    for r in runs:
        if not r.ok:
            print(f"{r.tool:<13}  not run: {r.note}")
            continue
        s = r.scores
        print(f"{r.tool:<13}{r.seconds:>9.1f}{files / r.seconds:>9,.0f}{r.peak_rss_mb:>9.0f}"
              f"{s['removed']:>9,}{s['clusters']:>9,}{s['doc_precision']:>7.3f}{s['doc_recall']:>7.3f}{s['doc_f1']:>7.3f}"
              f"{s['pair_precision']:>8.3f}{s['pair_recall']:>8.3f}")
    print("(prec/recall/F1: duplicate class, per file; pair P on a sample of at most "
          f"{PAIR_SAMPLE:,} predicted pairs, pair R over all true pairs; peak MB: process tree)")
    ratios: dict[str, float] = {}
    ours = next((r for r in runs if r.tool == "stackwright" and r.ok), None)
    for other in runs:
        if ours and other.ok and other.tool != "stackwright":
            ratios[f"stackwright_over_{other.tool}"] = round(other.seconds / ours.seconds, 3)
            print(f"speed: stackwright / {other.tool} = {other.seconds / ours.seconds:.2f}x files/s")
    for r in runs:
        if r.ok and r.scores.get("truth_misses_in_sample"):
            print(f"note: {r.scores['truth_misses_in_sample']} sampled {r.tool} pairs have Jaccard >= "
                  f"{THRESHOLD} but are not in the ground truth")
    return ratios


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in ("stackwright", "datasketch", "datatrove", "numpy", "pyarrow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="work folder (corpus cache, runs)")
    parser.add_argument("--files", type=int, help="corpus files [default: 100,000; 10,000 with --quick]")
    parser.add_argument("--quick", action="store_true", help="small run (10k files)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per tool [default: 2]")
    parser.add_argument("--planted-share", type=float, default=0.05, help="share of planted edited copies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {TOOLS}")
    parser.add_argument("--datasketch-hash", choices=("xxh32", "sha1"), default="xxh32",
                        help="datasketch's hash function (sha1: its default and BigCode's) [default: xxh32]")
    parser.add_argument("--json-out", type=Path, default=DEFAULT_JSON, help="results file")
    parser.add_argument("--run-tool", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.files = args.files or (10_000 if args.quick else 100_000)
    args.work = args.work.resolve()
    args.tools = [t for t in TOOLS if t in {x.strip() for x in args.tools.split(",")}]
    if args.work.is_relative_to(ROOT / "src"):
        parser.error("--work must not be inside src/")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.run_tool:
        tool_main(args)
        return
    corpus = make_corpus(args.work, args.files, args.workers, args.planted_share, args.seed)
    for repo, count in sorted(corpus.counts.items()):
        print(f"  {repo:<40}{count:>8,}")
    rows = load_rows(corpus)
    truth = compute_truth(corpus, rows)
    true_dup = truth.duplicate_files()
    print(f"truth: {truth.pair_count():,} true pairs ({len(truth.near):,} between distinct contents); "
          f"{int(true_dup.sum()):,} of {corpus.rows:,} files are true duplicates; {truth.stats}")
    planted = planted_levels(rows, truth)
    for level, (above, below) in planted.items():
        print(f"  planted {level:<8} {above:>6,} at Jaccard >= {THRESHOLD} with their original, "
              f"{below:,} below")
    runs: list[Run] = []
    print(f"runs ({args.workers} workers each):")
    for tool in args.tools:
        run, labels, kept = run_tool(tool, corpus, args)
        if run.ok:
            run.scores = score(labels, kept, truth, rows, args.seed)
        runs.append(run)
    ratios = print_table(runs, corpus.rows)
    data = {
        "command": [sys.executable, *sys.argv],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions()},
        "corpus": {"path": str(corpus.root), "files": corpus.rows,
                   "content_mb": round(corpus.content_bytes / MB, 1), "per_source": corpus.counts,
                   "planted": corpus.planted},
        "truth": {**truth.stats, "true_pairs": truth.pair_count(), "near_pairs_distinct": len(truth.near),
                  "duplicate_files": int(true_dup.sum()),
                  "planted_above_below": {k: list(v) for k, v in planted.items()}},
        "settings": {"threshold": THRESHOLD, "ngram": NGRAM, "num_perm": NUM_PERM, "workers": args.workers,
                     "datasketch_hash": args.datasketch_hash, "timing": "wall clock of the tool's process"},
        "results": [{"tool": r.tool, "ok": r.ok, "note": r.note, "seconds": round(r.seconds, 2),
                     "files_per_s": round(corpus.rows / r.seconds, 1) if r.ok else None,
                     "peak_rss_mb": round(r.peak_rss_mb, 1), "peak_single_process_rss_mb":
                     round(r.peak_single_rss_mb, 1), **r.scores, "info": r.info} for r in runs],
        "speed_ratios": ratios,
    }
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"results: {args.json_out}")


def planted_levels(rows: list[dict[str, str]], truth: Truth) -> dict[str, tuple[int, int]]:
    """Per level: planted copies at Jaccard >= THRESHOLD with their original, and below."""
    index = {(r["repo"], r["path"]): i for i, r in enumerate(rows)}
    near = set(map(tuple, truth.near.tolist()))
    result: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if not r["repo"].startswith("planted/"):
            continue
        level = r["repo"].partition("/")[2]
        owner, name, path = r["path"].split("/", 2)
        j = index[(f"{owner}/{name}", path)]
        gi, gj = int(truth.gid[i]), int(truth.gid[j])
        hit = gi == gj or (min(gi, gj), max(gi, gj)) in near
        result.setdefault(level, [0, 0])[0 if hit else 1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(result.items())}


if __name__ == "__main__":
    main()
