"""NER detector cost: its throughput on CPU, and a whole ``build`` with it on against off, in one run.

The input is real code: Python files of this machine's standard library (``--files``, default 300),
as repositories of 10 files each. The NER model is the one given with ``--ner-model`` or, when none
is, a tiny one trained here in a minute (the speed of a model does not depend on how well it was
trained: the same shape and windows do the same work). Both builds run the same steps
(``languages``, ``pii``) with the same executor; the difference is the detector's cost, stated per MB.

    .venv/bin/python benchmarks/ner.py --files 200
    .venv/bin/python benchmarks/ner.py --ner-model runs/ner --files 600

Prints a table and writes ``bench-out/ner.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench-out" / "ner"
MIT = ROOT / "LICENSE"


def stackwright(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    cmd = [sys.executable, "-m", "stackwright.cli", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[2:5])} failed:\n{proc.stderr[-2000:]}")
    return proc


def corpus(n: int) -> tuple[Path, list[Path]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if 1_000 < p.stat().st_size < 100_000)[:n]
    repos = WORK / "repos"
    shutil.rmtree(repos, ignore_errors=True)
    for i, path in enumerate(files):
        repo = repos / f"team{i // 10}__project{i // 10}"
        repo.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, repo / path.name)
        if not (repo / "LICENSE").exists():
            shutil.copyfile(MIT, repo / "LICENSE")
    return repos, files


def quick_model(repos: Path) -> Path:
    """A tiny encoder and NER model, trained for a few steps (enough to have the real shape)."""
    for name in ("ds", "rel", "enc", "ner"):
        shutil.rmtree(WORK / name, ignore_errors=True)
    stackwright("build", repos, "--out", WORK / "ds", "--steps", "languages", "--no-progress", "--json")
    stackwright("release", WORK / "ds", "--version", "v1.0.0", "--out", WORK / "rel", "--json")
    stackwright("encoder", "train", WORK / "rel", "--out", WORK / "enc", "--max-steps", "5", "--seq-len",
                "64", "--batch-size", "4", "--vocab-size", "8192", "--no-progress", "--json")
    cases = WORK / "cases.jsonl"
    text = '# Copyright (c) 2020 Ada Lovelace\nPASSWORD = "kdt4sty9"\n'
    case = {"id": "c", "text": text, "entities": [{"start": 22, "end": 34, "label": "NAME"},
                                                  {"start": 47, "end": 55, "label": "PASSWORD"}]}
    cases.write_text(json.dumps(case) + "\n")
    stackwright("pii", "train-ner", WORK / "enc", "--data", cases, "--validation-data", cases, "--out",
                WORK / "ner", "--max-steps", "5", "--no-progress", "--json")
    return WORK / "ner"


def throughput(model: Path, files: list[Path], batch_size: int) -> dict[str, Any]:
    from stackwright.curate.pii.ner import load_ner

    texts = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    ner = load_ner(model, batch_size=batch_size)
    ner.predict(texts[:2])  # warm up
    started = time.perf_counter()
    for i in range(0, len(texts), 32):
        ner.predict(texts[i : i + 32])
    seconds = time.perf_counter() - started
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    return {"files": len(texts), "mb": round(mb, 3), "seconds": round(seconds, 2),
            "files_per_second": round(len(texts) / seconds, 2), "mb_per_second": round(mb / seconds, 4),
            "threads": __import__("torch").get_num_threads()}


def build(repos: Path, name: str, model: Path | None) -> float:
    config = WORK / f"{name}.toml"
    extra = f'detectors = ["ner"]\nner_model = "{model}"\n' if model else ""
    config.write_text(f'[build]\nsteps = ["languages", "pii"]\n[build.pii]\n{extra}')
    out = WORK / f"build-{name}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    stackwright("build", repos, "--out", out, "--config", config, "--no-progress", "--json")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ner-model", type=Path, default=None)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    repos, files = corpus(args.files)
    model = args.ner_model or quick_model(repos)
    speed = throughput(model, files, args.batch_size)
    off = build(repos, "off", None)
    on = build(repos, "on", model)
    result = {"throughput": speed, "build_seconds": {"ner_off": round(off, 2), "ner_on": round(on, 2)},
              "ner_seconds_per_mb_in_build": round((on - off) / speed["mb"], 2)}
    print(f"input: {speed['files']} files, {speed['mb']:.2f} MB of standard-library Python")
    print(f"NER alone ({speed['threads']} threads): {speed['files_per_second']:.1f} files/s, "
          f"{speed['mb_per_second']:.3f} MB/s")
    print(f"build (languages, pii): NER off {off:.1f} s, NER on {on:.1f} s: "
          f"{result['ner_seconds_per_mb_in_build']:.1f} s per MB for the detector")
    (ROOT / "bench-out").mkdir(exist_ok=True)
    (ROOT / "bench-out" / "ner.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
