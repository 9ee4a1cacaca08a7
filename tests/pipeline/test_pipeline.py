"""The Step protocol and Pipeline over real Arrow batches, and shard packing."""

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from stackwright.build import pack_tasks
from stackwright.curate.empty import DropEmpty
from stackwright.pipeline.step import Pipeline, StepStats, build_pipeline, filter_rows
from stackwright.records import BASE_SCHEMA, CONTENT, LANGUAGE, BatchBuilder, RepoInfo, field


@dataclass(frozen=True)
class TagPython:
    name: str = "tag"

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        values = pa.array(["Python" if e == "py" else None for e in batch.column("extension").to_pylist()],
                          pa.string())
        return batch.append_column(field(LANGUAGE), values)


@dataclass(frozen=True)
class KeepPython:
    name: str = "keep"

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        return filter_rows(batch, pc.fill_null(pc.equal(batch.column(LANGUAGE), "Python"), False),
                           "not_python", stats)


def _batch() -> pa.RecordBatch:
    b = BatchBuilder()
    repo = RepoInfo("o/r")
    for path, text in [("a.py", "x = 1\n"), ("b.js", "x\n"), ("c.py", "  \n"), ("d.py", "y = 2\n")]:
        b.append(repo, path, text, len(text))
    return b.flush()


def test_pipeline_adds_columns_drops_rows_and_counts() -> None:
    pipeline = Pipeline([DropEmpty(), TagPython(), KeepPython()])
    stats = pipeline.new_stats()
    out = pipeline.run(_batch(), stats)
    assert out.column("path").to_pylist() == ["a.py", "d.py"]
    assert stats["drop_empty"].to_json()["dropped"] == {"empty": 1}
    assert stats["keep"].rows_in == 3 and stats["keep"].rows_out == 2
    assert stats["keep"].dropped == {"not_python": 1}
    assert pipeline.output_schema(BASE_SCHEMA).names == [*BASE_SCHEMA.names, LANGUAGE]
    assert out.column(CONTENT).to_pylist() == ["x = 1\n", "y = 2\n"]


def test_unknown_steps_and_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown step"):
        build_pipeline(["nope"])
    with pytest.raises(ValueError, match="unique"):
        Pipeline([DropEmpty(), DropEmpty()])


@dataclass(frozen=True)
class Item:
    weight: int
    files: int = 1

    def read(self, config, skips):  # pragma: no cover - not read here
        return iter(())


def test_pack_tasks_groups_items_by_weight_in_order() -> None:
    items = [Item(w) for w in (5, 5, 20, 1, 1, 1)]
    tasks = pack_tasks(items, shard_size=10)
    assert [[i.weight for i in t.items] for t in tasks] == [[5, 5], [20], [1, 1, 1]]
    assert [t.index for t in tasks] == [0, 1, 2]
    assert tasks[0].shard_name == "part-00000.parquet"
