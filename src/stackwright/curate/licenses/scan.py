"""The license scan a build runs before writing shards: read only the evidence files of every
repository (license files, manifests, READMEs), in parallel on the build's executor, and decide each
repository's licenses by folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from stackwright.curate.licenses.detect import Evidence, is_evidence_path
from stackwright.curate.licenses.steps import FolderDecisions, detector_for
from stackwright.pipeline.task import Job, Task
from stackwright.records import RepoInfo
from stackwright.sources.base import SkipCounter


@dataclass
class ScanResult:
    index: int
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    declared: dict[str, str | None] = field(default_factory=dict)
    origins: dict[str, str | None] = field(default_factory=dict)  # where each declared license came from
    files: int = 0


def scan_task(task: Task, job: Job) -> ScanResult:
    """Evidence from one task's files (a worker runs this; nothing is written)."""
    detector = detector_for(job.config.licenses)
    result = ScanResult(task.index)
    skips = SkipCounter()  # the build counts skips when it writes the shards
    for item in task.items:
        # A repository's declaration counts even when it has no evidence file to read.
        item_repo = getattr(item, "repo", None)
        if isinstance(item_repo, RepoInfo) and item_repo.declared_license:
            result.declared.setdefault(item_repo.name, item_repo.declared_license)
            result.origins.setdefault(item_repo.name, item_repo.license_origin)
        for raw in item.read(job.config.read, skips, wanted=is_evidence_path):
            result.files += 1
            name = raw.repo.name
            result.declared.setdefault(name, raw.repo.declared_license)
            result.origins.setdefault(name, raw.repo.license_origin)
            data = raw.data if isinstance(raw.data, bytes) else raw.data.encode("utf-8", "surrogatepass")
            found = detector.evidence_for(raw.path, data)
            if found:
                # Matches are only needed for --explain; keep the result small to ship.
                result.evidence.setdefault(name, []).extend(replace(e, detection=None) for e in found)
    return result


def decide_repositories(results: list[ScanResult], config: Any) -> dict[str, FolderDecisions]:
    """Each scanned repository's decisions by folder, ready for the ``licenses`` step."""
    detector = detector_for(config.licenses)
    evidence: dict[str, list[Evidence]] = {}
    declared: dict[str, str | None] = {}
    origins: dict[str, str | None] = {}
    for result in sorted(results, key=lambda r: r.index):
        for repo, items in result.evidence.items():
            evidence.setdefault(repo, []).extend(items)
        for repo, value in result.declared.items():
            declared.setdefault(repo, value)
        for repo, origin in result.origins.items():
            origins.setdefault(repo, origin)
    out: dict[str, FolderDecisions] = {}
    # Repositories with only a declaration are decided here too, so its origin reaches the label.
    for repo in sorted(set(evidence) | {r for r, v in declared.items() if v and origins.get(r)}):
        items = sorted(evidence.get(repo, []), key=lambda e: (e.folder, e.path, e.kind))
        decided = detector.decide(items, declared.get(repo), origins.get(repo))
        out[repo] = {folder: (d.spdx, d.category, d.evidence_label)
                     for folder, d in sorted(decided.decisions.items())}
    return out
