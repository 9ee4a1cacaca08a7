"""The end-to-end demo on an embedded default: this machine's Python installation, no network.

The standard library is one repository (``python/cpython``) and every installed distribution another
(``pypi/<name>``), each with the license its metadata declares. The demo builds a dataset from them
and ends with a release of it in ``OUT/release/v0.1.0``, remade on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from stackwright.build import BuildResult, build
from stackwright.config import load_build_config
from stackwright.release.manifest import DATACARD_HTML
from stackwright.release.writer import make_release, remove_release
from stackwright.sources.installed import InstalledPythonSource

DEMO_RELEASE = "v0.1.0"
DEMO_SHARD_BYTES = 16_000_000


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


def run_demo(
    out_dir: Path,
    *,
    limit_mb: int = 60,
    workers: int | None = None,
    progress: bool = True,
    console: Console | None = None,
    say: Callable[[str], None] | None = None,
) -> DemoResult:
    """Build a dataset of about ``limit_mb`` MB of this installation's code into ``out_dir`` (replacing
    an earlier demo there) and release it as v0.1.0."""
    config = load_build_config(None, workers=workers, shard_size=DEMO_SHARD_BYTES)
    source = InstalledPythonSource(limit_bytes=limit_mb * 1_000_000)
    release_dir = Path(out_dir) / "release" / DEMO_RELEASE
    remove_release(release_dir)
    if say is not None:
        say(f"demo: reading the Python installation at {source.location} (about {limit_mb} MB)")
    result = build([source], out_dir, config, overwrite=True, progress=progress, console=console)
    make_release(out_dir, DEMO_RELEASE, release_dir)
    return DemoResult(result, release_dir)
