"""Releases made with the `stackwright release` commands from a real built dataset.

The dataset is built with the real command from a folder of repositories; every release is read back
with pyarrow, `datasets` and (for the data card) headless Chromium, and checked against numbers
computed here from the rows themselves.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error, build_ok, cli_env, read_manifest, read_rows, run_cli, write

MIT = """MIT License

Copyright (c) 2024 Example

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""
# Steps with language, license and PII counts, and no filter, so that every repository stays.
STEPS = ("--steps", "drop_empty,licenses,languages,pii")
CHARTS = ("chart-languages", "chart-licenses", "chart-sizes", "chart-steps")


def _make_repos(root: Path, *, without: tuple[str, ...] = (), emptied: tuple[str, ...] = ()) -> Path:
    """A folder of repositories named ``owner__name``; ``emptied`` ones hold only empty files."""
    files = {
        "alice__tools": {
            "LICENSE": MIT,
            "src/main.py": "def main():\n    return 'tools'\n",
            "src/lib.rs": "pub fn add(a: u32, b: u32) -> u32 { a + b }\n",
        },
        "alice__web": {
            "index.js": "export const web = () => 'web';\n" * 40,
            "README.md": "# web\n\nWrite to web-team@example.com for access.\n",
        },
        "Bob__lib": {
            "LICENSE": MIT,
            "lib/core.py": "VALUE = 1\n" * 300,
            "lib/config.py": "SERVER = '10.1.2.3'\nADMIN = 'admin@example.org'\n",
        },
        "carol__x": {"x.go": "package x\n\nfunc X() int { return 1 }\n", "empty.txt": ""},
        "dave__gone": {"gone.py": "print('soon gone')\n"},
    }
    for repo, content in files.items():
        if repo in without:
            continue
        for path, text in content.items():
            write(root / repo / path, "" if repo in emptied else text)
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("release-dataset")
    out = base / "dataset"
    build_ok(_make_repos(base / "repos"), "--out", out, *STEPS)
    return out


@pytest.fixture(scope="module")
def release(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Release v1.0.0 of the dataset, made with the short form `stackwright release DATASET ...`."""
    out = tmp_path_factory.mktemp("releases") / "v1.0.0"
    proc = run_cli("release", dataset, "--version", "v1.0.0", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["release"] == str(out) and summary["datacard"] == str(out / "datacard.html")
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _release_rows(release: Path) -> list[dict[str, Any]]:
    return [
        row
        for s in read_manifest(release)["shards"]
        for row in pq.read_table(release / s["path"]).to_pylist()
    ]


def _verify(release: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("release", "verify", release, *extra)


def test_release_holds_every_file_and_counts_match_the_rows(dataset: Path, release: Path) -> None:
    assert sorted(p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()) == [
        "data/part-00000.parquet",
        "datacard.html",
        "datacard.md",
        "index/attribution/attribution.json",
        "index/attribution/blocks.npy",
        "index/attribution/bloom.bin",
        "index/usernames.parquet",
        "manifest.json",
    ]
    manifest = read_manifest(release)
    source = read_manifest(dataset)
    assert manifest["format"] == "stackwright-release" and manifest["version"] == "v1.0.0"
    assert manifest["tool"]["name"] == "stackwright"
    assert manifest["dataset"]["plan_fingerprint"] == source["plan_fingerprint"]
    assert manifest["dataset"]["created_at"] == source["created_at"]
    assert manifest["config"] == source["config"]

    rows = _release_rows(release)
    assert rows == read_rows(dataset), "without opt-outs a release holds the dataset's rows, in order"
    assert (release / "data/part-00000.parquet").read_bytes() == (
        dataset / "data/part-00000.parquet"
    ).read_bytes()
    assert manifest["rows"] == len(rows) == source["rows"]
    repos = Counter(r["repo"] for r in rows)
    assert manifest["repositories"] == len(repos) == 5
    sizes = [len(r["content"].encode()) for r in rows]
    assert manifest["content_bytes"] == sum(sizes)
    for column in ("language", "license", "license_category"):
        expected: dict[str, dict[str, int]] = {}
        for row, size in zip(rows, sizes, strict=True):
            entry = expected.setdefault(
                "null" if row[column] is None else row[column], {"files": 0, "bytes": 0}
            )
            entry["files"] += 1
            entry["bytes"] += size
        assert manifest["counts"][column] == expected, column
        assert list(manifest["counts"][column]) == sorted(expected, key=lambda k: (-expected[k]["files"], k))
    assert "Python" in manifest["counts"]["language"] and "MIT" in manifest["counts"]["license"]
    assert sum(b["files"] for b in manifest["file_sizes"]) == len(rows)

    steps = {name: {k: st[k] for k in ("in", "out", "dropped")} for name, st in source["steps"].items()}
    assert manifest["steps"] == steps
    assert manifest["steps"]["drop_empty"]["dropped"] == {"empty": 1}
    assert manifest["pii"] == source["steps"]["pii"]["counted"]
    assert manifest["pii"]["EMAIL"] == 2
    assert manifest["dedup"] is None
    assert manifest["optouts"] == {"source": None, "sha256": None, "entries": 0, "removed": {},
                                   "registry": None, "requests_applied": 0}
    listed = {r["repo"] for s in manifest["sources"] for r in s["repositories"]}
    assert listed == set(repos) and all("commit" in r for s in manifest["sources"] for r in s["repositories"])

    [shard] = manifest["shards"]
    data = release / shard["path"]
    assert shard == {
        "path": "data/part-00000.parquet",
        "rows": len(rows),
        "bytes": data.stat().st_size,
        "sha256": _sha256(data),
    }
    assert set(manifest["files"]) == {"datacard.html", "datacard.md", "index/usernames.parquet",
                                      "index/attribution/attribution.json", "index/attribution/blocks.npy",
                                      "index/attribution/bloom.bin"}
    for name, entry in manifest["files"].items():
        assert entry == {"bytes": (release / name).stat().st_size, "sha256": _sha256(release / name)}
    assert manifest["file_bytes"] == data.stat().st_size


def test_usernames_index(release: Path) -> None:
    from stackwright.release.usernames import lookup_username

    rows = _release_rows(release)
    files = Counter(r["repo"] for r in rows)
    size = Counter()
    for r in rows:
        size[r["repo"]] += len(r["content"].encode())
    index = pq.read_table(release / "index/usernames.parquet")
    assert index.column_names == ["username", "repo", "files", "bytes"]
    expected = sorted((repo.split("/")[0].lower(), repo, files[repo], size[repo]) for repo in files)
    got = [(r["username"], r["repo"], r["files"], r["bytes"]) for r in index.to_pylist()]
    assert got == expected
    assert [g[0] for g in got] == ["alice", "alice", "bob", "carol", "dave"]
    assert lookup_username(release / "index/usernames.parquet", "BOB") == [
        {"repo": "Bob/lib", "files": files["Bob/lib"], "bytes": size["Bob/lib"]}
    ]
    assert lookup_username(release / "index/usernames.parquet", "nobody") == []


def test_data_card_markdown_and_html(release: Path) -> None:
    manifest = read_manifest(release)
    card = (release / "datacard.md").read_text()
    assert card.startswith("# Data card: release v1.0.0")
    assert f"| files | {manifest['rows']:,} |" in card
    assert "| Python |" in card and "| MIT |" in card and "| EMAIL | 2 |" in card
    assert "| drop\\_empty | " in card and "empty (1)" in card
    assert 'load_dataset("parquet", data_files="v1.0.0/data/*.parquet", split="train")' in card
    page = (release / "datacard.html").read_text()
    for chart in CHARTS:
        assert f'<svg class="chart" id="{chart}"' in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_both_forms_of_make_and_the_help(dataset: Path, tmp_path: Path) -> None:
    proc = run_cli("release", "make", dataset, "--version", "v1.0.0-rc.1", "--out", tmp_path / "rc", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == "v1.0.0-rc.1"
    # Options first, then the dataset: still the short form.
    proc = run_cli("release", "--version", "v1.0.0", "--out", tmp_path / "short", dataset)
    assert proc.returncode == 0, proc.stderr
    assert "data card:" in proc.stdout
    assert _verify(tmp_path / "short").returncode == 0
    helped = run_cli("release", "--help")
    assert helped.returncode == 0
    assert all(word in helped.stdout for word in ("make", "verify", "diff"))


def test_verify_ok_then_one_flipped_byte(release: Path, tmp_path: Path) -> None:
    proc = _verify(release)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok:" in proc.stdout
    assert json.loads(_verify(release, "--json").stdout) == {
        "release": str(release),
        "ok": True,
        "problems": [],
    }

    for name in ("data/part-00000.parquet", "datacard.html"):
        copy = tmp_path / name.replace("/", "_")
        shutil.copytree(release, copy)
        target = copy / name
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        proc = _verify(copy)
        assert proc.returncode == 1, proc.stdout
        assert f"problem: {name}: sha256 mismatch" in proc.stdout
        assert "Traceback" not in proc.stderr and "failed verification" in proc.stderr
        result = json.loads(_verify(copy, "--json").stdout)
        assert result["ok"] is False and len(result["problems"]) == 1


def test_verify_finds_missing_extra_and_inconsistent(release: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    (copy / "index/usernames.parquet").unlink()
    write(copy / "data/part-00001.parquet", b"PAR1 not really")
    manifest = read_manifest(copy)
    manifest["rows"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    problems = json.loads(_verify(copy, "--json").stdout)["problems"]
    assert any(p.startswith("index/usernames.parquet: missing") for p in problems)
    assert any(p.startswith("data/part-00001.parquet: extra file") for p in problems)
    assert any("rows" in p and "sum of the shards" in p for p in problems)

    # A manifest that points outside the release is a problem, and nothing outside is read.
    manifest = read_manifest(release)
    manifest["shards"][0]["path"] = "../../etc/passwd"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert any("unsafe path" in p for p in json.loads(_verify(copy, "--json").stdout)["problems"])
    (copy / "manifest.json").write_text("{not json")
    assert _verify(copy).returncode == 1
    assert_one_line_error(_verify(tmp_path / "nowhere"), "no such release folder")
    assert_one_line_error(_verify(tmp_path), "not a stackwright release")


def test_diff_reports_opt_outs_and_why_repositories_went(
    dataset: Path, release: Path, tmp_path: Path
) -> None:
    optouts = write(
        tmp_path / "optouts.txt",
        "# people who asked to be left out\n\ncarol  # every repository\nALICE/Web\r\nnobody/absent\n",
    )
    b = tmp_path / "v1.1.0"
    proc = run_cli("release", dataset, "--version", "v1.1.0", "--out", b, "--exclude", optouts)
    assert proc.returncode == 0, proc.stderr
    assert "opt-outs removed" in proc.stdout
    mb = read_manifest(b)
    rows_a = _release_rows(release)
    gone = Counter(r["repo"] for r in rows_a if r["repo"] in ("carol/x", "alice/web"))
    listed = {"source": "optouts.txt", "sha256": _sha256(optouts), "entries": 3}
    assert mb["optouts"] == {
        **listed,
        "list": listed,
        "registry": None,
        "requests_applied": 0,
        "removed": dict(sorted(gone.items())),
    }
    assert mb["rows"] == len(rows_a) - sum(gone.values())
    assert {r["repo"] for r in _release_rows(b)} == {"alice/tools", "Bob/lib", "dave/gone"}
    assert mb["steps"]["release_optout"] == {
        "in": len(rows_a),
        "out": mb["rows"],
        "dropped": {"opt-out": sum(gone.values())},
    }
    assert not {"carol/x", "alice/web"} & {r["repo"] for s in mb["sources"] for r in s["repositories"]}
    index = pq.read_table(b / "index/usernames.parquet").column("repo").to_pylist()
    assert index == ["alice/tools", "Bob/lib", "dave/gone"]
    assert "Applied the opt-out list optouts.txt (3 entries" in (b / "datacard.md").read_text()
    assert _verify(b).returncode == 0

    proc = run_cli("release", "diff", release, b, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["a"]["version"] == "v1.0.0" and result["b"]["version"] == "v1.1.0"
    assert result["repositories"]["removed"]["items"] == [
        {"repo": "alice/web", "files": gone["alice/web"], "reason": "opt-out"},
        {"repo": "carol/x", "files": gone["carol/x"], "reason": "opt-out"},
    ]
    assert result["repositories"]["removed_by_reason"] == {"opt-out": 2}
    assert result["repositories"]["added"]["count"] == 0
    removed_files = sorted((r["repo"], r["path"]) for r in rows_a if r["repo"] in gone)
    assert result["files"]["removed"]["count"] == len(removed_files)
    assert [(f["repo"], f["path"]) for f in result["files"]["removed"]["items"]] == removed_files
    assert result["files"]["added"]["count"] == 0
    assert result["files"]["unchanged"] == mb["rows"]

    text = run_cli("release", "diff", release, b)
    assert text.returncode == 0
    assert "repositories: 5 -> 3 (+0, -2)" in text.stdout
    assert "  alice/web (2 files): opt-out\n  carol/x (1 file): opt-out\n" in text.stdout
    short = run_cli("release", "diff", release, b, "--limit", "1").stdout
    assert "alice/web (2 files): opt-out" in short and "carol/x" not in short.split("files removed:")[0]
    assert "... and 1 more" in short and "... and 2 more" in short


def test_diff_tells_filtered_from_not_in_source(release: Path, tmp_path: Path) -> None:
    """A repository the later dataset did not read is `not in source`; one it read but whose files all
    went is `filtered`."""
    later = tmp_path / "dataset2"
    build_ok(
        _make_repos(tmp_path / "repos2", without=("dave__gone",), emptied=("carol__x",)),
        "--out",
        later,
        *STEPS,
    )
    b = tmp_path / "v2.0.0"
    assert run_cli("release", later, "--version", "v2.0.0", "--out", b).returncode == 0
    result = json.loads(run_cli("release", "diff", release, b, "--json").stdout)
    reasons = {r["repo"]: r["reason"] for r in result["repositories"]["removed"]["items"]}
    assert reasons == {"carol/x": "filtered", "dave/gone": "not in source"}
    added = json.loads(run_cli("release", "diff", b, release, "--json").stdout)["repositories"]["added"]
    assert [r["repo"] for r in added["items"]] == ["carol/x", "dave/gone"]
    assert_one_line_error(run_cli("release", "diff", release, tmp_path / "missing"), "no such release folder")


@pytest.mark.slow  # seconds of real work; CI runs the slow tests too
def test_refusals(dataset: Path, release: Path, tmp_path: Path) -> None:
    before = {p: _sha256(p) for p in release.rglob("*") if p.is_file()}
    proc = run_cli("release", dataset, "--version", "v1.0.0", "--out", release)
    assert_one_line_error(proc, "immutable")
    assert {p: _sha256(p) for p in release.rglob("*") if p.is_file()} == before
    write(tmp_path / "file", "x")
    assert_one_line_error(
        run_cli("release", dataset, "--version", "v1.0.0", "--out", tmp_path / "file"), "not a folder"
    )

    for bad in (
        "1.0.0",
        "v1.0",
        "v01.0.0",
        "v1.0.0+build.1",
        "v1.0.0-",
        "v1.0.0-rc..1",
        "v1.0.0-01",
        "latest",
    ):
        proc = run_cli("release", dataset, "--version", bad, "--out", tmp_path / "bad-version")
        assert_one_line_error(proc, "invalid release version")
    assert not (tmp_path / "bad-version").exists()
    assert_one_line_error(
        run_cli("release", tmp_path / "none", "--version", "v1.0.0", "--out", tmp_path / "r"),
        "no such dataset folder",
    )
    assert_one_line_error(
        run_cli("release", release, "--version", "v1.0.1", "--out", tmp_path / "r"), "already a release"
    )
    assert_one_line_error(
        run_cli(
            "release",
            dataset,
            "--version",
            "v1.0.1",
            "--out",
            tmp_path / "r",
            "--exclude",
            tmp_path / "no-list.txt",
        ),
        "no such opt-out list",
    )

    hostile = [
        "https://github.com/alice/web",
        "../etc/passwd",
        "alice/web/extra",
        "-alice",
        "alice_x",
        "two words",
        "[bold red]alice[/]",
        "\x1b[31malice",
        "alice/..",
        "alice/",
        "/web",
        "alice\tweb",
        "\u212aelvin",
        "a" * 40,
        "alice/" + "w" * 101,
        "ali\x00ce",
        "alice*",
        "@alice",
        "alice\u2028",
    ]
    for line in hostile:
        listing = write(tmp_path / "hostile.txt", ("# fine\nbob\n" + line + "\n").encode("utf-8"))
        out = tmp_path / "hostile-release"
        proc = run_cli("release", dataset, "--version", "v1.0.1", "--out", out, "--exclude", listing)
        error = assert_one_line_error(proc, "hostile.txt line 3", "not a GitHub")
        assert "\x1b" not in proc.stderr and "\x00" not in proc.stderr
        assert "[bold red]" not in line or "alice" in error
        assert not out.exists()
    write(tmp_path / "latin1.txt", "caf\xe9\n".encode("latin-1"))
    assert_one_line_error(
        run_cli(
            "release",
            dataset,
            "--version",
            "v1.0.1",
            "--out",
            tmp_path / "r",
            "--exclude",
            tmp_path / "latin1.txt",
        ),
        "not UTF-8",
    )
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no temporary release left behind"


def test_an_empty_out_folder_is_used_and_everything_can_opt_out(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    everyone = write(tmp_path / "all.txt", "\ufeffAlice\nbob\ncarol\ndave\n")
    proc = run_cli("release", dataset, "--version", "v0.0.1", "--out", out, "--exclude", everyone, "--json")
    assert proc.returncode == 0, proc.stderr
    manifest = read_manifest(out)
    assert manifest["rows"] == 0 and manifest["repositories"] == 0
    [shard] = manifest["shards"]
    assert shard["rows"] == 0 and pq.read_schema(out / shard["path"]).names[:2] == ["repo", "path"]
    assert pq.read_table(out / "index/usernames.parquet").num_rows == 0
    assert _verify(out).returncode == 0


def test_load_with_datasets(release: Path, tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from datasets import load_dataset\n"
        "ds = load_dataset('parquet', data_files=sys.argv[1], split='train', cache_dir=sys.argv[2])\n"
        "print(json.dumps({'rows': ds.num_rows, 'columns': ds.column_names}))\n"
    )
    env = cli_env(
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
        HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(release / "data/*.parquet"), str(tmp_path / "cache")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded["rows"] == read_manifest(release)["rows"]
    assert {"repo", "path", "content", "language", "license"} <= set(loaded["columns"])


@pytest.mark.slow  # seconds of real work; CI runs the slow tests too
def test_demo_ends_with_a_release(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    for _ in range(2):  # the demo remakes its own release when run again
        proc = run_cli("demo", "--out", out, "--limit-mb", "1", "--json", "--workers", "2", timeout=300)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)
        release = out / "release" / "v0.1.0"
        assert summary["release"] == str(release) and summary["datacard"] == str(release / "datacard.html")
        assert read_manifest(release)["rows"] == summary["rows"]
        assert _verify(release).returncode == 0


def test_data_card_escapes_what_comes_from_the_data(release: Path) -> None:
    from stackwright.release.datacard import render_html, render_markdown

    manifest = _hostile_manifest(release)
    page = render_html(manifest, "<b>folder</b>")
    assert "<script>" not in page and "<img" not in page and "<b>folder" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    card = render_markdown(manifest, "folder")
    assert "<script>" not in card and "| x | y" not in card


def _hostile_manifest(release: Path) -> dict[str, Any]:
    manifest = read_manifest(release)
    evil = "<script>alert(1)</script>"
    manifest["counts"]["language"][evil] = {"files": 1, "bytes": 1}
    manifest["counts"]["license"]['"><img src=x onerror=alert(2)>| x | y'] = {"files": 1, "bytes": 1}
    manifest["steps"]["drop_empty"]["dropped"]["</svg><script>alert(3)</script>"] = 99
    return manifest


def _chromium() -> Any:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no system Chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[browser]')")
    return sync_playwright


@pytest.mark.browser
def test_data_card_renders_in_chromium(release: Path, tmp_path: Path) -> None:
    from stackwright.release.datacard import render_html

    sync_playwright = _chromium()
    hostile = write(tmp_path / "hostile.html", render_html(_hostile_manifest(release), "folder"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on(
                "console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto((release / "datacard.html").as_uri())
            for chart in CHARTS:
                svg = page.locator(f"svg.chart#{chart}")
                assert svg.count() == 1, chart
                assert svg.locator(":scope > title").text_content(), f"{chart} has a title"
                bars = svg.locator("rect.bar")
                assert bars.count() > 0, f"{chart} has bars"
                widths = [float(bars.nth(i).get_attribute("width") or 0) for i in range(bars.count())]
                assert max(widths) > 100, f"{chart}: the largest bar is drawn"
            assert page.locator("svg.chart#chart-languages rect.bar").count() == len(
                read_manifest(release)["counts"]["language"]
            )
            shot = tmp_path / "datacard.png"
            page.screenshot(path=str(shot), full_page=True)
            png = shot.read_bytes()
            assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
            assert problems == []
            assert requests == [(release / "datacard.html").as_uri()], "the card loads nothing else"

            page.goto(hostile.as_uri())
            assert page.locator("script").count() == 0 and page.locator("img").count() == 0
            assert "<script>alert(1)</script>" in page.locator("#chart-languages").text_content()
            assert problems == []
        finally:
            browser.close()


def test_opt_out_list_matching(tmp_path: Path) -> None:
    from stackwright.release.optouts import read_optout_list

    listing = read_optout_list(
        write(tmp_path / "list.txt", "Octo-Cat\n# comment\nsome/Repo.name_1  # why\n\n")
    )
    assert listing.entries == 2 and listing.source == "list.txt"
    assert listing.excludes("octo-cat/anything") and listing.excludes("OCTO-CAT/x")
    assert listing.excludes("SOME/repo.NAME_1") and not listing.excludes("some/repo")
    assert not listing.excludes("octo-cats/x") and not listing.excludes("other/octo-cat")
    assert os.path.basename(str(listing.source)) == "list.txt"
