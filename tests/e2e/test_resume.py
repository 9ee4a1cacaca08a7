"""Interrupting a build with SIGKILL and running the same command again.

A user relies on three things: a shard visible in ``data/`` is always a complete Parquet file, the
rerun keeps the finished shards and builds only the rest, and the result is byte-identical to a
build that was never interrupted. A build folder is never silently reused for other input, and a
folder that is not a stackwright build is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sysconfig
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import (
    READ_STEPS,
    assert_one_line_error,
    build_ok,
    cli_env,
    read_manifest,
    read_rows,
    run_cli,
    shard_bytes,
    stackwright_cmd,
    without_seconds,
    write,
)

FILES = 1000  # stdlib files copied into the corpus (about 6 MB)
SHARD_SIZE = "4096"  # input bytes per shard: about one shard per file, so hundreds of shards


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three plain repositories made of real Python standard-library files."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p for p in stdlib.rglob("*.py")
        if "site-packages" not in p.parts and "__pycache__" not in p.parts and 200 < p.stat().st_size < 20_000
    )[:FILES]
    assert len(files) >= 500
    root = tmp_path_factory.mktemp("resume") / "corpus"
    for i, src in enumerate(files):
        rel = src.relative_to(stdlib)
        dest = root / f"python__part{i % 3}" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return root


def _args(corpus: Path, out: Path) -> list[str]:
    return [str(corpus), "--out", str(out), "--workers", "1", "--shard-size", SHARD_SIZE]


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same build, never interrupted."""
    out = tmp_path_factory.mktemp("reference") / "out"
    summary = build_ok(*_args(corpus, out))
    assert summary["shards"] >= 200
    assert summary["shards_resumed"] == 0
    return out


def _check_readable(shard: Path) -> None:
    table = pq.read_table(shard)  # reads the footer and every page
    assert table.num_rows == pq.ParquetFile(shard).metadata.num_rows
    assert table.schema.names[:4] == ["repo", "path", "commit", "content"]


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the process group."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _interrupt(cmd: list[str], data: Path, total: int, sig: signal.Signals) -> tuple[int, str]:
    """Start ``cmd`` in its own session, send ``sig`` to the whole group once a third of the shards
    are in ``data``; meanwhile read the visible shards completely. Returns (exit status, stderr).
    """
    proc = subprocess.Popen(cmd, env=cli_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checked: set[str] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "the build made no progress"
            visible = sorted(data.glob("*.parquet")) if data.is_dir() else []
            if len(visible) >= total // 3:
                assert proc.poll() is None, "the build finished before it could be interrupted"
                os.killpg(proc.pid, sig)
                break
            assert proc.poll() is None, "the build finished before it could be interrupted"
            # A few at a time, so that the signal is not delayed by reading: every shard visible in
            # data/ must already be a complete Parquet file.
            for shard in [s for s in visible if s.name not in checked][:4]:
                _check_readable(shard)
                checked.add(shard.name)
            time.sleep(0.005)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode(errors="replace")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
    # No worker process of the build outlives it.
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_alive(proc.pid), "worker processes outlived the interrupted build"
    return proc.returncode, stderr


def _rerun_matches_reference(corpus: Path, out: Path, reference: Path, total: int) -> None:
    left = sorted((out / "data").glob("*.parquet"))
    assert 0 < len(left) < total, "the interrupted build must hold some but not all shards"
    assert not (out / "manifest.json").exists()
    for shard in left:  # everything visible is complete, including what was renamed last
        _check_readable(shard)

    summary = build_ok(*_args(corpus, out))
    assert 0 < summary["shards_resumed"] < total
    assert summary["shards_resumed"] >= len(left) - 1  # a shard may be renamed just before its result file
    assert summary["shards"] == total

    assert shard_bytes(out) == shard_bytes(reference)
    got, want = read_manifest(out), read_manifest(reference)
    for key in ("rows", "content_bytes", "file_bytes", "shards", "counts", "sources", "repositories",
                "plan_fingerprint"):
        assert got[key] == want[key], key
    assert without_seconds(got["steps"]) == without_seconds(want["steps"])
    assert not (out / "_tmp").exists() or not any((out / "_tmp").iterdir())
    assert len(read_rows(out)) == want["rows"]


def test_sigkill_then_rerun_gives_identical_dataset(corpus: Path, reference: Path, tmp_path: Path) -> None:
    total = len(read_manifest(reference)["shards"])
    out = tmp_path / "out"
    cmd = [*stackwright_cmd(), "build", *READ_STEPS, *_args(corpus, out), "--json", "--no-progress"]
    returncode, stderr = _interrupt(cmd, out / "data", total, signal.SIGKILL)
    assert returncode == -signal.SIGKILL, stderr
    _rerun_matches_reference(corpus, out, reference, total)


def test_ctrl_c_stops_cleanly_and_resumes(corpus: Path, reference: Path, tmp_path: Path) -> None:
    """SIGINT to the process group (what Ctrl-C in a terminal does): exit 130, one line, resumable."""
    total = len(read_manifest(reference)["shards"])
    out = tmp_path / "out"
    cmd = [*stackwright_cmd(), "build", *READ_STEPS, *_args(corpus, out), "--json", "--no-progress"]
    returncode, stderr = _interrupt(cmd, out / "data", total, signal.SIGINT)
    assert returncode == 130, stderr
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [
        "error: interrupted; rerun the same command to resume from the finished shards"
    ]
    _rerun_matches_reference(corpus, out, reference, total)


def test_rerun_of_a_finished_build_changes_nothing(corpus: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / "data").iterdir()}
    data_before = shard_bytes(out)
    manifest_before = read_manifest(out)

    summary = build_ok(*_args(corpus, out))
    assert summary["shards_resumed"] == summary["shards"] == len(before)
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (out / "data").iterdir()} == before
    assert shard_bytes(out) == data_before
    manifest_after = read_manifest(out)
    manifest_before.pop("created_at")
    manifest_after.pop("created_at")
    assert without_seconds(manifest_after.pop("steps")) == without_seconds(manifest_before.pop("steps"))
    assert manifest_after == manifest_before


def test_other_input_into_the_same_out_needs_overwrite(corpus: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    data_before = shard_bytes(out)
    manifest_before = (out / "manifest.json").read_bytes()

    other = tmp_path / "other"
    shutil.copytree(corpus / "python__part0", other / "python__part0")
    (other / "python__part0" / "added.py").write_text("ADDED = 1\n")

    # Other input, and the same input with other settings: refused, nothing changed.
    for args in (_args(other, out), [*_args(corpus, out), "--max-file-size", "5000"]):
        proc = run_cli("build", *args, "--json", "--no-progress")
        assert_one_line_error(proc, str(out), "--overwrite")
        assert proc.stdout == ""
        assert shard_bytes(out) == data_before
        assert (out / "manifest.json").read_bytes() == manifest_before

    summary = build_ok(*_args(other, out), "--overwrite")
    assert summary["shards_resumed"] == 0
    manifest = read_manifest(out)
    # Only the new build's shards are left: nothing stale from the old one.
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(Path(s["path"]).name
                                                                     for s in manifest["shards"])
    rows = read_rows(out)
    assert {r["repo"] for r in rows} == {"python/part0"}
    assert "ADDED = 1\n" in {r["content"] for r in rows}
    assert manifest["rows"] == len(rows)


def test_a_foreign_folder_is_never_touched(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    (out / "data").mkdir()
    (out / "data" / "keep.csv").write_text("a,b\n")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    for extra in ([], ["--overwrite"]):
        proc = run_cli("build", *_args(corpus, out), "--json", "--no-progress", *extra)
        assert_one_line_error(proc, str(out))
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
        assert sorted(p.name for p in out.iterdir()) == ["data", "notes.txt"]

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert_one_line_error(run_cli("build", *_args(corpus, a_file), "--no-progress"), str(a_file))
    assert a_file.read_text() == "x"


def test_stats_of_an_uninterrupted_build(reference: Path) -> None:
    stats = json.loads((reference / "stats.json").read_text())
    assert stats["tasks_resumed"] == 0
    assert stats["tasks"] == len(read_manifest(reference)["shards"])


@pytest.mark.parametrize("layout", ["one repository", "folder of repositories"])
def test_out_inside_the_source_folder_resumes_and_is_not_read(tmp_path: Path, layout: str) -> None:
    """`stackwright build . --out dataset` run from inside a project: either refused up front with a
    one-line error, or built so that the rerun resumes and the dataset's own files (shards, manifest,
    state) never become input rows or repositories.
    """
    if layout == "one repository":
        source = tmp_path / "proj"
        write(source / "src" / "main.py", "print('main')\n")
        write(source / "README.md", "# proj\n")
    else:
        source = tmp_path / "repos"
        write(source / "alice__tool" / "tool.py", "TOOL = 1\n")
        write(source / "bob__lib" / "lib.py", "LIB = 2\n")
    out = source / "dataset"
    proc = run_cli("build", source, "--out", out, "--workers", "1", "--json", "--no-progress")
    if proc.returncode == 2:
        assert_one_line_error(proc, str(out))
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    first = json.loads(proc.stdout)
    rows_before = read_rows(out)

    again = run_cli("build", source, "--out", out, "--workers", "1", "--json", "--no-progress")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["shards_resumed"] == first["shards"]
    assert summary["repositories"] == first["repositories"]
    rows = read_rows(out)
    assert sorted((r["repo"], r["path"]) for r in rows) == sorted((r["repo"], r["path"]) for r in rows_before)
    assert not any(r["path"].startswith("dataset/") or r["repo"].endswith("/dataset") for r in rows)


def test_edited_input_is_never_served_from_stale_shards(tmp_path: Path) -> None:
    """A file edited between two runs (same size, new mtime): the rerun must not keep the old text.

    Refusing (other input, exit 2) or rebuilding are both fine; silently resuming is not.
    """
    source = tmp_path / "proj"
    target = write(source / "config.py", "VERSION = 1\n")
    write(source / "README.md", "# proj\n")
    out = tmp_path / "out"
    build_ok(source, "--out", out, "--workers", "1")

    target.write_text("VERSION = 2\n")  # same size
    later = target.stat().st_mtime + 60
    os.utime(target, (later, later))
    proc = run_cli("build", source, "--out", out, "--workers", "1", "--json", "--no-progress")
    if proc.returncode == 2:
        assert_one_line_error(proc, "--overwrite")
    else:
        assert proc.returncode == 0, proc.stderr
        contents = {r["path"]: r["content"] for r in read_rows(out)}
        assert contents["config.py"] == "VERSION = 2\n", "the rerun served the old content of an edited file"
