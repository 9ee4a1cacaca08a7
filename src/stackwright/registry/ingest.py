"""Opt-outs at ingest: confirm ownership proofs found in the input, then fix the set a build honours.

A requester proves they control an owner by committing a file ``.stackwright-optout`` holding their
challenge token at the root of any of the owner's repositories. Before a build writes a shard it reads
only those files (in parallel, on the build's executor, as the license scan reads license files),
hands them to :meth:`Registry.confirm_tokens`, and then reads the verified opt-outs once: every shard
of the build is filtered against that one set, and its digest is part of the build's fingerprint, so
a build is never resumed against other opt-outs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stackwright.pipeline.step import StepStats
from stackwright.pipeline.task import Job, Task
from stackwright.registry.location import ENV_REGISTRY, default_sqlite_path
from stackwright.registry.optout_set import NO_OPTOUTS, OptOutSet
from stackwright.sources.base import SkipCounter

OPTOUT_FILE = ".stackwright-optout"
MAX_TOKEN_FILE_CHARS = 65_536  # a token file holds a token or a few; the rest is never looked at


def is_token_file(path: str) -> bool:
    """Only the file at a repository's root counts as a proof."""
    return path == OPTOUT_FILE


@dataclass
class TokenFiles:
    index: int
    found: dict[str, str] = field(default_factory=dict)  # owner/name -> text of its root token file


def read_token_files(task: Task, job: Job) -> TokenFiles:
    """The root ``.stackwright-optout`` files of one task's repositories (a worker runs this)."""
    result = TokenFiles(task.index)
    skips = SkipCounter()  # the build counts skips when it writes the shards
    for item in task.items:
        for raw in item.read(job.config.read, skips, wanted=is_token_file):
            data = raw.data
            text = (
                data if isinstance(data, str) else data[: MAX_TOKEN_FILE_CHARS * 4].decode("utf-8", "replace")
            )
            result.found.setdefault(raw.repo.name, text[:MAX_TOKEN_FILE_CHARS])
    return result


@dataclass(frozen=True)
class BuildOptOuts:
    """What a build honours: the verified set (shipped to workers) and the registry state it came from."""

    optouts: OptOutSet = NO_OPTOUTS
    registry: dict[str, Any] | None = None  # Registry.registry_state(); None when no registry is in use
    verified: tuple[str, ...] = ()  # requests this build's input verified by their token files

    def fold(self, fingerprint: str) -> str:
        """The build fingerprint with the opt-outs in it: other opt-outs, another build."""
        return hashlib.sha256(f"{fingerprint}\0optout\0{self.optouts.sha256}".encode()).hexdigest()

    def manifest(self, stats: StepStats | None) -> dict[str, Any]:
        """The manifest's ``optouts``: the registry state and how many files were removed, by reason.
        Which owners and repositories opted out is not written: the digest stands for them."""
        dropped = stats.dropped if stats is not None else {}
        return {
            "registry": self.registry,
            "entries": len(self.optouts),
            "sha256": self.optouts.sha256,
            "verified_at_ingest": len(self.verified),
            "removed": {"owner": dropped.get("owner", 0), "repo": dropped.get("repo", 0)},
        }


def registry_url(configured: str | None) -> str | None:
    """The registry a build reads: the configured URL, else ``$STACKWRIGHT_REGISTRY``, else the default
    SQLite file when it exists, else None (no opt-outs)."""
    if configured:
        return configured
    if os.environ.get(ENV_REGISTRY):
        return os.environ[ENV_REGISTRY]
    path = default_sqlite_path()
    return f"sqlite:///{path}" if path.is_file() else None


def gather_optouts(tasks: Sequence[Task], job: Job, executor: Any) -> BuildOptOuts:
    """Open the build's registry (a RegistryError if it is configured but unusable), confirm the
    token files found in the input, and read the verified opt-outs."""
    url = registry_url(job.config.optout.registry)
    if url is None:
        return BuildOptOuts()
    from stackwright.registry.store import Registry

    with Registry.open(url, create=False) as registry:
        results: list[TokenFiles] = []
        if not registry.list("pending", limit=1):  # nothing to prove: no need to read the input
            optouts, state = registry.optouts_with_state()
            return BuildOptOuts(optouts, state)
        # The scan writes nothing; the scratch folder only holds what an executor may keep there.
        with tempfile.TemporaryDirectory(prefix="sw-optout-") as scratch:
            executor.run(
                list(tasks),
                dataclasses.replace(job, out_dir=scratch),
                lambda *_: None,
                lambda _t, r: results.append(r),
                fn=read_token_files,
            )
        found: dict[str, str] = {}
        for result in sorted(results, key=lambda r: r.index):
            for repo, text in result.found.items():
                found.setdefault(repo, text)
        verified = registry.confirm_tokens(found, actor="ingest") if found else []
        optouts, state = registry.optouts_with_state()
    return BuildOptOuts(optouts, state, tuple(verified))
