"""What every demo stage shares: its report (status, key figures, time) and its resume marker.

A stage that finishes writes ``OUT/.demo/<stage>.json``: the key of its inputs (the settings it ran
with and the fingerprints of what it read) and its result. A rerun with the same key, whose outputs
are all still there, reports the stage ``resumed`` with the recorded figures instead of running it.
Fingerprints are checksums of what a stage wrote (a release's manifest, the model's weights), so a
stage made again with other output makes every later stage run again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.errors import StackwrightError
from stackwright.files import write_atomic

MARKERS = ".demo"
DONE, RESUMED, SKIPPED = "done", "resumed", "skipped"
Say = Callable[[str], None]


class DemoError(StackwrightError):
    """A demo stage cannot run (a missing extra, an input it needs)."""


@dataclass
class StageReport:
    """One row of the demo's summary: what a stage did, its key figures and how long it took."""

    name: str
    status: str  # done | resumed | skipped
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""  # why it was skipped, or a short remark
    details: dict[str, Any] = field(default_factory=dict)  # the rest of the stage's result

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.name, "status": self.status, "figures": self.figures,
                "seconds": round(self.seconds, 2), "note": self.note, "details": self.details}


def digest(*parts: Any) -> str:
    """A short checksum of JSON-able values (the key of a stage's inputs)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class Markers:
    """The resume markers of one demo folder."""

    def __init__(self, out_dir: Path) -> None:
        self.folder = Path(out_dir) / MARKERS

    def path(self, stage: str) -> Path:
        return self.folder / f"{stage}.json"

    def finished(self, stage: str, key: str, outputs: Iterable[Path] = ()) -> dict[str, Any] | None:
        """The recorded result of ``stage`` when it finished with ``key`` and its outputs exist."""
        try:
            data = json.loads(self.path(stage).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("result"), dict):
            return None
        if not all(Path(p).exists() for p in outputs):
            return None
        return data["result"]

    def record(self, stage: str, key: str, result: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"stage": stage, "key": key, "result": result}, indent=2, default=str) + "\n"
        write_atomic(self.path(stage), body.encode("utf-8"))

    def forget(self, stage: str) -> None:
        self.path(stage).unlink(missing_ok=True)


@contextmanager
def timed(report: StageReport) -> Iterator[StageReport]:
    """Adds the block's wall time to ``report.seconds``."""
    started = time.perf_counter()
    try:
        yield report
    finally:
        report.seconds += time.perf_counter() - started


def resumable(markers: Markers, name: str, key: str, outputs: Iterable[Path],
              run: Callable[[], dict[str, Any]], say: Say,
              what: str = "") -> tuple[StageReport, dict[str, Any]]:
    """Run ``run`` (which returns the stage's result, JSON-able) unless the stage finished with
    ``key`` before; returns the report and the result (recorded or new)."""
    outputs = list(outputs)
    report = StageReport(name, RESUMED)
    with timed(report):
        result = markers.finished(name, key, outputs)
        if result is not None:
            say(f"demo: {name}: resumed (finished before on the same inputs{': ' + what if what else ''})")
        else:
            markers.forget(name)
            report.status = DONE
            result = run()
            markers.record(name, key, result)
    report.figures = dict(result.get("figures", {}))
    report.details = {k: v for k, v in result.items() if k != "figures"}
    return report, result


def skipped(name: str, why: str) -> StageReport:
    return StageReport(name, SKIPPED, note=why)
