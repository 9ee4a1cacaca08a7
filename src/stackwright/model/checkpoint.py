"""Training checkpoints: written whole or not at all, rotated, checked before they are trusted.

A checkpoint is ``checkpoints/step-NNNNNNNN/``: accelerate's state (model, optimizer, scheduler and
every process's random state) and ``state.json`` (the step, the data position, the schedule's
horizon, elapsed time, and the size of every file). It is written under a temporary name and renamed
into place once complete, so a run killed at any moment leaves either the old or the new one; the
oldest are removed beyond ``keep``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from stackwright.files import fsync_tree
from stackwright.model.corpus import ModelDataError

CHECKPOINTS = "checkpoints"
STATE = "state.json"
PREFIX = "step-"


def checkpoint_dir(run: Path, step: int) -> Path:
    return Path(run) / CHECKPOINTS / f"{PREFIX}{step:08d}"


def list_checkpoints(run: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a temporary or half-removed folder is not one)."""
    folder = Path(run) / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir()
             if p.is_dir() and p.name.startswith(PREFIX) and p.name[len(PREFIX):].isdigit()
             and (p / STATE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def save_checkpoint(accelerator: Any, run: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Save the accelerator's state and ``state`` as the checkpoint of ``step``; every process calls
    this (each saves its random state), the main one renames and rotates."""
    final = checkpoint_dir(run, step)
    tmp = final.with_name(f".tmp-{final.name}")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        sizes = {p.relative_to(tmp).as_posix(): p.stat().st_size
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / STATE).write_text(json.dumps({**state, "step": step, "files": sizes}, indent=2) + "\n",
                                 encoding="utf-8")
        fsync_tree(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(run)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def read_checkpoint_state(folder: Path) -> dict[str, Any]:
    """The checkpoint's ``state.json``, after checking that every file it lists is there whole."""
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
        files = state["files"]
        int(state["step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelDataError(f"checkpoint {folder} is corrupt ({STATE}: {type(exc).__name__}); remove it "
                             "to resume from the one before") from None
    for name, size in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            raise ModelDataError(f"checkpoint {folder} is corrupt ({name} is missing or truncated); remove "
                                 "it to resume from the one before")
    return state


def load_checkpoint(accelerator: Any, folder: Path) -> dict[str, Any]:
    """Restore the accelerator's state from a checkpoint; its ``state.json``."""
    state = read_checkpoint_state(folder)
    try:
        accelerator.load_state(str(folder))
    except Exception as exc:  # torch, safetensors and pickle each raise their own
        raise ModelDataError(f"checkpoint {folder} could not be loaded ({type(exc).__name__}); remove it "
                             "to resume from the one before") from None
    return state
