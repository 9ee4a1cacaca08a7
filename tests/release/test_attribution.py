"""The attribution index on real Parquet shards: spans are found where they are, with their repo, path
and license; absent text is not; edits give partial overlaps; a damaged index is refused clearly."""

from __future__ import annotations

import difflib
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stackwright.release.attribution import (
    BLOCKS,
    BLOOM,
    HEADER,
    AttributionIndex,
    build_attribution_index,
    normalize,
)

LICENSES = ["MIT", "Apache-2.0", "BSD-3-Clause", None]
BLOCK_BYTES = 4096  # small blocks, so that a query has many to rule out


def reference_normalize(text: str) -> str:
    return re.sub(r"[ \t\n\r\f\v]+", " ", text).strip(" ")


def word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(3, 10)))


def code_file(rng: random.Random) -> str:
    """Python-looking text made of random identifiers: no two files share a long stretch by chance."""
    lines: list[str] = []
    for _ in range(rng.randint(4, 12)):
        name, args = word(rng), ", ".join(word(rng) for _ in range(rng.randint(0, 3)))
        lines.append(f"def {name}({args}):")
        for _ in range(rng.randint(2, 8)):
            indent = "    " * rng.randint(1, 3)
            lines.append(
                f"{indent}{word(rng)} = {word(rng)}({word(rng)}, {rng.randint(0, 999)})  # {word(rng)}"
            )
        lines.append(f"    return {word(rng)}\n")
    return "\n".join(lines)


def write_shard(path: Path, rows: list[dict[str, Any]], with_license: bool = True) -> None:
    columns = {
        "repo": pa.array([r["repo"] for r in rows], pa.string()),
        "path": pa.array([r["path"] for r in rows], pa.string()),
        "content": pa.array([r["content"] for r in rows], pa.string()),
    }
    if with_license:
        columns["license"] = pa.array([r["license"] for r in rows], pa.string())
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, row_group_size=7, compression="zstd")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two shards of several row groups, six repositories with their licenses, one file copied into a
    second repository, and an index over them."""
    root = tmp_path_factory.mktemp("attribution")
    rng = random.Random(20240607)
    rows: list[dict[str, Any]] = []
    for r in range(6):
        repo, license_ = f"owner{r}/project{r}", LICENSES[r % len(LICENSES)]
        for f in range(9):
            rows.append(
                {"repo": repo, "path": f"src/mod{f}.py", "content": code_file(rng), "license": license_}
            )
    rows.append({**rows[3], "repo": "fork/project0", "path": "vendored/mod3.py", "license": "MIT"})
    for i in range(5, len(rows), 5):  # leading whitespace right after a row that ends without any
        rows[i - 1]["content"] = rows[i - 1]["content"].rstrip()
        rows[i]["content"] = "\n \t" + rows[i]["content"] + "\n\n  "
    rows[10]["content"] = ""  # an empty file and a tiny one do not upset the build
    rows[11]["content"] = "x = 1\n"
    half = len(rows) // 2
    shards = [
        root / "release" / "data" / "part-00000.parquet",
        root / "release" / "data" / "part-00001.parquet",
    ]
    write_shard(shards[0], rows[:half])
    write_shard(shards[1], rows[half:])
    located = [(0, i) for i in range(half)] + [(1, i) for i in range(len(rows) - half)]
    calls: list[tuple[int, int]] = []
    stats = build_attribution_index(
        shards,
        root / "index",
        block_bytes=BLOCK_BYTES,
        progress=lambda done, total: calls.append((done, total)),
    )
    return {
        "root": root,
        "rows": rows,
        "located": located,
        "shards": shards,
        "index_dir": root / "index",
        "stats": stats,
        "progress": calls,
        "index": AttributionIndex.open(root / "index"),
    }


def span_of(rng: random.Random, rows: list[dict[str, Any]], size: int) -> tuple[int, str]:
    while True:
        i = rng.randrange(len(rows))
        text = rows[i]["content"]
        if len(text) > size + 10:
            start = rng.randrange(len(text) - size)
            return i, text[start : start + size]


def test_build_reports_and_writes_a_finished_index(release: dict[str, Any]) -> None:
    stats, rows = release["stats"], release["rows"]
    assert stats["files"] == len(rows)
    assert stats["content_bytes"] == sum(len(r["content"].encode()) for r in rows)
    assert stats["normalized_bytes"] == sum(len(reference_normalize(r["content"]).encode()) for r in rows)
    assert stats["blocks"] > 10 and stats["fingerprints"] > 0
    assert stats["parameters"]["k"] == 32 and stats["parameters"]["window"] == 40
    # A few percent of the content, not a copy of it.
    assert 0 < stats["index_bytes"] < 0.10 * stats["content_bytes"]
    names = sorted(p.name for p in release["index_dir"].iterdir())
    assert names == sorted([HEADER, BLOCKS, BLOOM]), names  # no temporary file left behind
    assert release["progress"][-1] == (len(rows), len(rows))
    assert [done for done, _ in release["progress"]] == sorted(done for done, _ in release["progress"])


def test_sampled_spans_are_found_with_repo_path_license_and_row(release: dict[str, Any]) -> None:
    index: AttributionIndex = release["index"]
    rows = release["rows"]
    rng = random.Random(7)
    for _ in range(40):
        i, span = span_of(rng, rows, 200)
        matches = index.query(span)
        own = [m for m in matches if (m.repo, m.path) == (rows[i]["repo"], rows[i]["path"])]
        assert len(own) == 1, (span, matches)
        match = own[0]
        assert match.exact and match.overlap_fraction == 1.0
        assert match.overlap_chars == len(normalize(span))
        assert match.license == rows[i]["license"]
        shard, row = release["located"][i]
        assert match.shard == f"data/part-0000{shard}.parquet"
        assert match.row == row
        stored = pq.read_table(release["shards"][shard]).slice(row, 1).to_pylist()[0]
        assert stored["path"] == match.path and stored["repo"] == match.repo


def test_the_filters_rule_out_most_blocks(release: dict[str, Any]) -> None:
    """The Bloom stage really selects: a span's candidates are a handful of the blocks."""
    index: AttributionIndex = release["index"]
    rng = random.Random(11)
    counts = []
    for _ in range(20):
        _, span = span_of(rng, release["rows"], 200)
        counts.append(index.candidates(span).shape[0])
    assert min(counts) >= 1
    assert max(counts) <= 4 < index.block_count


def test_a_copied_file_is_reported_in_both_repositories(release: dict[str, Any]) -> None:
    rows = release["rows"]
    span = rows[3]["content"][50:300]
    found = {(m.repo, m.path, m.license) for m in release["index"].query(span) if m.exact}
    assert found == {
        (rows[3]["repo"], rows[3]["path"], rows[3]["license"]),
        ("fork/project0", "vendored/mod3.py", "MIT"),
    }


def test_span_with_whitespace_changes_is_still_found(release: dict[str, Any]) -> None:
    rows = release["rows"]
    rng = random.Random(3)
    for _ in range(10):
        i, span = span_of(rng, rows, 300)
        reformatted = (
            "\n\t"
            + span.replace("\n", "\r\n        ").replace(" = ", " \t =  ").replace(", ", ",\n   ")
            + "  \n"
        )
        assert reformatted != span
        matches = release["index"].query(reformatted)
        assert any(m.exact and (m.repo, m.path) == (rows[i]["repo"], rows[i]["path"]) for m in matches)


def test_text_not_in_the_release_is_not_found(release: dict[str, Any]) -> None:
    index: AttributionIndex = release["index"]
    rng = random.Random(99)  # other random identifiers than the release's
    for _ in range(20):
        text = code_file(rng)[:200]
        assert index.query(text) == []
        assert index.candidates(text, min_overlap=len(text)).shape[0] == 0


def test_an_edited_snippet_reports_partial_overlap(release: dict[str, Any]) -> None:
    index: AttributionIndex = release["index"]
    rows = release["rows"]
    rng = random.Random(5)
    checked = 0
    while checked < 8:
        i = rng.randrange(len(rows))
        lines = rows[i]["content"].splitlines(keepends=True)
        if len(lines) < 16:
            continue
        start = rng.randrange(len(lines) - 12)
        chosen = lines[start : start + 12]
        chosen[6] = "    edited_line = 'this line was rewritten by hand'\n"
        snippet = "".join(chosen)
        before, after = normalize("".join(chosen[:6])), normalize("".join(chosen[7:]))
        if min(len(before), len(after)) < index.default_min_overlap + 10:
            continue
        checked += 1
        query = normalize(snippet)
        own = [m for m in index.query(snippet) if (m.repo, m.path) == (rows[i]["repo"], rows[i]["path"])]
        assert len(own) == 1
        match = own[0]
        assert not match.exact and 0 < match.overlap_fraction < 1
        # The longest verbatim stretch, computed independently.
        content = normalize(rows[i]["content"])
        longest = (
            difflib.SequenceMatcher(None, query, content, autojunk=False)
            .find_longest_match(0, len(query), 0, len(content))
            .size
        )
        assert match.overlap_chars == longest
        assert match.overlap_chars >= max(len(before), len(after))
        assert match.overlap_fraction == pytest.approx(longest / len(query))
        # Asking for the whole snippet only: the edited copy is not in the release.
        assert index.query(snippet, min_overlap=len(query)) == []


def test_too_short_and_empty_queries_raise_clear_errors(release: dict[str, Any]) -> None:
    index: AttributionIndex = release["index"]
    with pytest.raises(ValueError, match="empty query"):
        index.query("  \n\t ")
    short = "x" * (index.min_query_chars - 1)
    with pytest.raises(ValueError, match=rf"too short \({index.min_query_chars - 1} characters"):
        index.query(short)
    with pytest.raises(ValueError, match="min_overlap must be at least"):
        index.query("y" * 200, min_overlap=10)
    assert index.query("z" * index.min_query_chars) == []


def test_match_to_json_is_plain_json(release: dict[str, Any]) -> None:
    rows = release["rows"]
    match = release["index"].query(rows[0]["content"][:150])[0]
    data = json.loads(json.dumps(match.to_json()))
    assert data["repo"] == rows[0]["repo"] and data["path"] == rows[0]["path"]
    assert data["license"] == rows[0]["license"] and data["exact"] is True
    assert set(data) == {
        "repo",
        "path",
        "license",
        "commit",
        "shard",
        "row",
        "overlap_chars",
        "overlap_fraction",
        "exact",
    }


def test_license_is_none_without_a_license_column(tmp_path: Path) -> None:
    rng = random.Random(1)
    rows = [{"repo": "a/b", "path": f"f{i}.py", "content": code_file(rng)} for i in range(5)]
    shard = tmp_path / "shard.parquet"
    write_shard(shard, rows, with_license=False)
    build_attribution_index([shard], tmp_path / "idx")
    matches = AttributionIndex.open(tmp_path / "idx").query(rows[2]["content"][10:210])
    assert [(m.path, m.license, m.shard, m.row) for m in matches] == [("f2.py", None, "shard.parquet", 2)]


def test_normalize_collapses_ascii_whitespace_only() -> None:
    rng = random.Random(2)
    alphabet = [" ", "\t", "\n", "\r", "\v", "\f", "a", "é", "€", "\xa0", "\u2003", "😀", "\x1c"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
        assert normalize(text) == reference_normalize(text), repr(text)
    assert normalize("  def  f(x):\n\n\treturn\tx  ") == "def f(x): return x"


# -- bad input ----------------------------------------------------------------------------------


def copy_index(release: dict[str, Any], dest: Path) -> Path:
    dest.mkdir()
    for p in release["index_dir"].iterdir():
        (dest / p.name).write_bytes(p.read_bytes())
    header = json.loads((dest / HEADER).read_text())
    for shard in header["shards"]:  # keep the shards findable from the copy
        shard["relative_path"] = str(Path(shard["path"]))
    (dest / HEADER).write_text(json.dumps(header))
    return dest


def test_missing_index_is_a_clear_file_not_found(tmp_path: Path, release: dict[str, Any]) -> None:
    with pytest.raises(FileNotFoundError, match="not a folder"):
        AttributionIndex.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not an attribution index"):
        AttributionIndex.open(tmp_path / "empty")
    index = copy_index(release, tmp_path / "no-bloom")
    (index / BLOOM).unlink()
    with pytest.raises(ValueError, match=r"bloom\.bin is missing"):
        AttributionIndex.open(index)


@pytest.mark.parametrize(
    "damage",
    [
        "header-json",
        "header-format",
        "header-shards",
        "bloom-truncated",
        "bloom-flipped",
        "blocks-garbage",
        "blocks-shape",
        "blocks-negative",
    ],
)
def test_corrupted_index_is_a_clear_value_error(tmp_path: Path, release: dict[str, Any], damage: str) -> None:
    index = copy_index(release, tmp_path / "index")
    AttributionIndex.open(index)  # the copy itself is fine
    if damage == "header-json":
        (index / HEADER).write_text('{"format": ')
    elif damage == "header-format":
        header = json.loads((index / HEADER).read_text())
        header["format_version"] = 99
        (index / HEADER).write_text(json.dumps(header))
    elif damage == "header-shards":
        header = json.loads((index / HEADER).read_text())
        del header["shards"][0]["name"]
        (index / HEADER).write_text(json.dumps(header))
    elif damage == "bloom-truncated":
        data = (index / BLOOM).read_bytes()
        (index / BLOOM).write_bytes(data[: len(data) // 2])
    elif damage == "bloom-flipped":
        data = bytearray((index / BLOOM).read_bytes())
        data[len(data) // 3] ^= 0xFF
        (index / BLOOM).write_bytes(bytes(data))
    elif damage == "blocks-negative":
        blocks = np.load(index / BLOCKS)
        blocks[1, 3] = -5
        np.save(index / BLOCKS, blocks)
    elif damage == "blocks-garbage":
        (index / BLOCKS).write_bytes(b"not a numpy file")
    else:
        np.save(index / BLOCKS, np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError, match="corrupt attribution index"):
        AttributionIndex.open(index)


def test_missing_or_changed_shard_is_reported(tmp_path: Path) -> None:
    rng = random.Random(4)
    rows = [
        {"repo": "a/b", "path": f"f{i}.py", "content": code_file(rng), "license": "MIT"} for i in range(4)
    ]
    shard = tmp_path / "data" / "part-00000.parquet"
    write_shard(shard, rows)
    build_attribution_index([shard], tmp_path / "idx")
    write_shard(shard, rows[:2])
    with pytest.raises(ValueError, match="changed since the attribution index was built"):
        AttributionIndex.open(tmp_path / "idx")
    shard.unlink()
    with pytest.raises(
        FileNotFoundError, match=r"data/part-00000\.parquet of the attribution index is missing"
    ):
        AttributionIndex.open(tmp_path / "idx")


def test_bad_shards_are_refused_at_build(tmp_path: Path) -> None:
    # An empty release has an empty index: it opens and finds nothing.
    assert build_attribution_index([], tmp_path / "empty")["files"] == 0
    assert AttributionIndex.open(tmp_path / "empty").query("x = 1\n" * 40) == []
    with pytest.raises(FileNotFoundError, match="shard not found"):
        build_attribution_index([tmp_path / "missing.parquet"], tmp_path / "idx")
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 certainly not parquet")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        build_attribution_index([junk], tmp_path / "idx")
    no_content = tmp_path / "no-content.parquet"
    pq.write_table(pa.table({"repo": ["a/b"], "path": ["x"]}), no_content)
    with pytest.raises(ValueError, match="missing column"):
        build_attribution_index([no_content], tmp_path / "idx")
    assert not (tmp_path / "idx" / HEADER).exists()
