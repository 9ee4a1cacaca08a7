"""Building real git repositories with the `stackwright` command: every row matches git.

The corpus is a folder with three git repositories (a bare one, one whose owner/name comes from its
remote URL, one named ``owner__name``), several commits each, nested folders, and a working tree
that differs from the last commit. Rows are checked against ``git ls-tree`` and ``git show`` at the
commit the manifest records; the same build on Ray must give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from helpers import (
    ROW_COLUMNS,
    build_ok,
    cli_env,
    commit_all,
    git,
    git_text,
    read_manifest,
    read_rows,
    row_key,
    shard_bytes,
    without_seconds,
    write,
)

PNG_LIKE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@dataclass
class GitCorpus:
    root: Path  # the folder of repositories given to `stackwright build`
    git_dirs: dict[str, Path]  # expected repo name -> path git can run in
    head: dict[str, str]
    previous: dict[str, str]  # HEAD~1


def _make_remote_repo(path: Path) -> None:
    """A working tree with a GitHub remote, three commits, and uncommitted changes after them."""
    git(path.parent, "init", "-q", path.name)
    write(path / "README.md", "# somerepo\n\nFirst version.\n")
    write(path / "src/app/main.py", "def main():\n    return 1\n")
    write(path / "src/app/__init__.py", "")
    write(path / "src/app/util/helpers.py", "def helper(x):\n    return x * 2\n")
    write(path / "docs/guide/intro.md", "Intro to the guide.\n")
    commit_all(path, "first")
    write(path / "src/app/main.py", "def main():\n    return 2  # second\n")
    write(path / "src/app/util/more.py", "MORE = 'ünïcödé ✓'\n")
    write(path / "assets/logo.png", PNG_LIKE)
    os.symlink("src/app/main.py", path / "main_link.py")
    commit_all(path, "second")
    (path / "docs/guide/intro.md").unlink()
    write(path / "README.md", "# somerepo\n\nThird version.\n")
    commit_all(path, "third")
    git(path, "remote", "add", "origin", "https://github.com/someowner/somerepo.git")
    # Not committed: none of this may appear in a build of HEAD.
    write(path / "README.md", "# somerepo\n\nUNCOMMITTED EDIT\n")
    write(path / "untracked.py", "UNTRACKED = True\n")
    write(path / "src/app/staged.py", "STAGED = True\n")
    git(path, "add", "src/app/staged.py")


def _make_owner_name_repo(path: Path) -> None:
    git(path.parent, "init", "-q", path.name)
    write(path / "lib/core/a.rs", "fn a() -> u32 { 1 }\n")
    write(path / "lib/core/nested/deeper/b.rs", "fn b() -> u32 { 2 }\n")
    write(path / "Makefile", "all:\n\tcargo build\n")
    commit_all(path, "one")
    write(path / "lib/core/a.rs", "fn a() -> u32 { 10 }\n")
    write(path / "lib/extra/c.go", "package extra\n\nfunc C() int { return 3 }\n")
    commit_all(path, "two")
    write(path / "lib/core/nested/deeper/b.rs", "fn b() -> u32 { 20 }\n")
    commit_all(path, "three")
    write(path / "lib/core/a.rs", "fn a() -> u32 { 999 } // working tree only\n")
    write(path / "scratch.txt", "untracked scratch\n")


def _make_bare_repo(source: Path, bare: Path) -> None:
    """A bare repository (no working tree, no remote) filled by pushing from ``source``."""
    git(bare.parent, "init", "-q", "--bare", bare.name)
    git(source.parent, "init", "-q", source.name)
    write(source / "pkg/mod/x.js", "export const x = 1;\n")
    write(source / "pkg/index.js", "export * from './mod/x.js';\n")
    commit_all(source, "first")
    write(source / "pkg/mod/y.js", "export const y = 2;\n")
    commit_all(source, "second")
    write(source / "pkg/mod/x.js", "export const x = 42;\n")
    commit_all(source, "third")
    git(source, "push", "-q", str(bare), "main")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> GitCorpus:
    base = tmp_path_factory.mktemp("gitcorpus")
    root = base / "repos"
    root.mkdir()
    remote = root / "withremote"
    _make_remote_repo(remote)
    owner_name = root / "owner__name"
    _make_owner_name_repo(owner_name)
    bare = root / "mirror.git"
    _make_bare_repo(base / "bare-source", bare)
    git_dirs = {"someowner/somerepo": remote, "owner/name": owner_name, "repos/mirror": bare}
    head = {name: git_text(p, "rev-parse", "HEAD") for name, p in git_dirs.items()}
    previous = {name: git_text(p, "rev-parse", "HEAD~1") for name, p in git_dirs.items()}
    return GitCorpus(root, git_dirs, head, previous)


def _expected_rows(git_dir: Path, commit: str) -> dict[str, bytes]:
    """Path -> blob bytes of the regular text files a build must keep at ``commit``."""
    listing = git(git_dir, "ls-tree", "-r", "-z", "--full-tree", commit)
    expected: dict[str, bytes] = {}
    for entry in listing.split(b"\x00"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        mode, kind, _blob = meta.split()
        if kind != b"blob" or mode not in (b"100644", b"100755"):
            continue  # symlinks and submodules are never read
        name = path.decode()
        data = git(git_dir, "show", f"{commit}:{name}")
        if b"\x00" in data or not data.strip():
            continue  # binary, and empty files (the default drop_empty step)
        expected[name] = data
    return expected


def _check_against_git(out: Path, corpus: GitCorpus, commits: dict[str, str]) -> list[dict]:
    manifest = read_manifest(out)
    [source] = manifest["sources"]
    recorded = {r["repo"]: r["commit"] for r in source["repositories"]}
    assert recorded == commits
    rows = read_rows(out)
    by_repo: dict[str, dict[str, dict]] = {}
    for row in rows:
        assert row["path"] not in by_repo.setdefault(row["repo"], {}), f"duplicate row {row['path']}"
        by_repo[row["repo"]][row["path"]] = row
    assert set(by_repo) == set(commits)
    for name, commit in commits.items():
        git_dir = corpus.git_dirs[name]
        expected = _expected_rows(git_dir, commit)
        got = by_repo[name]
        assert set(got) == set(expected), name
        for path, data in expected.items():
            row = got[path]
            assert row["commit"] == commit
            assert row["content"] == data.decode("utf-8"), f"{name}:{path}"
            assert row["size_bytes"] == len(data)
            assert row["extension"] == (path.rsplit(".", 1)[1].lower() if "." in path.rsplit("/", 1)[-1]
                                        else "")
            assert row["declared_license"] is None
    assert manifest["rows"] == len(rows)
    assert sum(s["rows"] for s in manifest["shards"]) == len(rows)
    return rows


def test_build_head_matches_git(corpus: GitCorpus, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = build_ok(corpus.root, "--out", out, "--workers", "2", "--shard-size", "60")
    rows = _check_against_git(out, corpus, corpus.head)

    assert summary["repositories"] == 3
    assert summary["rows"] == len(rows)
    assert summary["shards"] > 1  # small shards: several tasks ran in parallel
    paths = {(r["repo"], r["path"]) for r in rows}
    # The working tree is not what is read: uncommitted edits, staged and untracked files are absent.
    assert ("someowner/somerepo", "untracked.py") not in paths
    assert ("someowner/somerepo", "src/app/staged.py") not in paths
    assert ("owner/name", "scratch.txt") not in paths
    assert ("someowner/somerepo", "docs/guide/intro.md") not in paths  # deleted in the last commit
    contents = {(r["repo"], r["path"]): r["content"] for r in rows}
    assert contents[("someowner/somerepo", "README.md")] == "# somerepo\n\nThird version.\n"
    assert contents[("owner/name", "lib/core/a.rs")] == "fn a() -> u32 { 10 }\n"
    assert contents[("repos/mirror", "pkg/mod/x.js")] == "export const x = 42;\n"
    assert contents[("someowner/somerepo", "src/app/util/more.py")] == "MORE = 'ünïcödé ✓'\n"
    # What was skipped is counted by reason.
    manifest = read_manifest(out)
    assert manifest["steps"]["read"]["dropped"] == {"binary": 1, "symlink": 1}
    assert manifest["steps"]["drop_empty"]["dropped"] == {"empty": 1}
    # Every shard listed is there, with its checksum.
    for shard in manifest["shards"]:
        data = (out / shard["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
        assert len(data) == shard["bytes"]
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(
        Path(s["path"]).name for s in manifest["shards"]
    )
    assert not (out / "_tmp").exists()


def test_rev_reads_an_older_commit(corpus: GitCorpus, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_ok(corpus.root, "--out", out, "--rev", "HEAD~1", "--workers", "1")
    rows = _check_against_git(out, corpus, corpus.previous)
    contents = {(r["repo"], r["path"]): r["content"] for r in rows}
    assert contents[("someowner/somerepo", "README.md")] == "# somerepo\n\nFirst version.\n"
    assert contents[("someowner/somerepo", "docs/guide/intro.md")] == "Intro to the guide.\n"
    assert contents[("repos/mirror", "pkg/mod/x.js")] == "export const x = 1;\n"
    assert contents[("owner/name", "lib/core/nested/deeper/b.rs")] == "fn b() -> u32 { 2 }\n"


def test_a_single_repository_with_rev(corpus: GitCorpus, tmp_path: Path) -> None:
    """One repository given directly (not a folder of them), at an older revision by SHA."""
    out = tmp_path / "out"
    repo = corpus.git_dirs["owner/name"]
    first = git_text(repo, "rev-list", "--max-parents=0", "HEAD")
    build_ok(repo, "--out", out, "--rev", first)
    [source] = read_manifest(out)["sources"]
    assert [(r["repo"], r["commit"]) for r in source["repositories"]] == [("owner/name", first)]
    rows = read_rows(out)
    expected = _expected_rows(repo, first)
    assert {r["path"]: r["content"].encode() for r in rows} == expected


@pytest.fixture(scope="module")
def local_build(corpus: GitCorpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    build_ok(corpus.root, "--out", out, "--workers", "2", "--shard-size", "60")
    return out


@pytest.mark.slow
@pytest.mark.ray
def test_ray_executor_writes_the_same_bytes(corpus: GitCorpus, local_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "ray-out"
    # A private temp folder and home for this run only, to see what the Ray run leaves behind. The
    # temp folder's path is kept short: Ray puts AF_UNIX sockets (107 bytes at most) under it.
    scratch = Path(tempfile.mkdtemp(prefix="swt-", dir="/tmp" if Path("/tmp").is_dir() else None))
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(TMPDIR=str(scratch), HOME=str(home))
    try:
        summary = build_ok(corpus.root, "--out", out, "--executor", "ray", "--workers", "2",
                           "--shard-size", "60", timeout=600, env=env)
        left_in_tmp = sorted(p.name for p in scratch.iterdir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    local = read_manifest(local_build)
    ray = read_manifest(out)
    assert summary["shards"] == len(local["shards"]) > 1
    assert shard_bytes(out) == shard_bytes(local_build)
    for key in ("rows", "content_bytes", "file_bytes", "counts", "shards", "sources", "repositories",
                "plan_fingerprint", "config"):
        assert ray[key] == local[key], key
    assert without_seconds(ray["steps"]) == without_seconds(local["steps"])
    _check_against_git(out, corpus, corpus.head)
    # The run's Ray cluster leaves nothing in the temp folder and no token in ~/.ray.
    assert left_in_tmp == []
    assert not (home / ".ray").exists()


def test_loads_with_pyarrow_duckdb_and_datasets(local_build: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    expected = sorted(row_key(r) for r in read_rows(local_build))
    assert expected

    table = ds.dataset(local_build / "data", format="parquet").to_table()
    assert table.schema.names == list(ROW_COLUMNS)
    assert sorted(row_key(r) for r in table.to_pylist()) == expected

    import duckdb

    glob = str(local_build / "data" / "*.parquet")
    con = duckdb.connect()
    cursor = con.execute(f"select {', '.join(ROW_COLUMNS)} from read_parquet(?)", [glob])
    assert sorted(tuple(r) for r in cursor.fetchall()) == expected
    by_repo = dict(con.execute("select repo, count(*) from read_parquet(?) group by repo", [glob]).fetchall())
    assert set(by_repo) == {"someowner/somerepo", "owner/name", "repos/mirror"}
    con.close()

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    loaded = datasets.load_dataset("parquet", data_files=glob, split="train",
                                   cache_dir=str(tmp_path / "hf-datasets"))
    assert loaded.column_names == list(ROW_COLUMNS)
    assert sorted(row_key(r) for r in loaded) == expected
