"""Drop files with no content: The Stack kept only non-empty files."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from stackwright.pipeline.step import StepStats, filter_rows, register_step
from stackwright.records import CONTENT


@dataclass(frozen=True)
class DropEmpty:
    """Drops files that are empty or hold only whitespace."""

    name: str = "drop_empty"

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        if batch.num_rows == 0:
            return batch
        blank = pc.match_substring_regex(batch.column(CONTENT), r"^\s*$")
        return filter_rows(batch, pc.invert(blank), "empty", stats)


@register_step("drop_empty")
def _make(config: object = None) -> DropEmpty:
    return DropEmpty()
