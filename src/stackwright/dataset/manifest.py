"""The dataset manifest: what a dataset folder holds, how it was made, and checksums to verify it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackwright import __version__
from stackwright.pipeline.step import StepStats

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATS = "stats.json"


def merge_step_stats(per_task: Iterable[dict[str, StepStats]], order: list[str]) -> dict[str, StepStats]:
    total: dict[str, StepStats] = {name: StepStats() for name in order}
    for steps in per_task:
        for name, st in steps.items():
            total.setdefault(name, StepStats()).merge(st)
    return total


def merge_counts(per_task: Iterable[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    total: dict[str, Counter[str]] = {}
    for counts in per_task:
        for column, values in counts.items():
            total.setdefault(column, Counter()).update(values)
    return {k: dict(v.most_common()) for k, v in sorted(total.items())}


def make_manifest(
    *,
    config: dict[str, Any],
    plan_fingerprint: str,
    sources: list[dict[str, Any]],
    shards: list[dict[str, Any]],
    steps: dict[str, StepStats],
    counts: dict[str, dict[str, int]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    repositories = sum(len(s.get("repositories", [])) for s in sources)
    return {
        "format_version": FORMAT_VERSION,
        "tool": {"name": "stackwright", "version": __version__},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config,
        "plan_fingerprint": plan_fingerprint,
        "sources": sources,
        "repositories": repositories,
        "rows": sum(s["rows"] for s in shards),
        "content_bytes": sum(s["content_bytes"] for s in shards),
        "file_bytes": sum(s["bytes"] for s in shards),
        **(extra or {}),
        "counts": counts,
        "steps": {k: v.to_json() for k, v in steps.items()},
        "shards": shards,
    }


def read_manifest(dataset: Path) -> dict[str, Any]:
    path = dataset / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{dataset} is not a finished stackwright dataset (no {MANIFEST})") from None


def shard_paths(dataset: Path) -> list[Path]:
    """The dataset's Parquet shards, in manifest order."""
    return [dataset / s["path"] for s in read_manifest(dataset)["shards"]]
