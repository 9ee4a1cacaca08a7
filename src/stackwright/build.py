"""`stackwright build`: plan shards from sources, run them on an executor, write the manifest.

A build folder holds ``data/part-NNNNN.parquet`` (each written under a temporary name and renamed
when complete), ``_state/`` (the plan fingerprint and one result file per finished shard, so that a
rerun skips finished shards), and, once every shard is done, ``stats.json`` and ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

import stackwright.curate.all_steps  # noqa: F401  (registers the steps)
from stackwright.config import BuildConfig, ConfigError, DecontaminateConfig
from stackwright.dataset.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    STATS,
    DatasetManifest,
    make_manifest,
    merge_counts,
    merge_step_stats,
)
from stackwright.errors import StackwrightError
from stackwright.files import write_atomic
from stackwright.pipeline.executors import make_executor
from stackwright.pipeline.progress import BuildProgress
from stackwright.pipeline.step import Pipeline, StepStats, build_pipeline
from stackwright.pipeline.task import (
    DATA_DIR,
    READ_STEP,
    STATE_DIR,
    TMP_DIR,
    WRITE_STEP,
    Job,
    Task,
    TaskResult,
    result_path,
)
from stackwright.records import REPO_METADATA_COLUMNS
from stackwright.sources import Source, open_source
from stackwright.sources.base import SkipCounter, WorkItem

PLAN_FILE = "plan.json"


class BuildError(StackwrightError):
    """A build that cannot start or finish; the message is shown to the user as one line."""


@dataclass
class Plan:
    tasks: list[Task]
    skips: SkipCounter
    sources: list[Source]
    fingerprint: str

    @property
    def weight(self) -> int:
        return sum(t.weight for t in self.tasks)

    @property
    def files(self) -> int:
        return sum(t.files for t in self.tasks)


@dataclass
class BuildResult:
    out: Path
    manifest: dict[str, Any]
    seconds: float
    tasks_run: int
    tasks_resumed: int
    stats: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What ``stackwright build --json`` prints: sizes, drops by ``step:reason``, time and rates."""
        m = DatasetManifest.from_dict(self.manifest)
        seconds = self.seconds
        return {
            "dataset": str(self.out),
            "repositories": m.repositories,
            "files_seen": m.files_seen,
            "rows": m.rows,
            "content_mb": round(m.content_bytes / 1e6, 2),
            "parquet_mb": round(m.file_bytes / 1e6, 2),
            "shards": len(m.shards),
            "shards_resumed": self.tasks_resumed,
            "dropped": m.dropped(),
            "seconds": round(seconds, 2),
            "files_per_second": round(m.files_seen / seconds, 1) if seconds else None,
            "mb_per_second": round(m.content_bytes / 1e6 / seconds, 2) if seconds else None,
        }


def pack_tasks(items: Sequence[WorkItem], shard_size: int) -> list[Task]:
    """Group consecutive work items into tasks of about ``shard_size`` input bytes each."""
    tasks: list[Task] = []
    current: list[WorkItem] = []
    weight = files = 0
    for item in items:
        current.append(item)
        weight += item.weight
        files += item.files
        if weight >= shard_size:
            tasks.append(Task(len(tasks), tuple(current), weight, files))
            current, weight, files = [], 0, 0
    if current:
        tasks.append(Task(len(tasks), tuple(current), weight, files))
    return tasks


def plan_build(source_specs: Sequence[str | Path | Source], config: BuildConfig, pipeline: Pipeline,
               out: Path | None = None) -> Plan:
    sources = [open_source(s) if isinstance(s, str | Path) else s for s in source_specs]
    if out is not None:
        # A build may write inside one of its source folders; it never reads its own output.
        for source in sources:
            if hasattr(source, "skip_real"):
                source.skip_real = frozenset({os.path.realpath(out)})
    skips = SkipCounter()
    items: list[WorkItem] = []
    for source in sources:
        items.extend(source.plan(config.read, skips, config.shard_size))
    tasks = pack_tasks(items, config.shard_size)
    digest = hashlib.sha256()
    digest.update(f"{FORMAT_VERSION}\0{config.content_fingerprint()}\0{pipeline.names}\0".encode())
    if "licenses" in pipeline.needs:  # another license database release may decide differently
        from stackwright.curate.licenses.database import data_version

        digest.update(data_version().encode())
    for task in tasks:
        digest.update(repr(task).encode("utf-8", errors="replace"))
    return Plan(tasks, skips, sources, digest.hexdigest())


def metadata_columns(sources: Sequence[Source]) -> tuple[str, ...]:
    """The repository metadata columns (stars, forks) that any source fills, in schema order; a source
    lists those it fills in ``metadata_columns``. Every shard gets them, null where a source has none."""
    filled = {name for s in sources for name in getattr(s, "metadata_columns", ())}
    return tuple(name for name in REPO_METADATA_COLUMNS if name in filled)


def _prepare_out(out: Path, fingerprint: str, overwrite: bool) -> None:
    state = out / STATE_DIR / PLAN_FILE
    if out.exists() and not out.is_dir():
        raise BuildError(f"{out} exists and is not a folder")
    if state.exists():
        try:
            previous = json.loads(state.read_text()).get("fingerprint")
        except (OSError, ValueError):
            previous = None
        if previous != fingerprint:
            if not overwrite:
                raise BuildError(
                    f"{out} holds a build of other input or settings; "
                    "pass --overwrite to replace it, or choose another --out"
                )
            _clear(out)
    elif out.exists() and any(out.iterdir()):
        ours = {DATA_DIR, STATE_DIR, TMP_DIR, MANIFEST, STATS}
        if not overwrite or not {p.name for p in out.iterdir()} <= ours:
            raise BuildError(f"{out} is not empty and holds no stackwright build; choose an empty --out")
        _clear(out)
    (out / DATA_DIR).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / TMP_DIR, ignore_errors=True)
    write_atomic(state, json.dumps({"fingerprint": fingerprint}).encode())


def _clear(out: Path) -> None:
    for name in (DATA_DIR, STATE_DIR, TMP_DIR):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in (MANIFEST, STATS):
        (out / name).unlink(missing_ok=True)


def _finished(out: Path, task: Task) -> TaskResult | None:
    path = result_path(out, task.index)
    try:
        result = TaskResult.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError):
        return None
    shard = out / result.shard
    if not shard.is_file() or shard.stat().st_size != result.file_bytes:
        return None
    return result


def _license_settings(config: BuildConfig) -> dict[str, Any]:
    """What decided the license columns: the database release, the allow-list, the kept categories."""
    from stackwright.curate.licenses.database import data_version
    from stackwright.curate.licenses.policy import DEFAULT_PERMISSIVE

    settings = config.licenses
    permissive = settings.permissive if settings.permissive is not None else list(DEFAULT_PERMISSIVE)
    return {"database": data_version(), "backend": settings.backend, "permissive": sorted(permissive),
            "keep": list(settings.keep)}


def _scan_licenses(plan: Plan, job: Job, executor: Any, console: Console, progress: bool) -> dict:
    """Read every repository's license files, manifests and READMEs; decide licenses by folder."""
    from stackwright.curate.licenses.scan import decide_repositories, scan_task

    results: list = []
    status = console.status("scanning license files, manifests and READMEs") if progress else None
    if status is not None:
        status.start()
    try:
        executor.run(plan.tasks, job, lambda *_: None, lambda _t, r: results.append(r), fn=scan_task)
    finally:
        if status is not None:
            status.stop()
    return decide_repositories(results, job.config)


def _gather_optouts(plan: Plan, config: BuildConfig, pipeline: Pipeline, console: Console,
                    progress: bool) -> Any:
    """Confirm the input's ``.stackwright-optout`` tokens and read the verified opt-outs (see
    stackwright.curate.optout); a registry that is configured but unusable fails the build."""
    from stackwright.curate.optout import gather_optouts
    from stackwright.registry.errors import RegistryError

    executor = make_executor(config.executor, config.workers, config.ray_address)
    status = console.status("reading the opt-out registry and token files") if progress else None
    if status is not None:
        status.start()
    try:
        return gather_optouts(plan.tasks, Job("", config, pipeline), executor)
    except RegistryError as exc:
        raise BuildError(f"opt-outs: {exc}") from None
    finally:
        if status is not None:
            status.stop()


DEDUP_STEP = "dedup"
STAGE_DIR = "_stage"


def build(
    source_specs: Sequence[str | Path | Source],
    out: Path,
    config: BuildConfig,
    *,
    overwrite: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> BuildResult:
    """Build a dataset. A ``dedup`` step (it must come last: it needs the whole dataset) builds the
    other steps' dataset in ``OUT/_stage`` (resumable as any build) and deduplicates it into ``OUT``."""
    if DEDUP_STEP not in config.steps:
        return _build(source_specs, out, config, overwrite=overwrite, progress=progress, console=console)
    if config.steps[-1] != DEDUP_STEP or config.steps.count(DEDUP_STEP) > 1:
        raise BuildError("the dedup step needs the whole dataset: put it last, once")
    from stackwright.dedup.run import DedupError, deduplicate

    started = time.perf_counter()
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise BuildError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        ours = {STAGE_DIR, DATA_DIR, MANIFEST, STATS, "dedup"}
        if not {p.name for p in out.iterdir()} <= ours:
            raise BuildError(f"{out} is not empty and holds no stackwright build; choose an empty --out")
    staged_config = config.model_copy(update={"steps": config.steps[:-1]})
    staged = _build(source_specs, out / STAGE_DIR, staged_config, overwrite=overwrite, progress=progress,
                    console=console)
    try:
        result = deduplicate(out / STAGE_DIR, out, config, overwrite=True,
                             console=console if progress else None)
    except DedupError as exc:
        raise BuildError(str(exc)) from None
    stats = {**staged.stats, "dedup": result.report, "seconds": round(time.perf_counter() - started, 3)}
    write_atomic(out / STATS, json.dumps(stats, indent=2).encode())
    return BuildResult(out, result.manifest, time.perf_counter() - started, staged.tasks_run,
                       staged.tasks_resumed, stats)


def _build(
    source_specs: Sequence[str | Path | Source],
    out: Path,
    config: BuildConfig,
    *,
    overwrite: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> BuildResult:
    started = time.perf_counter()
    console = console or Console(stderr=True)
    try:
        pipeline = build_pipeline(config.steps, config)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    out = out.resolve()
    if progress:
        with console.status("planning: listing repositories and files"):
            plan = plan_build(source_specs, config, pipeline, out)
    else:
        plan = plan_build(source_specs, config, pipeline, out)
    context: dict[str, Any] = {}
    if "optout" in pipeline.needs:
        context["optout"] = _gather_optouts(plan, config, pipeline, console, progress)
        plan.fingerprint = context["optout"].fold(plan.fingerprint)
    _prepare_out(out, plan.fingerprint, overwrite)

    results: dict[int, TaskResult] = {}
    pending: list[Task] = []
    for task in plan.tasks:
        done = _finished(out, task)
        if done is None:
            pending.append(task)
        else:
            results[task.index] = done
    resumed = len(results)

    executor = make_executor(config.executor, config.workers, config.ray_address)
    if "licenses" in pipeline.needs and pending:
        context["licenses"] = _scan_licenses(plan, Job(str(out), config, pipeline), executor, console,
                                             progress)
    job = Job(str(out), config, pipeline.bind(context) if pipeline.needs else pipeline,
              metadata_columns(plan.sources))
    with BuildProgress(plan.weight, plan.files, enabled=progress, console=console) as bar:
        for task in plan.tasks:
            if task.index in results:
                bar.skip_finished(task.files, task.weight)

        def on_done(task: Task, result: TaskResult) -> None:
            results[task.index] = result
            bar.on_task_done(task.index, task.files, task.weight)

        executor.run(pending, job, bar.on_progress, on_done)

    ordered = [results[t.index] for t in plan.tasks]
    steps = merge_step_stats((r.steps for r in ordered), [READ_STEP, *pipeline.names, WRITE_STEP])
    read = steps.setdefault(READ_STEP, StepStats())
    read.rows_in += plan.skips.total()
    read.dropped.update(plan.skips.reasons)
    shards = [
        {"path": r.shard, "rows": r.rows, "content_bytes": r.content_bytes, "bytes": r.file_bytes,
         "sha256": r.sha256}
        for r in ordered
    ]
    extra: dict[str, Any] = {"licenses": _license_settings(config)} if "licenses" in pipeline.needs else {}
    if "optout" in context:
        extra["optouts"] = context["optout"].manifest(steps.get("optout"))
    manifest = make_manifest(
        config=config.model_dump(exclude={"executor", "workers", "ray_address"}),
        plan_fingerprint=plan.fingerprint,
        sources=[s.describe() for s in plan.sources],
        shards=shards,
        steps=steps,
        counts=merge_counts(r.counts for r in ordered),
        extra=extra or None,
    )
    seconds = time.perf_counter() - started
    stats = {
        "executor": config.executor,
        "workers": config.workers,
        "seconds": round(seconds, 3),
        "tasks": len(plan.tasks),
        "tasks_resumed": resumed,
        "steps": manifest["steps"],
    }
    write_atomic(out / STATS, json.dumps(stats, indent=2).encode())
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=2).encode())
    shutil.rmtree(out / TMP_DIR, ignore_errors=True)
    return BuildResult(out, manifest, seconds, len(pending), resumed, stats)


def write_benchmark_dataset(
    name_or_files: Sequence[str | Path],
    out_dir: Path,
    *,
    fields: Sequence[str] = (),
    min_chars: int = 50,
    overwrite: bool = False,
) -> BuildResult:
    """Write benchmarks' snippets as a stackwright dataset (a build with no steps), so that
    ``stackwright dedup DATASET --against OUT_DIR`` removes the files that near-duplicate them.

    Entries are built-in benchmark names or benchmark files, as in the step's settings.
    """
    from stackwright.curate.decontaminate import BUILTIN_BENCHMARKS, load_snippets
    from stackwright.sources.benchmark import BenchmarkSource

    if not name_or_files:
        raise ConfigError("name at least one benchmark or benchmark file")
    snippets = load_snippets(name_or_files, fields, min_chars)
    source = BenchmarkSource(snippets, ", ".join(map(str, name_or_files)))
    config = BuildConfig(
        steps=[],
        workers=1,
        decontaminate=DecontaminateConfig(
            benchmarks=[str(e) for e in name_or_files if str(e) in BUILTIN_BENCHMARKS],
            files=[Path(e) for e in name_or_files if str(e) not in BUILTIN_BENCHMARKS],
            fields=list(fields),
            min_chars=min_chars,
        ),
    )
    return build([source], out_dir, config, overwrite=overwrite, progress=False)
