"""Model-stage fixtures for every test folder: a small real release of stdlib modules spread over
twelve repositories, its tokenizer, its token shards, and a tiny model trained on them once per run."""

from __future__ import annotations

import json
import os
import shutil
import sysconfig
from pathlib import Path

import pytest

from helpers import build_ok, run_cli

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "PyTorch was not found" on import

REPOSITORIES = 12
FILES_PER_REPOSITORY = 6


def stdlib_files(n: int) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    found = sorted(p for p in root.glob("*.py") if 2_000 < p.stat().st_size < 60_000)
    return found[:n]


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("model-release")
    repos = base / "repos"
    files = stdlib_files(REPOSITORIES * FILES_PER_REPOSITORY)
    for i, path in enumerate(files):
        target = repos / f"team{i % REPOSITORIES}__project{i % REPOSITORIES}" / "src" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    js = "export function add(a, b) {\n  return a + b; // 42\n}\n" * 40
    (repos / "team0__project0" / "web").mkdir()
    (repos / "team0__project0" / "web" / "add.js").write_text(js)
    dataset = base / "dataset"
    build_ok(repos, "--out", dataset, "--steps", "languages,drop_empty")
    out = base / "release" / "v1.0.0"
    proc = run_cli("release", dataset, "--version", "v1.0.0", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == len(files) + 1
    return out


@pytest.fixture(scope="session")
def tokenizer(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("tokenizers")
    out = tmp_path_factory.mktemp("model-tokenizer") / "tok"
    proc = run_cli("tokenizer", "train", release, "--vocab-size", "2048", "--out", out, "--json",
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def train_tokens(release: Path, tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """128-token training sequences of the release, two repositories of twelve held out."""
    out = tmp_path_factory.mktemp("model-train-tokens") / "tokens"
    proc = run_cli("tokenize", release, "--tokenizer", tokenizer, "--seq-len", "128", "--validation", "0.2",
                   "--out", out, "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def tiny_model(train_tokens: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model folder of a tiny GPTBigCode trained for 40 steps on ``train_tokens``."""
    pytest.importorskip("torch")
    pytest.importorskip("accelerate")
    run = tmp_path_factory.mktemp("tiny-model") / "run"
    proc = run_cli("train", "--data", train_tokens, "--out", run, "--preset", "tiny", "--max-steps", "40",
                   "--batch-size", "8", "--warmup-steps", "4", "--eval-every", "20", "--eval-samples", "16",
                   "--no-progress", "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    return run / "model"
