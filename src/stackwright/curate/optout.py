"""Opt-outs in builds: the ``optout`` step, and the scan of ownership proofs at ingest.

The step drops every file of an opted-out owner or repository. It needs the verified opt-outs, which
the build reads from the registry before any shard is written (:func:`gather_optouts`) and hands to
the workers through the pipeline's context, as a plain set: workers never connect to the registry.
An unbound step refuses to run rather than letting files through.

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
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stackwright.pipeline.step import StepStats, register_step
from stackwright.pipeline.task import Job, Task
from stackwright.records import REPO
from stackwright.registry.location import registry_url
from stackwright.registry.optout_set import NO_OPTOUTS, OptOutSet
from stackwright.registry.request import OPTOUT_FILE
from stackwright.sources.base import SkipCounter

STEP = "optout"
OWNER, REPOSITORY = "owner", "repo"  # drop reasons: counted as optout:owner and optout:repo


@dataclass(frozen=True)
class OptOutFilter:
    optouts: OptOutSet | None = None
    name: str = STEP
    needs: tuple[str, ...] = (STEP,)

    def bind(self, context: dict[str, Any]) -> OptOutFilter:
        found = context.get(STEP)
        return replace(self, optouts=getattr(found, "optouts", found))

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        if batch.num_rows == 0:
            return batch
        if self.optouts is None:
            raise ValueError(
                "the optout step needs the verified opt-outs; builds read them from the registry"
            )
        if not self.optouts:
            return batch
        repo = batch.column(REPO)
        if pa.types.is_dictionary(repo.type):
            repo = repo.cast(pa.string())
        name = pc.utf8_lower(repo)
        owner = pc.list_element(pc.split_pattern(name, "/", max_splits=1), 0)
        by_owner = pc.fill_null(
            pc.is_in(owner, value_set=pa.array(sorted(self.optouts.owners), pa.string())), False
        )
        by_repo = pc.fill_null(
            pc.is_in(name, value_set=pa.array(sorted(self.optouts.repos), pa.string())), False
        )
        by_repo = pc.and_(by_repo, pc.invert(by_owner))
        stats.drop(OWNER, pc.sum(by_owner).as_py() or 0)
        stats.drop(REPOSITORY, pc.sum(by_repo).as_py() or 0)
        return batch.filter(pc.invert(pc.or_(by_owner, by_repo)))


@register_step(STEP)
def _make_optout(config: Any = None) -> OptOutFilter:
    return OptOutFilter()


# -------------------------------------------------------------------------------------------------
# Ownership proofs at ingest

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
