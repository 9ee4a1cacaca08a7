"""The demo's dataset stages: a build of this machine's Python installation and its release v0.1.0.

The standard library is one repository (``python/cpython``) and every installed distribution another
(``pypi/<name>``), each with the license its metadata declares. The build resumes its finished shards;
the release is made again only when the dataset's shards changed.

The build runs the default steps but the ``optout`` one: the demo never reads the user's opt-out
registry, and its own registry (:mod:`stackwright.demo.consent`) is applied by the release path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from stackwright.build import BuildResult, build
from stackwright.config import load_build_config
from stackwright.demo.stages import DONE, RESUMED, Markers, Say, StageReport, digest, resumable, timed
from stackwright.release.manifest import DATACARD_HTML
from stackwright.release.writer import make_release, remove_release
from stackwright.sources.installed import InstalledPythonSource

DEMO_RELEASE = "v0.1.0"
DEMO_SHARD_BYTES = 16_000_000
BUILD_SKIPS = ("optout",)  # the demo's registry is applied by the release path, never the user's


@dataclass(frozen=True)
class DemoResult:
    build: BuildResult
    release: Path

    @property
    def datacard(self) -> Path:
        return self.release / DATACARD_HTML

    def summary(self) -> dict[str, Any]:
        """The build's summary with where the release and its data card are."""
        return {**self.build.summary(), "release": str(self.release), "datacard": str(self.datacard)}


def demo_config(workers: int | None) -> Any:
    config = load_build_config(None, workers=workers, shard_size=DEMO_SHARD_BYTES)
    return config.model_copy(update={"steps": [s for s in config.steps if s not in BUILD_SKIPS]})


def build_demo_dataset(out_dir: Path, *, limit_mb: int = 60, workers: int | None = None,
                       progress: bool = True, console: Console | None = None,
                       say: Say | None = None) -> tuple[BuildResult, StageReport]:
    """Build about ``limit_mb`` MB of this installation's code into ``out_dir`` (resuming the shards
    of an earlier build of the same input, replacing one of other input)."""
    source = InstalledPythonSource(limit_bytes=limit_mb * 1_000_000)
    if say is not None:
        say(f"demo: reading the Python installation at {source.location} (about {limit_mb} MB)")
    report = StageReport("dataset", DONE)
    with timed(report):
        result = build([source], out_dir, demo_config(workers), overwrite=True, progress=progress,
                       console=console)
    summary = result.summary()
    if summary["shards"] and summary["shards_resumed"] == summary["shards"]:
        report.status = RESUMED
    report.figures = {"repositories": summary["repositories"], "rows": summary["rows"],
                      "content_mb": summary["content_mb"], "shards": summary["shards"]}
    return result, report


def release_demo_dataset(out_dir: Path, markers: Markers, say: Say) -> tuple[Path, StageReport]:
    """Release v0.1.0 of the demo dataset in ``OUT/release/v0.1.0`` (kept when the dataset's shards
    are those it was made from)."""
    out_dir = Path(out_dir)
    release = out_dir / "release" / DEMO_RELEASE
    dataset_manifest = _dataset_manifest(out_dir)
    key = digest("release", DEMO_RELEASE, [s.get("sha256") for s in dataset_manifest.get("shards", [])])

    def run() -> dict[str, Any]:
        remove_release(release)
        say(f"demo: releasing the dataset as {DEMO_RELEASE}")
        manifest = make_release(out_dir, DEMO_RELEASE, release)
        return {"figures": {"version": DEMO_RELEASE, "rows": manifest["rows"],
                            "repositories": manifest["repositories"]}}

    report, _ = resumable(markers, "release", key, [release / "manifest.json"], run, say, DEMO_RELEASE)
    return release, report


def _dataset_manifest(dataset: Path) -> dict[str, Any]:
    return json.loads((Path(dataset) / "manifest.json").read_text(encoding="utf-8"))

