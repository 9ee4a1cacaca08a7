"""The dataset manifest: what a dataset folder holds, how it was made, and checksums to verify it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackwright import __version__
from stackwright.errors import StackwrightError
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



class DatasetError(StackwrightError, FileNotFoundError):
    """A folder that is not a finished stackwright dataset."""


@dataclass(frozen=True)
class DatasetManifest:
    """A typed view of a dataset's ``manifest.json``: the figures stages and reports read."""

    repositories: int
    rows: int
    content_bytes: int
    file_bytes: int
    shards: list[dict[str, Any]]
    steps: dict[str, dict[str, Any]]
    sources: list[dict[str, Any]]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetManifest:
        sizes = {key: int(data[key]) for key in ("repositories", "rows", "content_bytes", "file_bytes")}
        return cls(**sizes, shards=list(data["shards"]), steps=dict(data.get("steps", {})),
                   sources=list(data.get("sources", [])))

    @classmethod
    def read(cls, dataset: Path) -> DatasetManifest:
        return cls.from_dict(read_manifest(dataset))

    @property
    def files_seen(self) -> int:
        """Files the build read (the ``read`` step's input), kept or not."""
        return int(self.steps.get("read", {}).get("in", 0))

    def dropped(self) -> dict[str, int]:
        """Rows each step dropped, by ``step:reason``, in step order."""
        return {f"{name}:{reason}": n for name, step in self.steps.items()
                for reason, n in step.get("dropped", {}).items()}

    def repository_names(self) -> list[str]:
        """The repositories of every source, in source order."""
        return [r["repo"] for s in self.sources for r in s.get("repositories", [])]


def read_manifest(dataset: Path) -> dict[str, Any]:
    path = dataset / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{dataset} is not a finished stackwright dataset (no {MANIFEST})") from None


def shard_paths(dataset: Path) -> list[Path]:
    """The dataset's Parquet shards, in manifest order."""
    return [dataset / s["path"] for s in read_manifest(dataset)["shards"]]
