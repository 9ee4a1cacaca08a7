"""Exact and near deduplication: signatures, banding, the map -> shuffle -> reduce pass, the CLI."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error, build_ok, read_rows, run_cli, write
from stackwright.dedup.lsh import optimal_bands
from stackwright.dedup.minhash import EMPTY, shingle_hashes, signatures


def shingle_set(text: str, n: int = 5) -> set[str]:
    tokens = [t for t in re.split(r"[^A-Za-z_0-9]", text) if t]
    return {" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def python_module(seed: int, lines: int = 120) -> str:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "value", "result", "config", "index", "item", "count",
             "parse", "token", "buffer", "stream", "node", "tree", "graph", "edge", "weight", "score"]
    out = []
    for i in range(lines):
        a, b, c = rng.sample(words, 3)
        out.append(f"def {a}_{i}({b}, {c}):\n    return {b} * {rng.randint(1, 99)} + {c}_{seed}\n")
    return "\n".join(out)


def edit(text: str, changes: int, seed: int) -> str:
    rng = random.Random(seed)
    lines = text.split("\n")
    for _ in range(changes):
        i = rng.randrange(len(lines))
        lines[i] = lines[i] + f"  # changed {rng.randint(0, 10**6)}"
    return "\n".join(lines)


def test_tokens_and_shingles_match_the_reference_split() -> None:
    texts = ["def f(x):\n    return x+1  # done", "héllo wörld_1 a.b.c d e f", "short one", "",
             python_module(1, 5)]
    _, offsets = shingle_hashes(texts, 5, 5)
    counts = np.diff(offsets)
    for text, count in zip(texts, counts, strict=True):
        tokens = [t for t in re.split(r"[^A-Za-z_0-9]", text) if t]
        assert count == (len(tokens) - 4 if len(tokens) >= 5 else 0)


def test_signature_agreement_estimates_jaccard() -> None:
    base = python_module(7)
    variants = [edit(base, k, k) for k in (2, 10, 30, 60, 120)]
    sig = signatures([base, *variants], num_perm=256)
    errors = []
    for i, variant in enumerate(variants, start=1):
        a, b = shingle_set(base), shingle_set(variant)
        truth = len(a & b) / len(a | b)
        errors.append(float(np.mean(sig[0] == sig[i])) - truth)
    assert max(abs(e) for e in errors) < 0.1  # 256 positions: standard error about 0.03
    assert (signatures([base], 256) == signatures([base], 256)).all()  # deterministic
    assert (signatures(["a b c"], 16) == EMPTY).all()  # fewer than 5 tokens: no signature


def test_bands_follow_the_threshold() -> None:
    assert optimal_bands(0.7, 256) == (25, 10)  # StarCoder used 25 x 10 (250 permutations)
    bands, rows = optimal_bands(0.85, 256)
    assert bands * rows <= 256 and rows > 10


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """Repositories with exact copies, near copies (a few edited lines) and distinct files."""
    root = tmp_path / "repos"
    for i in range(6):
        write(root / f"team__unique{i}" / "mod.py", python_module(100 + i))
    original = python_module(1)
    write(root / "aaa__origin" / "lib.py", original)
    write(root / "zzz__copy" / "lib.py", original)  # exact copy
    write(root / "mmm__fork" / "lib.py", edit(original, 3, 1))  # near copy
    write(root / "bbb__far" / "lib.py", edit(original, 200, 2))  # heavily edited: not a duplicate
    return root


def test_dedup_removes_exact_and_near_copies(corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "ds"
    build_ok(corpus, "--out", data)
    out = tmp_path / "dedup"
    proc = run_cli("dedup", data, "--out", out, "--json", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["files"] == 10 and report["removed"] == 2
    assert report["removed_exact"] == 1 and report["removed_near"] == 1
    rows = read_rows(out)
    kept = {r["repo"] for r in rows}
    # One file per cluster: the lexicographically first repository (no license, no stars known).
    assert "aaa/origin" in kept and "zzz/copy" not in kept and "mmm/fork" not in kept
    assert "bbb/far" in kept
    origin = next(r for r in rows if r["repo"] == "aaa/origin")
    assert origin["duplicate_count"] == 2
    clusters = pq.read_table(out / "dedup" / "clusters.parquet").to_pylist()
    assert {c["repo"] for c in clusters} == {"aaa/origin", "zzz/copy", "mmm/fork"}
    assert len({c["cluster"] for c in clusters}) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == 8
    assert manifest["steps"]["dedup"] == {"in": 10, "out": 8, "dropped": {"exact": 1, "near": 1}}
    assert manifest["derived_from"]["path"] == str(data.resolve())


def test_keep_rule_prefers_permissive(tmp_path: Path) -> None:
    table = tmp_path / "t.jsonl"
    text = python_module(5)
    rows = [
        {"repo": "aaa/nolicense", "path": "x.py", "content": text},
        {"repo": "zzz/permissive", "path": "x.py", "content": text, "license": "MIT"},
    ]
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = tmp_path / "ds"
    build_ok(table, "--out", data, "--steps", "drop_empty,licenses")
    out = tmp_path / "dedup"
    assert run_cli("dedup", data, "--out", out).returncode == 0
    [kept] = read_rows(out)
    assert kept["repo"] == "zzz/permissive" and kept["duplicate_count"] == 1


def test_against_removes_only_files_seen_in_the_other_dataset(corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "ds"
    build_ok(corpus, "--out", data)
    bench = tmp_path / "bench"
    write(bench / "evals__set" / "task.py", edit(python_module(103), 2, 9))  # near unique3
    other = tmp_path / "bench-ds"
    build_ok(bench, "--out", other)
    out = tmp_path / "clean"
    proc = run_cli("dedup", data, "--out", out, "--against", other, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["removed"] == 1
    kept = {r["repo"] for r in read_rows(out)}
    assert "team/unique3" not in kept
    assert {"aaa/origin", "zzz/copy", "mmm/fork"} <= kept  # no deduplication within the input


@pytest.mark.slow
@pytest.mark.ray
def test_local_and_ray_keep_the_same_files(corpus: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    data = tmp_path / "ds"
    build_ok(corpus, "--out", data, "--shard-size", "2000")
    kept = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        proc = run_cli("dedup", data, "--out", out, "--executor", executor, "--workers", "2")
        assert proc.returncode == 0, proc.stderr
        kept[executor] = sorted((r["repo"], r["path"], r["duplicate_count"]) for r in read_rows(out))
    assert kept["local"] == kept["ray"]
    assert len(kept["local"]) == 8


def test_bad_usage_is_a_one_line_error(corpus: Path, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("dedup", corpus, "--out", tmp_path / "o"), "not a finished stackwright")
    data = tmp_path / "ds"
    build_ok(corpus, "--out", data)
    assert_one_line_error(run_cli("dedup", data, "--out", data), "new folder")
    assert_one_line_error(run_cli("dedup", data, "--out", tmp_path / "o", "--bands", "30", "--rows", "10"),
                          "exceeds")


def test_build_with_a_dedup_step(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = build_ok(corpus, "--out", out, "--steps", "drop_empty,dedup")
    assert summary["rows"] == 8
    assert summary["dropped"]["dedup:exact"] == 1 and summary["dropped"]["dedup:near"] == 1
    assert (out / "dedup" / "clusters.parquet").is_file()
    again = build_ok(corpus, "--out", out, "--steps", "drop_empty,dedup")  # resumes, same result
    assert again["rows"] == 8 and again["shards_resumed"] >= 1
    bad = run_cli("build", corpus, "--out", tmp_path / "x", "--steps", "dedup,drop_empty")
    assert_one_line_error(bad, "put it last")
