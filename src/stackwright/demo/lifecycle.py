"""The whole lifecycle on the embedded default, stage by stage: what ``stackwright demo`` runs.

dataset (build) -> release v0.1.0 -> optout (v0.2.0 without an opted-out repository) -> tokenizer ->
tokens -> train (``tiny``, a few minutes, on the newest release) -> humaneval -> infill -> card ->
serve (one FIM completion with its attribution). Each stage reports done, resumed or skipped, its
key figures and its time; see :mod:`stackwright.demo.stages` for how a rerun resumes.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from stackwright.build import BuildResult
from stackwright.demo.consent import REGISTRY_FILE, REGISTRY_FOLDER, run_optout
from stackwright.demo.dataset import DemoResult, build_demo_dataset, release_demo_dataset
from stackwright.demo.stages import DemoError, Markers, Say, StageReport, skipped

STAGES = ("dataset", "release", "optout", "tokenizer", "tokens", "train", "humaneval", "infill", "card",
          "serve")
MODEL_STAGES = STAGES[3:]
SKIPPABLE = ("optout", "model", "humaneval", "infill", "serve")  # model: every stage from the tokenizer on
MODEL_MODULES = ("torch", "accelerate", "transformers", "tokenizers")
SERVE_MODULES = ("fastapi", "uvicorn", "prometheus_client")


@dataclass(frozen=True)
class DemoOptions:
    limit_mb: int = 60
    train_minutes: float = 4.0
    humaneval_limit: int = 20
    humaneval_max_tokens: int = 96
    infill_limit: int = 50
    skip: frozenset[str] = frozenset()
    optout_repo: str | None = None
    workers: int | None = None

    def runs(self, stage: str) -> bool:
        if stage in MODEL_STAGES and "model" in self.skip:
            return False
        return stage not in self.skip


@dataclass
class LifecycleResult:
    out: Path
    dataset: DemoResult
    reports: list[StageReport]
    paths: dict[str, str]
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def report(self, stage: str) -> StageReport | None:
        return next((r for r in self.reports if r.name == stage), None)

    def summary(self) -> dict[str, Any]:
        """The build's summary (as ``stackwright build --json`` prints it), every stage and the paths."""
        return {**self.dataset.summary(), "stages": [r.to_json() for r in self.reports], "paths": self.paths,
                "total_seconds": round(self.seconds, 2)}


def missing_module(modules: tuple[str, ...]) -> str | None:
    return next((m for m in modules if importlib.util.find_spec(m) is None), None)


def check_extras(options: DemoOptions) -> None:
    """A one-line error before anything runs when a stage asked for needs an extra that is missing."""
    if any(options.runs(s) for s in MODEL_STAGES):
        name = missing_module(MODEL_MODULES)
        if name is not None:
            raise DemoError(f"the demo's model stages need the model extra ({name} is missing): run `make "
                            "setup` or pip install 'stackwright[model]'; --dataset-only runs the dataset "
                            "stages alone")
    if options.runs("serve"):
        name = missing_module(SERVE_MODULES)
        if name is not None:
            raise DemoError(f"the demo's serve stage needs the serve extra ({name} is missing): run `make "
                            "setup` or pip install 'stackwright[serve]'; --skip serve leaves it out")


def run_lifecycle(out_dir: Path, options: DemoOptions, *, progress: bool = True,
                  console: Console | None = None, say: Say | None = None,
                  on_step: Callable[[dict[str, Any]], None] | None = None,
                  on_stage: Callable[[StageReport], None] | None = None) -> LifecycleResult:
    """Run every stage ``options`` asks for into ``out_dir``; ``on_stage`` gets each report as it ends."""
    started = time.perf_counter()
    check_extras(options)
    say = say or (lambda _message: None)
    out_dir = Path(out_dir)
    markers = Markers(out_dir)
    reports: list[StageReport] = []

    def done(report: StageReport) -> StageReport:
        reports.append(report)
        if on_stage is not None:
            on_stage(report)
        return report

    build_result, report = build_demo_dataset(out_dir, limit_mb=options.limit_mb, workers=options.workers,
                                              progress=progress, console=console, say=say)
    done(report)
    first, report = release_demo_dataset(out_dir, markers, say)
    done(report)
    paths = {"dataset": str(out_dir.resolve()), "release v0.1.0": str(first.resolve())}
    newest = first
    if not build_result.manifest.get("rows"):
        for stage in STAGES[2:]:
            done(skipped(stage, "the dataset is empty"))
        return _result(out_dir, build_result, first, reports, paths, started)
    if options.runs("optout"):
        second, report = run_optout(out_dir, first, markers, say, wanted=options.optout_repo)
        done(report)
        newest = second
        paths["release v0.2.0"] = str(second.resolve())
        paths["opt-out registry"] = str((out_dir / REGISTRY_FOLDER / REGISTRY_FILE).resolve())
    else:
        done(skipped("optout", "--skip optout"))
    if not options.runs("tokenizer"):
        for stage in MODEL_STAGES:
            done(skipped(stage, "--dataset-only" if "model" in options.skip else f"--skip {stage}"))
        return _result(out_dir, build_result, first, reports, paths, started)
    _model_stages(out_dir, newest, options, markers, say, on_step, done, paths)
    return _result(out_dir, build_result, first, reports, paths, started)


def _model_stages(out_dir: Path, release: Path, options: DemoOptions, markers: Markers, say: Say,
                  on_step: Callable[[dict[str, Any]], None] | None,
                  done: Callable[[StageReport], StageReport], paths: dict[str, str]) -> None:
    from stackwright.demo.evaluation import check_card, run_humaneval, run_infill
    from stackwright.demo.model import run_model_stages
    from stackwright.demo.serving import run_serving

    trained, reports = run_model_stages(out_dir, release, markers, say, minutes=options.train_minutes,
                                        workers=options.workers, on_step=on_step)
    for report in reports:
        done(report)
    paths.update({"tokenizer": str(trained.tokenizer.resolve()), "tokens": str(trained.tokens.resolve()),
                  "training run": str(trained.run.resolve()), "model": str(trained.model.resolve())})
    evaluated = []
    if options.runs("humaneval"):
        evaluated.append(done(run_humaneval(trained, markers, say, limit=options.humaneval_limit,
                                            max_new_tokens=options.humaneval_max_tokens,
                                            workers=options.workers)))
        paths["humaneval results"] = str((trained.run / "eval" / "humaneval.results.jsonl").resolve())
    else:
        done(skipped("humaneval", "--skip humaneval"))
    if options.runs("infill"):
        evaluated.append(done(run_infill(trained, markers, say, limit=options.infill_limit)))
        paths["infill results"] = str((trained.run / "eval" / "infill.results.jsonl").resolve())
    else:
        done(skipped("infill", "--skip infill"))
    card = done(check_card(trained, evaluated))
    paths["model card"] = str(Path(card.details["card"]).resolve())
    if options.runs("serve"):
        done(run_serving(trained, release, out_dir, markers, say))
        paths["served completion"] = str((out_dir / "serve" / "completion.json").resolve())
    else:
        done(skipped("serve", "--skip serve"))


def _result(out_dir: Path, build_result: BuildResult, first: Path, reports: list[StageReport],
            paths: dict[str, str], started: float) -> LifecycleResult:
    return LifecycleResult(out_dir, DemoResult(build_result, first), reports, paths,
                           time.perf_counter() - started)
