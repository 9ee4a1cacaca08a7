"""The Step protocol, per-step statistics and the Pipeline that chains steps over Arrow batches."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from stackwright.records import BASE_SCHEMA, empty_batch


@dataclass
class StepStats:
    """What one step did: rows in and out, rows dropped by reason, time spent."""

    rows_in: int = 0
    rows_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    counted: Counter[str] = field(default_factory=Counter)  # things a step found (entities by class)

    def drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[reason] += n

    def count(self, what: str, n: int = 1) -> None:
        if n:
            self.counted[what] += n

    def merge(self, other: StepStats) -> None:
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.dropped.update(other.dropped)
        self.seconds += other.seconds
        self.counted.update(other.counted)

    def to_json(self) -> dict[str, Any]:
        out = {
            "in": self.rows_in,
            "out": self.rows_out,
            "dropped": dict(sorted(self.dropped.items())),
            "seconds": round(self.seconds, 3),
        }
        if self.counted:
            out["counted"] = dict(sorted(self.counted.items()))
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepStats:
        return cls(data["in"], data["out"], Counter(data.get("dropped", {})), data.get("seconds", 0.0),
                   Counter(data.get("counted", {})))


@runtime_checkable
class Step(Protocol):
    """Maps an Arrow batch to an Arrow batch: adds columns or drops rows, counting each drop.

    A step does no I/O and does not know which executor runs it. It must be picklable and
    deterministic: the same batch gives the same result in any process.
    """

    name: str

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch: ...


# A step that needs what only the whole input can tell (each repository's licenses, say) has
# ``needs`` naming it and a ``bind(context)`` method returning the step with that context; the
# build gathers the context before the shards are written.


def filter_rows(batch: pa.RecordBatch, keep: Sequence[bool] | pa.Array, reason: str,
                stats: StepStats) -> pa.RecordBatch:
    """Keep the rows where ``keep`` is true and count the others under ``reason``."""
    mask = keep if isinstance(keep, pa.Array) else pa.array(keep, pa.bool_())
    kept = batch.filter(mask)
    stats.drop(reason, batch.num_rows - kept.num_rows)
    return kept


class Pipeline:
    """An ordered list of steps applied to each batch, with statistics per step."""

    def __init__(self, steps: Sequence[Step] = ()) -> None:
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique, got {names}")
        self.steps = list(steps)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    @property
    def needs(self) -> set[str]:
        """Context the steps need before they can run (for example "licenses")."""
        return {n for s in self.steps for n in getattr(s, "needs", ())}

    def bind(self, context: dict[str, Any]) -> Pipeline:
        """The pipeline with each step that needs context given it."""
        return Pipeline([s.bind(context) if getattr(s, "needs", ()) else s for s in self.steps])

    def new_stats(self) -> dict[str, StepStats]:
        return {s.name: StepStats() for s in self.steps}

    def run(self, batch: pa.RecordBatch, stats: dict[str, StepStats]) -> pa.RecordBatch:
        for step in self.steps:
            st = stats[step.name]
            start = time.perf_counter()
            st.rows_in += batch.num_rows
            batch = step.process(batch, st)
            st.rows_out += batch.num_rows
            st.seconds += time.perf_counter() - start
        return batch

    def output_schema(self, schema: pa.Schema = BASE_SCHEMA) -> pa.Schema:
        """The schema the steps produce from an input schema (found by running an empty batch)."""
        batch = empty_batch(schema)
        scratch = self.new_stats()
        for step in self.steps:
            batch = step.process(batch, scratch[step.name])
        return batch.schema


# Registry of step factories by name, filled by the modules that define steps. A factory takes the
# build's configuration (None: the defaults).
StepFactory = Callable[[Any], Step]
STEP_FACTORIES: dict[str, StepFactory] = {}


def register_step(name: str) -> Callable[[StepFactory], StepFactory]:
    def deco(factory: StepFactory) -> StepFactory:
        STEP_FACTORIES[name] = factory
        return factory

    return deco


def build_pipeline(names: Sequence[str], config: Any = None) -> Pipeline:
    unknown = [n for n in names if n not in STEP_FACTORIES]
    if unknown:
        known = ", ".join(sorted(STEP_FACTORIES)) or "none yet"
        raise ValueError(f"unknown step(s) {', '.join(unknown)}; available: {known}")
    return Pipeline([STEP_FACTORIES[n](config) for n in names])
