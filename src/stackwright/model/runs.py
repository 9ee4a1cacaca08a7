"""A training run's folder: what it is, what it was started with, and whether it may continue.

``RUN/run.json`` holds the run's identity (the settings that decide its losses: preset, batch, learning
rate schedule, seed, the token data and tokenizer by checksum) and what the model card needs about the
data. A rerun of the same command resumes from the latest checkpoint; a different command pointed at
the same folder, a folder that is not a run, or a finished run is refused: a run never overwrites
another.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackwright.files import write_atomic
from stackwright.model.corpus import ModelDataError

RUN_FILE = "run.json"
RUN_FORMAT = "stackwright-run"
MODEL_DIR = "model"
FINISHED = "finished.json"
PREPARED = ("tokens", "curated")  # what a fine-tuning run writes before it starts: its data


def read_run(run: Path) -> dict[str, Any] | None:
    path = Path(run) / RUN_FILE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelDataError(f"{path} is unreadable; this folder's run cannot be resumed") from None
    if not isinstance(info, dict) or info.get("format") != RUN_FORMAT:
        raise ModelDataError(f"{run} is not a stackwright training run")
    return info


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)]


def open_run(run: Path, identity: dict[str, Any], about: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create the run folder, or check that it holds this run unfinished: ``(run info, resumed)``."""
    run = Path(run)
    info = read_run(run)
    if info is None:
        if run.exists() and (not run.is_dir() or any(p.name not in PREPARED for p in run.iterdir())):
            raise ModelDataError(f"{run} exists and is not a training run; choose a new --out")
        info = {"format": RUN_FORMAT, "format_version": 1, "created_at": datetime.now(UTC).isoformat(
            timespec="seconds"), "identity": identity, **about}
        run.mkdir(parents=True, exist_ok=True)
        write_atomic(run / RUN_FILE, (json.dumps(info, indent=2) + "\n").encode())
        return info, False
    diff = _differences(info.get("identity", {}), identity)
    if diff:
        raise ModelDataError(f"{run} holds another run ({'; '.join(diff[:3])}); choose a new --out")
    if (run / FINISHED).is_file():
        raise ModelDataError(f"{run} is a finished run (its model is in {run / MODEL_DIR}); choose a new "
                             "--out")
    return info, True


def mark_finished(run: Path, summary: dict[str, Any]) -> None:
    write_atomic(Path(run) / FINISHED, (json.dumps(summary, indent=2) + "\n").encode())


def model_folder(path: Path) -> Path:
    """The model folder of a run folder (``RUN/model``), or ``path`` itself when it is a model."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    if (path / MODEL_DIR / "config.json").is_file():
        return path / MODEL_DIR
    if (path / RUN_FILE).is_file():
        raise ModelDataError(f"{path}: the run has saved no model yet (train it to the end or to its time "
                             "limit)")
    raise ModelDataError(f"{path} is neither a training run nor a model folder (no config.json)")
