"""One hostile corpus, one `stackwright build`: nothing crashes, nothing escapes, everything is counted.

The corpus is made here: a folder of repositories with binary, undecodable and oversized files,
symlinks out of and inside a repository, a fifo, a 70-level-deep folder, an empty git repository and
nested ``.git`` folders; archives with zip-slip and absolute members, zip bombs and ``..`` tar
members; a corrupt Parquet file and a JSONL file with malformed lines. A user relies on the build
finishing (exit 0, no traceback), every bad item being counted under its reason in
``manifest.json``, the good files being there, nothing outside a repository being read (no
``/etc/passwd``), nothing being written outside the output folder, and memory staying modest.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tarfile
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import READ_STEPS, cli_env, git, read_manifest, read_rows, stackwright_cmd, tree, write
from stackwright.sources import base

MB = 1_000_000
PASSWD = Path("/etc/passwd")
# Runs a command and writes the peak resident memory of its process tree (KiB on Linux) to a file.
PEAK_MEMORY = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)
MAX_PEAK_KIB = 1_500_000


@dataclass
class Hostile:
    base: Path
    folder: Path
    archives: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    evil_names: list[str] = field(default_factory=list)  # unique names of files that must never appear
    good_folder: list[str] = field(default_factory=list)  # markers of contents that must be kept
    good_archives: list[str] = field(default_factory=list)
    good_tables: list[str] = field(default_factory=list)


def _undecodable(n: int) -> bytes:
    """Random bytes with every NUL removed: no binary marker, and not text in any encoding."""
    return random.Random(1234).randbytes(n).replace(b"\x00", b"")


def _make_folder(root: Path, hostile: Hostile) -> None:
    repo = root / "good__repo"
    for marker, rel in [("GOOD_FOLDER_OK", "src/ok.py"), ("GOOD_FOLDER_README", "README.md"),
                        ("GOOD_FOLDER_VENDORED", "vendor/keep.py"),
                        ("GOOD_FOLDER_SHALLOW", "d0/d1/shallow.py")]:
        write(repo / rel, f"# {marker}\nprint('{marker}')\n")
        hostile.good_folder.append(marker)
    write(repo / "bin/blob.dat", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" * 300)
    noise = _undecodable(4096)
    assert len(noise) > 2048 and b"\x00" not in noise
    write(repo / "bin/noise.txt", noise)
    (repo / "big").mkdir()
    with open(repo / "big" / "huge.py", "wb") as fh:
        line = b"x = 'this file is text, but far too large'\n"
        fh.write(line * (50 * MB // len(line) + 1))
    os.symlink(PASSWD, repo / "passwd_link")
    os.symlink("src/ok.py", repo / "inner_link.py")
    os.mkfifo(repo / "pipe")
    deep = repo.joinpath(*[f"d{i}" for i in range(70)])
    write(deep / "deep.py", "DEEP = 'too deep'\n")
    # Nested repositories inside a plain folder: a .git folder, and a submodule's gitfile.
    nested = repo / "vendor" / "lib"
    for name in ("objects", "refs"):
        (nested / ".git" / name).mkdir(parents=True)
    write(nested / ".git" / "HEAD", "ref: refs/heads/main\n")
    write(nested / "code.py", "NESTED = 'from a nested repository'\n")
    write(repo / "vendor" / "sub2" / ".git", "gitdir: ../../.git/modules/sub2\n")
    write(repo / "vendor" / "sub2" / "mod.py", "SUBMODULE = 1\n")
    # An empty git repository, and a top-level symlink to a system folder.
    git(root, "init", "-q", "empty_repo")
    os.symlink("/etc", root / "etc_link")


def _make_archives(base_dir: Path, hostile: Hostile, uid: str) -> None:
    slip_name, abs_name = f"evil_zip_{uid}.py", f"abs_evil_{uid}.py"
    hostile.evil_names += [slip_name, abs_name]
    evil_zip = base_dir / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pkg/good_zip.py", "# GOOD_ZIP\nprint('GOOD_ZIP')\n")
        zf.writestr(zipfile.ZipInfo(f"../../{slip_name}"), "EVIL = 'zip slip'\n")
        zf.writestr(zipfile.ZipInfo(f"/tmp/{abs_name}"), "EVIL = 'absolute'\n")
    assert {i.filename for i in zipfile.ZipFile(evil_zip).infolist()} >= {f"../../{slip_name}",
                                                                          f"/tmp/{abs_name}"}
    hostile.good_archives.append("GOOD_ZIP")

    bomb_zip = base_dir / "bomb.zip"
    with zipfile.ZipFile(bomb_zip, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("good_bomb.py", "# GOOD_BOMB_NEIGHBOUR\n")
        # Small enough for --max-file-size, but it expands about 1000x: only the ratio can catch it.
        zf.writestr("small_bomb.py", b"\x00" * 900_000)
        with zf.open("zeros.py", "w", force_zip64=True) as fh:  # 300 MB of zeros, about 300 KB stored
            chunk = b"\x00" * (1 << 20)
            for _ in range(300):
                fh.write(chunk)
    assert bomb_zip.stat().st_size < 2 * MB
    hostile.good_archives.append("GOOD_BOMB_NEIGHBOUR")

    tar_slip, tar_nested = f"evil_tar_{uid}.py", f"evil_tar2_{uid}.py"
    hostile.evil_names += [tar_slip, tar_nested]
    slip_tar = base_dir / "slip.tar.gz"
    with tarfile.open(slip_tar, "w:gz") as tf:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))

        add("proj/good_tar.py", b"# GOOD_TAR\nprint('GOOD_TAR')\n")
        add(f"../{tar_slip}", b"EVIL = 'tar slip'\n")
        add(f"proj/../../{tar_nested}", b"EVIL = 'tar slip, nested'\n")
        link = tarfile.TarInfo("proj/passwd.py")
        link.type = tarfile.SYMTYPE
        link.linkname = str(PASSWD)
        tf.addfile(link)
    hostile.good_archives.append("GOOD_TAR")
    hostile.archives += [evil_zip, bomb_zip, slip_tar]


def _make_tables(base_dir: Path, hostile: Hostile) -> None:
    good = base_dir / "good.parquet"
    table = pa.table({"repo": ["tables/ok"], "path": ["ok.py"], "content": ["# GOOD_PARQUET\n"]})
    pq.write_table(table, good)
    corrupt = base_dir / "corrupt.parquet"
    data = good.read_bytes()
    # Parquet magic at both ends, garbage in between and a footer length past the start of the file.
    corrupt.write_bytes(data[:8] + _undecodable(300) + data[-40:-12] + b"\xff\xff\xff\x7fPAR1")
    rows = base_dir / "rows.jsonl"
    lines = [
        json.dumps({"repo": "tables/jsonl", "path": "a.py", "content": "# GOOD_JSONL_A\n"}),
        "{not json",
        json.dumps({"repo": "tables/jsonl", "path": "b.py", "content": "# GOOD_JSONL_B\n"}),
        "[1, 2, 3]",
        '"just a string"',
        '{"repo": "tables/jsonl", "path": "cut.py", "content": "trunc',
    ]
    rows.write_text("\n".join(lines) + "\n")
    hostile.good_tables += ["GOOD_PARQUET", "GOOD_JSONL_A", "GOOD_JSONL_B"]
    hostile.tables += [good, corrupt, rows]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    base_dir = tmp_path_factory.mktemp("hostile")
    inputs = base_dir / "inputs"
    folder = inputs / "repos"
    folder.mkdir(parents=True)
    result = Hostile(base_dir, folder)
    _make_folder(folder, result)
    uid = uuid.uuid4().hex[:12]
    _make_archives(inputs, result, uid)
    _make_tables(inputs, result)
    return result


# Exactly how the folder's bad items are counted.
FOLDER_DROPPED = {
    base.BINARY: 1,
    base.UNDECODABLE: 1,
    base.TOO_LARGE: 1,
    base.SYMLINK_OUTSIDE: 1,
    base.SYMLINK: 2,  # inner_link.py, and the top-level link to /etc
    base.NOT_REGULAR: 1,
    base.TOO_DEEP: 1,
    base.SUBMODULE: 2,
    base.EMPTY_REPOSITORY: 1,
}
KNOWN_REASONS = {v for k, v in vars(base).items() if k.isupper() and isinstance(v, str)} | {"git_internals"}


def _build(sources: list[Path], out: Path, cwd: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """`stackwright build` in a fresh process; returns the process and its tree's peak RSS (KiB)."""
    peak_file = cwd.parent / f"peak-{out.name}.txt"
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY, str(peak_file), *stackwright_cmd(), "build", *READ_STEPS,
         *map(str, sources),
         "--out", str(out), "--workers", "2", "--json", "--no-progress"],
        cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=300, check=False,
    )
    peak = int(peak_file.read_text())
    peak_file.unlink()
    return proc, peak


def _assert_nothing_escaped(hostile: Hostile, before: set[str], cwd: Path, out: Path) -> None:
    assert tree(hostile.base, exclude=out) == before
    assert list(cwd.iterdir()) == []
    roots = [hostile.base.parent, hostile.base.parent.parent, Path("/tmp"), Path("/"), Path.cwd(),
             Path.home()]
    for name in hostile.evil_names:
        for root in roots:
            assert not (root / name).exists(), root / name
    # Anywhere below the test's temporary folders and /tmp (the names are unique to this run).
    for top in {hostile.base.parent, Path("/tmp")}:
        for _folder, dirs, files in os.walk(top):
            assert not [n for n in dirs + files if any(evil in n for evil in hostile.evil_names)]
    for path in out.rglob("*"):
        assert not any(n in path.name for n in hostile.evil_names), path


def _assert_no_passwd(rows: list[dict]) -> None:
    if not PASSWD.is_file():
        return
    passwd = PASSWD.read_text(errors="replace")
    first = passwd.splitlines()[0]
    for row in rows:
        assert row["content"] != passwd
        assert first not in row["content"], row["path"]


def _assert_safe_paths(rows: list[dict]) -> None:
    for row in rows:
        path = row["path"]
        assert not path.startswith("/") and ".." not in path.split("/"), path


def _run_and_check(hostile: Hostile, sources: list[Path], tmp_path: Path) -> tuple[dict, list[dict], int]:
    before = tree(hostile.base)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = tmp_path / "out"
    proc, peak = _build(sources, out, cwd)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "out"]
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    summary = json.loads(proc.stdout)
    assert peak < MAX_PEAK_KIB, f"peak memory {peak / 1000:.0f} MB"
    _assert_nothing_escaped(hostile, before, cwd, out)
    manifest = read_manifest(out)
    rows = read_rows(out)
    _assert_no_passwd(rows)
    _assert_safe_paths(rows)
    read = manifest["steps"]["read"]
    dropped = read["dropped"]
    assert set(dropped) <= KNOWN_REASONS, dropped
    assert read["in"] == read["out"] + sum(dropped.values())
    assert summary["rows"] == manifest["rows"] == len(rows)
    assert {k.removeprefix("read:"): v for k, v in summary["dropped"].items() if k.startswith("read:")} \
        == dropped
    return manifest, rows, peak


def test_hostile_folder(hostile: Hostile, tmp_path: Path) -> None:
    """The folder of repositories alone (directory and git sources)."""
    manifest, rows, _ = _run_and_check(hostile, [hostile.folder], tmp_path)
    assert manifest["steps"]["read"]["dropped"] == FOLDER_DROPPED
    contents = "\n".join(r["content"] for r in rows)
    for marker in hostile.good_folder:
        assert marker in contents
    assert {(r["repo"], r["path"]) for r in rows} == {
        ("good/repo", "src/ok.py"), ("good/repo", "README.md"), ("good/repo", "vendor/keep.py"),
        ("good/repo", "d0/d1/shallow.py"),
    }
    repos = {r["repo"]: r for r in manifest["sources"][0]["repositories"]}
    assert set(repos) == {"good/repo", "repos/empty_repo"}
    assert repos["repos/empty_repo"]["files"] == 0


def test_hostile_everything_in_one_build(hostile: Hostile, tmp_path: Path) -> None:
    sources = [hostile.folder, *hostile.archives, *hostile.tables]
    manifest, rows, peak = _run_and_check(hostile, sources, tmp_path)
    print(f"peak memory of the build: {peak / 1000:.0f} MB")
    dropped = manifest["steps"]["read"]["dropped"]

    expected = dict(FOLDER_DROPPED)
    expected[base.UNSAFE_PATH] = 4  # two zip members (../../, /tmp/...), two tar members (../, a/../../)
    expected[base.SYMLINK] += 1  # the tar member linking to /etc/passwd
    expected[base.COMPRESSION_RATIO] = 2  # the 900 KB and the 300 MB members of zeros
    expected[base.CORRUPT_TABLE] = 1
    expected[base.MALFORMED_ROW] = 4
    assert dropped == expected
    # Every planted bad item is counted exactly once.
    assert sum(dropped.values()) == sum(FOLDER_DROPPED.values()) + 4 + 1 + 2 + 1 + 4

    contents = "\n".join(r["content"] for r in rows)
    for marker in [*hostile.good_folder, *hostile.good_archives, *hostile.good_tables]:
        assert marker in contents, marker
    assert "EVIL" not in contents
    assert "DEEP = 'too deep'" not in contents and "NESTED = " not in contents
    keys = {(r["repo"], r["path"]) for r in rows}
    assert {("tables/jsonl", "a.py"), ("tables/jsonl", "b.py"), ("tables/ok", "ok.py")} <= keys
    assert [s["kind"] for s in manifest["sources"]] == ["directory"] + ["archive"] * len(hostile.archives) \
        + ["table"] * len(hostile.tables)
