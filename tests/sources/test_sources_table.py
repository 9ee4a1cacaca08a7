"""Table sources on real JSONL (plain, gzip, zstd) and Parquet files: columns, chunking, bad rows."""

from __future__ import annotations

import gzip
import json
import pickle
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from helpers import read_source
from stackwright.config import ReadConfig
from stackwright.sources.base import SkipCounter, SourceError
from stackwright.sources.table import JsonlWorkItem, ParquetWorkItem, TableSource, declared_license


def read_all(path: Path, chunk_bytes: int = 1 << 30, config: ReadConfig | None = None) -> tuple[
    list[tuple[str, str | None, str | None, str, str]], SkipCounter, TableSource, list
]:
    """(repo, commit, license, path, text) of every kept row, the skips, the source, the items."""
    config = config or ReadConfig()
    kept, skips, src, items = read_source(path, config, chunk_bytes)
    assert isinstance(src, TableSource)
    rows = [(raw.repo.name, raw.repo.commit, raw.repo.declared_license, raw.path, text) for raw, text in kept]
    return rows, skips, src, items


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    """Objects are written as JSON lines, strings as they are."""
    text = "".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_columns_aliases_and_malformed_rows(tmp_path: Path) -> None:
    table = write_jsonl(tmp_path / "export.jsonl", [
        {"repo": "acme/app", "path": "./src/a.py", "content": "a = 1\n", "commit": "c0ffee",
         "license": "MIT"},
        {"max_stars_repo_name": "bob/lib", "max_stars_repo_path": "lib.rs", "content": "fn f() {}\n",
         "max_stars_repo_head_hexsha": "abc123", "max_stars_repo_licenses": ["MIT", "Apache-2.0"]},
        {"path": "plain.txt", "content": "no repo\n", "extra": [1, 2]},
        "",
        "this is not json",
        "[1, 2, 3]",
        "null",
        {"path": "no_content.py"},
        {"content": "no path"},
        {"path": 12, "content": "x"},
        {"path": "num.py", "content": 5},
        {"path": "nul.py", "content": None},
        {"path": "../escape.py", "content": "x"},
        {"path": "/etc/passwd", "content": "x"},
        {"repo_name": "acme/app", "path": "b.py", "content": "b = 2\n", "hexsha": "c0ffee",
         "declared_license": "MIT"},
        '{"path": "cut.py", "content": "unterminated',
    ])
    rows, skips, src, items = read_all(table)
    assert rows == [
        ("acme/app", "c0ffee", "MIT", "src/a.py", "a = 1\n"),
        ("bob/lib", "abc123", "MIT AND Apache-2.0", "lib.rs", "fn f() {}\n"),
        ("local/export", None, None, "plain.txt", "no repo\n"),
        ("acme/app", "c0ffee", "MIT", "b.py", "b = 2\n"),
    ]
    assert dict(skips.reasons) == {"malformed_row": 9, "unsafe_path": 2}
    assert src.describe() == {"kind": "table", "location": str(table), "repositories": []}
    assert len(items) == 1 and items[0].weight == table.stat().st_size


def test_repo_info_is_shared_per_repository(tmp_path: Path) -> None:
    table = write_jsonl(tmp_path / "t.jsonl", [
        {"repo": "o/r", "path": f"f{i}.py", "content": "x\n"} for i in range(5)
    ])
    (item,) = TableSource(table).plan(ReadConfig(), SkipCounter(), 1 << 20)
    infos = {id(raw.repo) for raw in item.read(ReadConfig(), SkipCounter())}
    assert len(infos) == 1


def test_declared_license_lists() -> None:
    assert declared_license(["MIT"]) == "MIT"
    assert declared_license(["MIT", "MIT", " "]) == "MIT"
    assert declared_license(["MIT OR Apache-2.0", "BSD-3-Clause"]) == "(MIT OR Apache-2.0) AND BSD-3-Clause"
    assert declared_license([]) is None
    assert declared_license(None) is None
    assert declared_license(" Apache-2.0 ") == "Apache-2.0"


def _random_rows(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        size = rng.choice([0, 1, 10, 100, 3000, 20000])
        text = "".join(rng.choice("abc é✓\n\t\"\\{}") for _ in range(size))
        rows.append({"repo": f"o/r{i % 3}", "path": f"d{i % 7}/f{i}.py", "content": text})
    return rows


def test_jsonl_chunking_gives_the_same_rows_in_the_same_order(tmp_path: Path) -> None:
    lines: list[Any] = _random_rows(300)
    lines[17] = "not json"
    lines[200] = ""
    table = write_jsonl(tmp_path / "big.jsonl", lines)
    whole, whole_skips, _, items = read_all(table)
    assert len(items) == 1 and len(whole) == 298
    assert dict(whole_skips.reasons) == {"malformed_row": 1}
    size = table.stat().st_size
    for chunk in (1, 7, 100, 4096, 50_000, size - 1, size):
        rows, skips, _, items = read_all(table, chunk)
        assert rows == whole, chunk
        assert skips.reasons == whole_skips.reasons, chunk
        # Contiguous ranges that start at line starts and cover the file.
        assert all(isinstance(i, JsonlWorkItem) for i in items)
        assert [i.start for i in items[1:]] == [i.end for i in items[:-1]]
        assert items[0].start == 0 and items[-1].end == size
        assert sum(i.weight for i in items) == size
        data = table.read_bytes()
        assert all(data[i.start - 1 : i.start] == b"\n" for i in items[1:])
        if chunk == 1:
            assert len(items) == 300  # one line each
    assert pickle.loads(pickle.dumps(items[0])) == items[0]


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_compressed_jsonl_is_one_item(tmp_path: Path, suffix: str) -> None:
    plain = write_jsonl(tmp_path / "t.jsonl", _random_rows(50))
    data = plain.read_bytes()
    packed = gzip.compress(data) if suffix.endswith("gz") else zstandard.ZstdCompressor().compress(data)
    table = tmp_path / f"t{suffix}"
    table.write_bytes(packed)
    expected, _, _, _ = read_all(plain)
    rows, skips, _, items = read_all(table, chunk_bytes=100)
    assert rows == expected and skips.total() == 0
    assert len(items) == 1 and items[0].end == -1


def test_truncated_gzip_jsonl_counts_corrupt_and_keeps_earlier_rows(tmp_path: Path) -> None:
    plain = write_jsonl(tmp_path / "t.jsonl", _random_rows(200))
    expected, _, _, _ = read_all(plain)
    packed = gzip.compress(plain.read_bytes())
    table = tmp_path / "t.jsonl.gz"
    table.write_bytes(packed[: len(packed) // 2])
    rows, skips, _, _ = read_all(table)
    assert dict(skips.reasons) == {"corrupt_table": 1}
    assert 0 < len(rows) < len(expected) and rows == expected[: len(rows)]


def test_not_gzip_at_all_is_counted_in_plan(tmp_path: Path) -> None:
    table = tmp_path / "t.jsonl.gz"
    table.write_bytes(b"\x1f\x8b" + b"garbage" * 20)
    rows, skips, _, items = read_all(table)
    assert (rows, items) == ([], [])
    assert dict(skips.reasons) == {"corrupt_table": 1}


def test_overlong_jsonl_line_is_skipped_unparsed(tmp_path: Path) -> None:
    config = ReadConfig(max_file_size=1000)
    table = write_jsonl(tmp_path / "t.jsonl", [
        {"path": "a.py", "content": "a\n"},
        {"path": "huge.txt", "content": "z" * 200_000},
        {"path": "b.py", "content": "b\n"},
        {"path": "big.txt", "content": "y" * 2000},  # under the line cap: parsed, then too large
    ])
    for chunk in (1 << 20, 50):
        rows, skips, _, _ = read_all(table, chunk, config)
        assert [r[3] for r in rows] == ["a.py", "b.py"]
        assert dict(skips.reasons) == {"too_large": 2}


def _parquet(path: Path, rows: list[dict[str, Any]], schema: pa.Schema, row_group_size: int) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=row_group_size)
    return path


STACK_SCHEMA = pa.schema([
    ("max_stars_repo_name", pa.string()),
    ("max_stars_repo_path", pa.string()),
    ("max_stars_repo_head_hexsha", pa.string()),
    ("max_stars_repo_licenses", pa.list_(pa.string())),
    ("content", pa.large_string()),
    ("unused", pa.string()),
])


def test_parquet_row_groups_and_chunks(tmp_path: Path) -> None:
    source_rows = [
        {"max_stars_repo_name": f"o/r{i % 4}", "max_stars_repo_path": f"./src/f{i}.py",
         "max_stars_repo_head_hexsha": "f" * 40, "max_stars_repo_licenses": ["MIT", "Apache-2.0"],
         "content": f"x = {i}\n" * (i % 50), "unused": "u" * 1000}
        for i in range(1000)
    ]
    source_rows[3]["max_stars_repo_path"] = "../../etc/passwd"
    source_rows[4]["content"] = None
    table = _parquet(tmp_path / "stack.parquet", source_rows, STACK_SCHEMA, row_group_size=100)
    assert pq.ParquetFile(table).metadata.num_row_groups == 10
    whole, skips, src, items = read_all(table)
    assert len(items) == 1 and isinstance(items[0], ParquetWorkItem)
    assert items[0].columns == ("max_stars_repo_path", "content", "max_stars_repo_name",
                                "max_stars_repo_head_hexsha", "max_stars_repo_licenses")
    assert dict(skips.reasons) == {"unsafe_path": 1, "malformed_row": 1}
    assert len(whole) == 998
    assert whole[0] == ("o/r0", "f" * 40, "MIT AND Apache-2.0", "src/f0.py", "")
    assert whole[5] == ("o/r3", "f" * 40, "MIT AND Apache-2.0", "src/f7.py", "x = 7\n" * 7)
    assert src.describe() == {"kind": "table", "location": str(table), "repositories": [], "rows": 1000}
    for chunk in (1, 5_000, 30_000):
        rows, _, _, items = read_all(table, chunk)
        assert rows == whole
        assert [g for i in items for g in i.row_groups] == list(range(10))
        if chunk == 1:
            assert len(items) == 10
    # The weight counts the columns read, not the unused one.
    meta = pq.ParquetFile(table).metadata
    all_columns = sum(meta.row_group(g).total_byte_size for g in range(10))
    assert 0 < sum(i.weight for i in items) < all_columns


def test_parquet_binary_content_and_default_repo(tmp_path: Path) -> None:
    schema = pa.schema([("path", pa.string()), ("content", pa.binary())])
    rows = [{"path": "a.py", "content": "é = 1\n".encode()}, {"path": "b.bin", "content": b"\x00\x01"},
            {"path": "c.py", "content": b"c = 3\n"}]
    table = _parquet(tmp_path / "blobs.parquet", rows, schema, row_group_size=2)
    got, skips, _, _ = read_all(table)
    assert [(r[0], r[3], r[4]) for r in got] == [("local/blobs", "a.py", "é = 1\n"),
                                                 ("local/blobs", "c.py", "c = 3\n")]
    assert dict(skips.reasons) == {"binary": 1}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_parquet_is_counted_in_plan(tmp_path: Path, damage: str) -> None:
    good = _parquet(tmp_path / "good.parquet", [{"path": "a", "content": "b"}] * 10,
                    pa.schema([("path", pa.string()), ("content", pa.string())]), 5)
    table = tmp_path / "bad.parquet"
    data = {"garbage": b"PAR1 not really parquet" * 10, "truncated": good.read_bytes()[:-20],
            "empty": b""}[damage]
    table.write_bytes(data)
    rows, skips, src, items = read_all(table)
    assert (rows, items) == ([], [])
    assert dict(skips.reasons) == {"corrupt_table": 1}
    assert src.describe()["repositories"] == []


def test_missing_columns_are_a_usage_error(tmp_path: Path) -> None:
    table = _parquet(tmp_path / "other.parquet", [{"name": "x", "text": "y"}],
                     pa.schema([("name", pa.string()), ("text", pa.string())]), 10)
    with pytest.raises(SourceError, match=r"other\.parquet: .*'content'.*it has: name, text") as info:
        list(TableSource(table).plan(ReadConfig(), SkipCounter(), 1 << 20))
    assert "\n" not in str(info.value)
    jsonl = write_jsonl(tmp_path / "other.jsonl", ["", {"filename": "a.py", "content": "x"}])
    with pytest.raises(SourceError, match=r"other\.jsonl: .*'path'"):
        list(TableSource(jsonl).plan(ReadConfig(), SkipCounter(), 1 << 20))
    packed = tmp_path / "other.jsonl.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(jsonl.read_bytes()))
    with pytest.raises(SourceError, match="content"):
        list(TableSource(packed).plan(ReadConfig(), SkipCounter(), 1 << 20))
