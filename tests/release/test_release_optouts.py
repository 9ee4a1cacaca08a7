"""Releases honour the opt-out registry: `stackwright release` and `stackwright optout apply` leave out
the code of verified requests (case-insensitively), mark them applied with the release version, record
the registry state in the manifest, and `release diff` gives the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error, build_ok, read_manifest, run_cli, write
from postgres import postgres_server, reset_database  # noqa: F401  (the session fixture)
from stackwright.registry import Registry
from stackwright.release.manifest import next_version

MIT = "MIT License\n\nCopyright (c) 2024 Test\n\nPermission is hereby granted, free of charge, to any " \
    "person " \
    "obtaining a copy of this software and associated documentation files (the \"Software\"), to deal in " \
    "the Software without restriction, including without limitation the rights to use, copy, modify, " \
    "merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons " \
    "to whom the Software is furnished to do so, subject to the following conditions:\n\nThe above " \
    "copyright notice and this permission notice shall be included in all copies or substantial " \
    "portions of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, " \
    "EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A " \
    "PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE " \
    "LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR " \
    "OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS " \
    "IN THE SOFTWARE.\n"  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
        Registry.open(url).close()
        yield url
        return
    url = request.getfixturevalue("postgres_server")
    reset_database(url)
    Registry.open(url).close()
    yield url
    reset_database(url)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three repositories of Alice and one of Bob, built with an empty registry."""
    base = tmp_path_factory.mktemp("optout-release")
    for repo in ("alice__tools", "alice__web", "alice__cli", "bob__lib"):
        write(base / "repos" / repo / "LICENSE", MIT)
        write(base / "repos" / repo / "src" / "main.py", f"def main():\n    return {repo!r}\n")
    out = base / "dataset"
    build_ok(base / "repos", "--out", out, "--steps", "drop_empty,licenses,license_filter")
    return out


def _repos(release: Path) -> set[str]:
    table = pq.read_table(release / "index" / "usernames.parquet")
    return set(table.column("repo").to_pylist())


def test_release_leaves_out_verified_optouts_and_marks_them_applied(
    dataset: Path, db_url: str, tmp_path: Path
) -> None:
    with Registry.open(db_url) as reg:
        web = reg.request_optout("Alice", ["WEB"], "a@example.com")  # case differs from the data
        reg.verify(web.id, actor="test")
        pending = reg.request_optout("bob", "all", "b@example.com")  # never verified: stays in

    out = tmp_path / "v1.0.0"
    proc = run_cli("release", dataset, "--version", "v1.0.0", "--out", out, "--db", db_url, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["requests_applied"] == [web.id]
    assert _repos(out) == {"alice/tools", "alice/cli", "bob/lib"}
    manifest = read_manifest(out)
    optouts = manifest["optouts"]
    assert optouts["source"] == "registry" and optouts["removed"] == {"alice/web": 2}
    assert optouts["requests_applied"] == 1 and optouts["entries"] == 1
    state = optouts["registry"]
    assert state["requests"]["verified"] == 1 and state["requests"]["pending"] == 1
    assert "b@example.com" not in json.dumps(manifest) and "a@example.com" not in json.dumps(manifest)
    assert manifest["steps"]["release_optout"]["dropped"] == {"opt-out": 2}
    assert run_cli("release", "verify", out).returncode == 0
    card = (out / "datacard.md").read_text(encoding="utf-8")
    assert "honoured the opt-out registry (1 verified entries" in card and "1 requests applied" in card
    assert "alice/web" not in card and "a@example.com" not in card  # counts only, never who asked

    with Registry.open(db_url) as reg:
        applied = reg.get(web.id)
        assert applied is not None and applied.status == "applied" and applied.applied_release == "v1.0.0"
        still = reg.get(pending.id)
        assert still is not None and still.status == "pending"


def test_optout_apply_makes_a_new_release_without_newly_opted_out_code(
    dataset: Path, db_url: str, tmp_path: Path
) -> None:
    releases = tmp_path / "releases"
    first = releases / "v0.1.0"
    assert run_cli("release", dataset, "--version", "v0.1.0", "--out", first, "--db", db_url).returncode == 0
    assert _repos(first) == {"alice/tools", "alice/web", "alice/cli", "bob/lib"}
    before = {p.name: p.read_bytes() for p in (first / "data").iterdir()}

    with Registry.open(db_url) as reg:
        request = reg.request_optout("alice", ["tools", "alice/CLI"], "a@example.com")
        reg.verify(request.id, actor="admin")

    proc = run_cli("optout", "apply", first, "--out", releases / "v0.1.1", "--db", db_url)
    assert proc.returncode == 0, proc.stderr
    assert "alice/tools: 2 file(s)" in proc.stdout and "alice/cli: 2 file(s)" in proc.stdout
    second = releases / "v0.1.1"  # the next patch version by default
    assert _repos(second) == {"alice/web", "bob/lib"}
    manifest = read_manifest(second)
    assert manifest["version"] == "v0.1.1" and manifest["based_on"]["version"] == "v0.1.0"
    assert manifest["optouts"]["removed"] == {"alice/cli": 2, "alice/tools": 2}
    assert manifest["optouts"]["earlier"]["removed"] == {}
    assert run_cli("release", "verify", second).returncode == 0
    # The earlier release is untouched.
    assert {p.name: p.read_bytes() for p in (first / "data").iterdir()} == before
    assert run_cli("release", "verify", first).returncode == 0

    diff = run_cli("release", "diff", first, second, "--json")
    assert diff.returncode == 0, diff.stderr
    removed = json.loads(diff.stdout)["repositories"]
    assert removed["removed_by_reason"] == {"opt-out": 2}
    assert {r["repo"]: r["reason"] for r in removed["removed"]["items"]} == {
        "alice/cli": "opt-out", "alice/tools": "opt-out"}

    with Registry.open(db_url) as reg:
        done = reg.get(request.id)
        assert done is not None and done.status == "applied" and done.applied_release == "v0.1.1"

    # Nothing new to apply: the next release holds the same repositories and applies no request.
    proc = run_cli("optout", "apply", second, "--out", releases / "v0.2.0", "--version", "v0.2.0",
                   "--db", db_url, "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["requests_applied"] == []
    assert _repos(releases / "v0.2.0") == {"alice/web", "bob/lib"}
    steps = read_manifest(releases / "v0.2.0")["steps"]
    assert steps["release_optout"]["dropped"] == {"opt-out": 4}  # the removals add up along releases


def test_apply_errors_are_one_line(dataset: Path, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.sqlite'}"
    assert_one_line_error(run_cli("optout", "apply", tmp_path / "nothing", "--out", tmp_path / "o"))
    proc = run_cli("release", dataset, "--version", "v1.0.0", "--out", tmp_path / "r", "--db", missing)
    assert_one_line_error(proc)
    assert not (tmp_path / "r").exists()
    # A dataset is not a release: apply refuses it.
    proc = run_cli("optout", "apply", dataset, "--out", tmp_path / "o2", "--version", "v1.0.0",
                   "--db", f"sqlite:///{tmp_path / 'reg.sqlite'}")  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("version", "expected"), [("v1.2.3", "v1.2.4"), ("v0.1.0", "v0.1.1"),
                                                   ("v1.3.0-rc.1", "v1.3.0")])
def test_next_version(version: str, expected: str) -> None:
    assert next_version(version) == expected
