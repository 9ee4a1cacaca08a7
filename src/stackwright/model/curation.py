"""A plain folder of repositories made fit for fine-tuning, under the rules the pretraining data had.

``stackwright finetune BASE --data FOLDER`` does not train on the folder as it is: the folder is
built with the default curation steps (opt-outs, license detection and the permissive-only policy,
languages, the StarCoder quality filters, benchmark decontamination, PII redaction) followed by
exact and near deduplication, then deduplicated against the release the base model was trained on
(recorded in its run) so that the adapter learns what is new, and published as a release whose
manifest and data card say what went in. Every stage resumes: a rerun reuses what is finished.

``OUT/curated/dataset`` (the build), ``OUT/curated/new`` (after deduplication against the base's
release, when there is one) and ``OUT/curated/release`` (what is tokenized and trained on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackwright.model.corpus import ModelDataError
from stackwright.model.runs import model_folder, read_run

CURATED = "curated"
VERSION = "v0.1.0"


def base_release(base: Path) -> Path | None:
    """The release a base model was trained on, where its run recorded one that is still on disk."""
    try:
        run = read_run(model_folder(base).parent)
    except ModelDataError:  # an unreadable run records nothing usable
        return None
    path = ((run or {}).get("release") or {}).get("path")
    return Path(path) if path and (Path(path) / "manifest.json").is_file() else None


def curated_release(source: Path, out: Path, base: Path, *, say: Any = None) -> tuple[Path, dict[str, Any]]:
    """The release made from the repositories in ``source`` (see the module); returns it and what
    each stage kept."""
    from stackwright.build import build
    from stackwright.config import BuildConfig
    from stackwright.dedup.run import deduplicate
    from stackwright.release.writer import make_release

    say = say or (lambda _message: None)
    work = Path(out) / CURATED
    release = work / "release"
    dataset = work / "dataset"
    report: dict[str, Any] = {"source": str(source)}
    defaults = BuildConfig()
    config = BuildConfig(steps=[*defaults.steps, "dedup"])
    if not (release / "manifest.json").is_file():
        say(f"finetune: curating {source} (licenses, quality, PII, deduplication) into {work}")
        built = build([str(source)], dataset, config, progress=False)
        report["build"] = {
            k: v for k, v in built.summary().items() if k in ("rows", "dropped", "repositories")
        }
        kept = dataset
        against = base_release(base)
        report["against"] = str(against) if against else None
        if against is not None:
            say(f"finetune: removing files the base model's release {against} already holds")
            result = deduplicate(dataset, work / "new", config, against=against, overwrite=True)
            report["against_removed"] = int(built.manifest.get("rows", 0)) - int(
                result.manifest.get("rows", 0)
            )
            kept = work / "new"
        else:
            say("finetune: the base model records no release on disk; nothing to deduplicate against")
        make_release(kept, VERSION, release)
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    report["release"] = {
        "path": str(release),
        "rows": manifest.get("rows"),
        "repositories": manifest.get("repositories"),
    }
    return release, report
