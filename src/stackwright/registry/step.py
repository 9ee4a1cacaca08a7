"""The ``optout`` build step: drop every file of an opted-out owner or repository.

The step needs the verified opt-outs, which the build reads from the registry before any shard is
written (:func:`stackwright.registry.ingest.gather_optouts`) and hands to the workers through the
pipeline's context, as a plain set: workers never connect to the registry. An unbound step refuses to
run rather than letting files through.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stackwright.pipeline.step import StepStats, register_step
from stackwright.records import REPO
from stackwright.registry.optout_set import OptOutSet

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
