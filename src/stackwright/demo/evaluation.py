"""The demo's evaluation stages: HumanEval on a bounded sample, single-line FIM infilling on held-out
files, and the model card that records both.

They run the project's evaluations as ``stackwright eval humaneval`` and ``stackwright eval infill``
do (greedy completions, the sandbox with calibrated time limits, tasks from the repositories held out
of training) and record them with :func:`stackwright.evaluate.report.record_evaluation`, which
rewrites the model card's evaluation section. A tiny model trained for minutes scores about zero:
the numbers show the lifecycle works, not that the model does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stackwright.demo.model import TrainedModel
from stackwright.demo.stages import DONE, RESUMED, Markers, Say, StageReport, digest, resumable, timed

HUMANEVAL_SEED = 0
INFILL_LANGUAGES = ("Python",)  # the demo's release is the code of a Python installation
INFILL_MAX_NEW_TOKENS = 32


def run_humaneval(trained: TrainedModel, markers: Markers, say: Say, *, limit: int, max_new_tokens: int,
                  workers: int | None = None) -> StageReport:
    """pass@1 of greedy completions of the first ``limit`` HumanEval problems, run in the sandbox."""
    eval_dir = trained.run / "eval"
    results_path = eval_dir / "humaneval.results.jsonl"
    key = digest("humaneval", trained.weights_sha256, limit, max_new_tokens)

    def run() -> dict[str, Any]:
        from stackwright.evaluate.humaneval import (
            STOP,
            TimeLimits,
            calibrate,
            score,
            select_problems,
            write_results,
            write_samples,
        )
        from stackwright.evaluate.report import record_evaluation
        from stackwright.evaluate.sandbox import Sandbox
        from stackwright.model.generate import load_model, sample

        problems = select_problems(limit)
        say(f"demo: HumanEval: completing {len(problems)} problems (greedy, at most {max_new_tokens} tokens)")
        loaded = load_model(trained.model)
        completions = sample(loaded, [p.prompt for p in problems], n=1, max_new_tokens=max_new_tokens,
                             temperature=0.0, stop=STOP, seed=HUMANEVAL_SEED,
                             batch_size=min(16, len(problems)))
        rows = [{"task_id": p.task_id, "completion": c.text}
                for p, cs in zip(problems, completions, strict=True) for c in cs]
        with Sandbox(workers=workers or os.cpu_count() or 1, mode="auto") as box:
            isolation = box.isolation.as_dict()
            if box.isolation.mechanism != "bubblewrap":
                say(f"demo: warning: programs run without namespaces ({box.isolation.note})")
            say(f"demo: HumanEval: running {len(rows)} programs in the sandbox ({box.isolation.mechanism})")
            limits, broken = calibrate(box, problems, TimeLimits())
            summary, results = score(rows, problems, box, limits, (1,))
        write_samples(eval_dir / "humaneval.samples.jsonl", rows)
        write_results(results_path, results)
        generation = {"n": 1, "temperature": 0.0, "max_new_tokens": max_new_tokens, "seed": HUMANEVAL_SEED}
        metrics = {"pass@1": summary.get("pass@1", 0.0), "problems": summary["problems"],
                   "samples": summary["samples"], "outcomes": summary["outcomes"]}
        record_evaluation(trained.model, "humaneval", metrics,
                          settings={"limit": limit, **generation, "reference_failures": len(broken)})
        return {"summary": {**metrics, "isolation": isolation, "reference_failures": broken},
                "results": str(results_path),
                "figures": {"pass@1": round(metrics["pass@1"], 4), "problems": metrics["problems"],
                            "passed": summary["outcomes"].get("passed", 0),
                            "isolation": isolation.get("mechanism")}}

    report, _ = resumable(markers, "humaneval", key, [results_path], run, say)
    return report


def run_infill(trained: TrainedModel, markers: Markers, say: Say, *, limit: int) -> StageReport:
    """Single-line infilling exact match on up to ``limit`` lines of held-out Python files."""
    out_path = trained.run / "eval" / "infill.results.jsonl"
    key = digest("infill", trained.weights_sha256, limit, INFILL_MAX_NEW_TOKENS)

    def run() -> dict[str, Any]:
        from stackwright.evaluate.infill import infill_tasks, score_infill
        from stackwright.evaluate.perplexity import load_quietly
        from stackwright.evaluate.report import record_evaluation

        prepared = infill_tasks(trained.model, languages=list(INFILL_LANGUAGES), per_language=limit, seed=0)
        tasks = len(prepared.task_set.tasks)
        say(f"demo: infilling: {tasks} masked lines of held-out files")
        loaded = load_quietly(trained.model)
        result = score_infill(loaded, prepared, max_new_tokens=INFILL_MAX_NEW_TOKENS, out=out_path)
        metrics = {"exact_match": result["exact_match"], "tasks": result["tasks"],
                   "languages": {k: {"tasks": v["tasks"], "exact_match": v["exact_match"]}
                                 for k, v in result["languages"].items()}}
        settings = {"held_out": result["held_out"], "languages": list(result["languages"]),
                    "per_language": result["per_language"], "per_file": result["per_file"],
                    "seed": result["seed"], "release": str(result["release"])[:12],
                    "max_new_tokens": INFILL_MAX_NEW_TOKENS, "fim_layout": "psm",
                    "tasks_file": Path(result["tasks_file"]).name}
        record_evaluation(trained.model, "infill", metrics, settings=settings)
        exact = result["exact_match"]
        return {"summary": {**metrics, "exact": result["exact"], "held_out": result["held_out"],
                            "tasks_file": result["tasks_file"], "seconds": result["seconds"]},
                "results": str(out_path),
                "figures": {"exact_match": None if exact is None else round(exact, 4),
                            "tasks": result["tasks"], "exact": result["exact"],
                            "held_out": result["held_out"]}}

    report, _ = resumable(markers, "infill", key, [out_path], run, say)
    return report


def check_card(trained: TrainedModel, evaluated: list[StageReport]) -> StageReport:
    """The model card and ``evaluation.json``: which evaluations they record."""
    from stackwright.evaluate.report import read_evaluations
    from stackwright.model.card import CARD, EVALUATION_START

    ran = [r for r in evaluated if r.status in (DONE, RESUMED)]
    status = RESUMED if ran and all(r.status == RESUMED for r in ran) else DONE
    report = StageReport("card", status)
    with timed(report):
        recorded = read_evaluations(trained.model)["evaluations"]
        card = trained.model / CARD
        text = card.read_text(encoding="utf-8") if card.is_file() else ""
        missing = [r.name for r in ran if r.name not in recorded]
        report.figures = {"evaluations": ", ".join(sorted(recorded)) or "none",
                          "card section": EVALUATION_START in text}
        report.details = {"card": str(card), "evaluations_file": str(trained.model / "evaluation.json"),
                          "recorded": recorded}
        if missing:
            report.note = f"not recorded: {', '.join(missing)}"
    return report
