"""Every release carries an attribution index: `stackwright attribute` finds 200-character spans
sampled from the release (with repository, path and license) and nothing for code not in it; the
index files are covered by `release verify`."""

from __future__ import annotations

import json
import random
import sysconfig
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error, build_ok, read_manifest, run_cli, write
from stackwright.release.attribution import AttributionIndex
from stackwright.release.manifest import ATTRIBUTION_INDEX

STDLIB = Path(sysconfig.get_paths()["stdlib"])
LICENSE = "Permission to use, copy, modify, and/or distribute this software for any purpose with or " \
    "without fee is hereby granted.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\" AND THE AUTHOR DISCLAIMS ALL " \
    "WARRANTIES WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND " \
    "FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL " \
    "DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION " \
    "OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR " \
    "PERFORMANCE OF THIS SOFTWARE.\n"  # fmt: skip  (0BSD)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two repositories made of standard-library modules (a-m in one, n-z kept out of the release)."""
    base = tmp_path_factory.mktemp("attribution")
    files = sorted(p for p in STDLIB.glob("[a-m]*.py") if p.stat().st_size > 2000)[:40]
    for i, path in enumerate(files):
        repo = "ada__first" if i % 2 else "bob__second"
        write(base / "repos" / repo / path.name, path.read_text(encoding="utf-8", errors="replace"))
    for repo in ("ada__first", "bob__second"):
        write(base / "repos" / repo / "LICENSE", LICENSE)
    build_ok(base / "repos", "--out", base / "ds", "--steps", "drop_empty,licenses,license_filter")
    out = base / "release"
    assert run_cli("release", base / "ds", "--version", "v1.0.0", "--out", out).returncode == 0
    return out


def _rows(release: Path) -> list[dict]:
    columns = ["repo", "path", "license", "content"]
    return [r for s in read_manifest(release)["shards"]
            for r in pq.read_table(release / s["path"], columns=columns).to_pylist()]


def test_spans_from_the_release_are_found_and_others_are_not(release: Path) -> None:
    rows = _rows(release)
    assert {r["license"] for r in rows} == {"0BSD"}
    rng = random.Random(7)
    index = AttributionIndex.open(release / ATTRIBUTION_INDEX)
    found = sampled = 0
    while sampled < 200:
        row = rng.choice([r for r in rows if len(r["content"]) > 400])
        start = rng.randrange(0, len(row["content"]) - 200)
        span = row["content"][start : start + 200]
        if len(" ".join(span.split())) < 120:
            continue  # mostly indentation: not a snippet anyone asks about
        sampled += 1
        matches = index.query(span)
        found += any(m.repo == row["repo"] and m.path == row["path"] for m in matches)
    assert found >= 198  # recall >= 0.99

    corpus = "\n".join(r["content"] for r in rows)
    outside = sorted(p for p in STDLIB.glob("[n-z]*.py") if p.stat().st_size > 2000)[:40]
    false_hits = tried = 0
    for path in outside:
        text = path.read_text(encoding="utf-8", errors="replace")
        for _ in range(5):
            start = rng.randrange(0, len(text) - 200)
            span = text[start : start + 200]
            if " ".join(span.split()) in " ".join(corpus.split()) or len(" ".join(span.split())) < 120:
                continue  # really in the release, or mostly blank
            tried += 1
            false_hits += bool(index.query(span))
    assert tried >= 150 and false_hits <= tried // 100  # false positives <= 1%


def test_attribute_cli(release: Path, tmp_path: Path) -> None:
    row = next(r for r in _rows(release) if len(r["content"]) > 1000)
    snippet = write(tmp_path / "completion.py", "\n".join(row["content"][300:700].splitlines()))
    proc = run_cli("attribute", snippet, "--release", release, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["found"] and result["version"] == "v1.0.0"
    best = result["matches"][0]
    assert (best["repo"], best["path"], best["license"]) == (row["repo"], row["path"], "0BSD")
    assert best["overlap_fraction"] == 1.0 and best["exact"]
    human = run_cli("attribute", snippet, "--release", release)
    assert row["path"] in human.stdout and "0BSD" in human.stdout

    other = write(tmp_path / "new.py", "def a_function_nobody_wrote_before(x, y):\n"
                  "    return sum(i * x + y for i in range(1234)) // 7 + len('never seen in any file')\n")
    result = json.loads(run_cli("attribute", other, "--release", release, "--json").stdout)
    assert result == {**result, "found": False, "matches": []}

    assert_one_line_error(run_cli("attribute", write(tmp_path / "s.py", "x = 1\n"), "--release", release),
                          "too short")
    assert_one_line_error(run_cli("attribute", tmp_path / "missing.py", "--release", release), "no such file")
    assert_one_line_error(run_cli("attribute", snippet, "--release", tmp_path), "release")


def test_verify_covers_the_index(release: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    assert run_cli("release", "verify", copy).returncode == 0
    bloom = copy / ATTRIBUTION_INDEX / "bloom.bin"
    data = bytearray(bloom.read_bytes())
    data[len(data) // 2] ^= 0x01
    bloom.write_bytes(bytes(data))
    proc = run_cli("release", "verify", copy)
    assert proc.returncode == 1 and "index/attribution/bloom.bin" in proc.stdout
