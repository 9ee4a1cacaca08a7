"""The ``pii`` step: redact emails, IP addresses, keys and passwords in every file's content.

Counts of redacted entities by class go to the step's statistics (``counted``); values never do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from stackwright.config import BuildConfig, PiiConfig
from stackwright.curate.pii.scan import extra_detectors, redact, scan_many
from stackwright.pipeline.step import StepStats, register_step
from stackwright.records import CONTENT
from stackwright.records import field as record_field


@dataclass(frozen=True)
class RedactPii:
    settings: PiiConfig = field(default_factory=PiiConfig)
    name: str = "pii"

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        if batch.num_rows == 0:
            return batch
        out: list[str] = []
        texts = batch.column(CONTENT).to_pylist()
        for text, entities in zip(texts, scan_many(texts, self.settings), strict=True):
            if entities:
                text, counts = redact(text, entities, self.settings)
                for label, n in counts.items():
                    stats.count(label, n)
            out.append(text)
        index = batch.schema.get_field_index(CONTENT)
        return batch.set_column(index, record_field(CONTENT), pa.array(out, pa.string()))


@register_step("pii")
def _make(config: BuildConfig | None = None) -> RedactPii:
    settings = config.pii if config is not None else PiiConfig()
    extra_detectors(settings)  # unknown detector names or a missing NER model fail before the build starts
    return RedactPii(settings)
