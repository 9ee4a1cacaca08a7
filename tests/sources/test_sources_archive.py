"""Archive sources on real tar, tar.gz, tar.zst and zip files: layouts, safety rules, bombs, damage."""

from __future__ import annotations

import base64
import io
import os
import pickle
import stat
import struct
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import zstandard

from helpers import read_source
from stackwright.config import ReadConfig
from stackwright.sources.archive import ArchiveSource, ArchiveWorkItem
from stackwright.sources.base import SkipCounter

FORMATS = ("tar", "tar.gz", "tgz", "tar.zst", "zip")

MULTI = {
    "alice__one/": None,
    "alice__one/README.md": b"# one\n",
    "alice__one/src/main.py": "print('héllo')\n".encode(),
    "alice__one/.git/HEAD": b"ref: refs/heads/main\n",
    "alice__one/.git/objects/ab/cdef": b"\x00\x01",
    "two/lib/util.js": b"export const x = 1;\n",
    "two/docs/deep/er/guide.md": b"guide\n",
}


def _tar_bytes(members: dict[str, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_archive(path: Path, members: dict[str, bytes | None]) -> Path:
    """An archive of ``members`` (None: a folder entry) in the format its suffix names."""
    name = path.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for member, data in members.items():
                if data is None:
                    zf.writestr(member if member.endswith("/") else member + "/", b"")
                else:
                    zf.writestr(member, data)
        return path
    data = _tar_bytes(members)
    if name.endswith((".tar.gz", ".tgz")):
        import gzip

        data = gzip.compress(data)
    elif name.endswith((".tar.zst", ".tzst")):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def read_all(
    path: Path, config: ReadConfig | None = None
) -> tuple[list[tuple[str, str, str]], SkipCounter, ArchiveSource, list]:
    """(repo, path, text) of every kept file, the skips of plan and read, the source, the items."""
    config = config or ReadConfig()
    kept, skips, src, items = read_source(path, config, 1 << 20)
    assert isinstance(src, ArchiveSource)
    rows = [(raw.repo.name, raw.path, text) for raw, text in kept]
    return rows, skips, src, items


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_repository_archive(tmp_path: Path, fmt: str) -> None:
    archive = make_archive(tmp_path / f"repos.{fmt}", MULTI)
    rows, skips, src, items = read_all(archive)
    assert rows == [
        ("alice/one", "README.md", "# one\n"),
        ("alice/one", "src/main.py", "print('héllo')\n"),
        ("repos/two", "lib/util.js", "export const x = 1;\n"),
        ("repos/two", "docs/deep/er/guide.md", "guide\n"),
    ]
    assert dict(skips.reasons) == {"git_internals": 1}  # one .git folder, counted once
    assert len(items) == 1 and items[0].files == 0 and items[0].weight == archive.stat().st_size
    assert src.describe() == {
        "kind": "archive",
        "location": str(archive),
        "repositories": [
            {"repo": "alice/one", "commit": None, "files": 2},
            {"repo": "repos/two", "commit": None, "files": 2},
        ],
    }
    clone = pickle.loads(pickle.dumps(items[0]))
    assert clone == items[0]
    assert [r.path for r in clone.read(ReadConfig(), SkipCounter())] == [r[1] for r in rows]


@pytest.mark.parametrize(
    ("members", "layout", "expected"),
    [
        # GitHub-style tarball: a single top-level folder is the repository, named after it.
        ({"proj-1a2b3c/": None, "proj-1a2b3c/a.py": b"a\n", "proj-1a2b3c/src/b.py": b"b\n"}, "auto",
         [("local/proj-1a2b3c", "a.py"), ("local/proj-1a2b3c", "src/b.py")]),
        ({"bob__tool/x.c": b"x\n", "__MACOSX/bob__tool/._x.c": b"junk", ".DS_Store": b"junk"}, "auto",
         [("bob/tool", "x.c")]),
        # Files at the top: the whole archive is one repository.
        ({"README.md": b"r\n", "src/a.py": b"a\n", "lib/b.py": b"b\n"}, "auto",
         [("local/bundle", "README.md"), ("local/bundle", "src/a.py"), ("local/bundle", "lib/b.py")]),
        # A .git folder at the top marks the archive root as a working tree.
        ({".git/HEAD": b"ref\n", "src/a.py": b"a\n", "lib/b.py": b"b\n"}, "auto",
         [("local/bundle", "src/a.py"), ("local/bundle", "lib/b.py")]),
        # `tar -C folder .` names every member ./...
        ({"./": None, "./one/a.py": b"a\n", "./bob__two/b.py": b"b\n"}, "auto",
         [("bundle/one", "a.py"), ("bob/two", "b.py")]),
        ({"one/a.py": b"a\n", "two/b.py": b"b\n"}, "repo",
         [("local/bundle", "one/a.py"), ("local/bundle", "two/b.py")]),
        ({"one/a.py": b"a\n", "top.txt": b"t\n", ".hidden/h.py": b"h\n"}, "repos", [("bundle/one", "a.py")]),
    ],
)
def test_layouts(tmp_path: Path, members: dict, layout: str, expected: list) -> None:
    for fmt in ("tar.gz", "zip"):
        archive = make_archive(tmp_path / f"bundle.{fmt}", members)
        rows, _, src, _ = read_all(archive, ReadConfig(layout=layout))
        assert [(repo, path) for repo, path, _ in rows] == expected, fmt
        names = sorted({repo for repo, _ in expected})
        assert [r["repo"] for r in src.describe()["repositories"]] == names


def _unsafe_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("good/ok.py", "ok = 1\n")
        for name in ("../evil.py", "/etc/evil.conf", "good/../../evil2.py", "C:/evil3.txt", "..\\evil4.txt"):
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # ZipInfo would sanitise some of these names; write them raw
            zf.writestr(info, "pwned\n")
    return path


def _unsafe_tar(path: Path) -> Path:
    return make_archive(path, {"good/ok.py": b"ok = 1\n", "../evil.py": b"pwned\n",
                               "/etc/evil.conf": b"pwned\n", "good/../../evil2.py": b"pwned\n"})


@pytest.mark.parametrize("maker", [_unsafe_zip, _unsafe_tar])
def test_zip_slip_and_absolute_members_are_refused_and_nothing_is_written(tmp_path: Path, maker) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = maker(work / ("bad.zip" if maker is _unsafe_zip else "bad.tar.gz"))
    before = sorted(p.name for p in tmp_path.iterdir())
    cwd = os.getcwd()
    os.chdir(work)
    try:
        rows, skips, _, _ = read_all(archive)
    finally:
        os.chdir(cwd)
    assert rows == [("local/good", "ok.py", "ok = 1\n")]
    assert skips.reasons["unsafe_path"] == (5 if maker is _unsafe_zip else 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert [p.name for p in work.iterdir()] == [archive.name]
    assert not Path("/etc/evil.conf").exists()


def test_links_devices_and_fifos_are_skipped(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind in [("r/link", tarfile.SYMTYPE), ("r/hard", tarfile.LNKTYPE),
                           ("r/dev", tarfile.CHRTYPE), ("r/fifo", tarfile.FIFOTYPE)]:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            tf.addfile(info)
        info = tarfile.TarInfo("r/a.py")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"a\n"))
    (tmp_path / "links.tar").write_bytes(buf.getvalue())
    rows, skips, _, _ = read_all(tmp_path / "links.tar")
    assert rows == [("local/r", "a.py", "a\n")]
    assert dict(skips.reasons) == {"symlink": 2, "not_regular_file": 2}

    with zipfile.ZipFile(tmp_path / "links.zip", "w") as zf:
        link = zipfile.ZipInfo("r/link.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("r/a.py", "a\n")
    rows, skips, _, _ = read_all(tmp_path / "links.zip")
    assert rows == [("local/r", "a.py", "a\n")]
    assert dict(skips.reasons) == {"symlink": 1}


def _patch_declared_size(path: Path, member: str, size: int) -> None:
    """Rewrite a member's uncompressed size in its local header and central directory entry."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, info.header_offset + 22, size)
    central = raw.find(b"PK\x01\x02")
    while True:  # the central directory entry whose name is ``member``
        name_length = struct.unpack_from("<H", raw, central + 28)[0]
        if raw[central + 46 : central + 46 + name_length] == member.encode():
            break
        central = raw.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", raw, central + 24, size)
    path.write_bytes(bytes(raw))


def test_zip_bombs_are_skipped_without_expanding(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("r/a.py", "a = 1\n")
        with zf.open("r/zeros.txt", "w", force_zip64=True) as out:  # 200 MB of zeros, streamed
            chunk = b"0" * (1 << 20)
            for _ in range(200):
                out.write(chunk)
        zf.writestr("r/b.py", "b = 2\n")
        zf.writestr("r/small_bomb.txt", b"\x00" * 900_000)  # under max_file_size: only the ratio catches it
        zf.writestr("r/repetitive.py", "x = 1\n" * 5000)  # compresses 200x+ but is under 64 KiB: kept
        zf.writestr("r/liar.txt", b"x" * 20_000_000)  # its declared size is patched to 100 below
        zf.writestr("r/after.py", "never read\n")
    assert archive.stat().st_size < 2_000_000
    _patch_declared_size(archive, "r/liar.txt", 100)

    tracemalloc.start()
    try:
        rows, skips, src, _ = read_all(archive)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == [("local/r", "a.py", "a = 1\n"), ("local/r", "b.py", "b = 2\n"),
                    ("local/r", "repetitive.py", "x = 1\n" * 5000)]
    # The liar's data does not match its header: the archive is damaged and reading stops there.
    assert dict(skips.reasons) == {"compression_ratio": 2, "corrupt_archive": 1}
    assert peak < 16 * (1 << 20), peak
    assert src.describe()["repositories"] == [{"repo": "local/r", "commit": None, "files": 5}]


def test_large_members_are_skipped_unread(tmp_path: Path) -> None:
    members = {"r/small.py": b"s\n", "r/big.txt": b"y" * 5000, "r/after.py": b"a\n"}
    config = ReadConfig(max_file_size=1000)
    for fmt in ("tar.gz", "zip"):
        rows, skips, _, _ = read_all(make_archive(tmp_path / f"big.{fmt}", members), config)
        assert [r[1] for r in rows] == ["small.py", "after.py"]
        assert dict(skips.reasons) == {"too_large": 1}


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_archive_limits_stop_reading(tmp_path: Path, fmt: str) -> None:
    members = {f"r/f{i}.py": f"x = {i}\n".encode() * 10 for i in range(10)}
    archive = make_archive(tmp_path / f"many.{fmt}", members)
    rows, skips, _, _ = read_all(archive, ReadConfig(max_archive_members=4))
    assert [r[1] for r in rows] == ["f0.py", "f1.py", "f2.py", "f3.py"]
    assert dict(skips.reasons) == {"archive_limit": 1}
    rows, skips, _, _ = read_all(archive, ReadConfig(max_archive_bytes=250))
    assert [r[1] for r in rows] == ["f0.py", "f1.py", "f2.py", "f3.py"]  # 60 bytes each: the 5th passes 250
    assert dict(skips.reasons) == {"archive_limit": 1}


def _incompressible_members(n: int) -> dict[str, bytes | None]:
    return {f"r/f{i:02}.txt": base64.b64encode(os.urandom(30_000)) + b"\n" for i in range(n)}


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tar.zst"])
def test_truncated_tar_keeps_earlier_members(tmp_path: Path, fmt: str) -> None:
    members = _incompressible_members(10)
    archive = make_archive(tmp_path / f"cut.{fmt}", members)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) * 55 // 100])
    rows, skips, _, items = read_all(archive)
    assert len(items) == 1
    assert dict(skips.reasons) == {"corrupt_archive": 1}
    assert 3 <= len(rows) <= 6
    expected = list(members.items())[: len(rows)]
    assert [(p, t) for _, p, t in rows] == [(n.removeprefix("r/"), d.decode()) for n, d in expected]


def test_tar_cut_at_a_member_boundary_is_corrupt(tmp_path: Path) -> None:
    data = _tar_bytes({"r/a.py": b"a" * 512, "r/b.py": b"b" * 512, "r/c.py": b"c" * 512})
    for cut in (1024, 1024 + 100):  # after the first member; inside the second header
        (tmp_path / "cut.tar").write_bytes(data[:cut])
        rows, skips, _, _ = read_all(tmp_path / "cut.tar")
        assert [r[1] for r in rows] == ["a.py"]
        assert dict(skips.reasons) == {"corrupt_archive": 1}


@pytest.mark.parametrize("name", ["notes.tar.gz", "notes.tar", "notes.zip", "notes.tar.zst"])
def test_unreadable_archives_are_counted_in_plan(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"this is not an archive at all\n" * 40)
    rows, skips, src, items = read_all(tmp_path / name)
    assert (rows, items) == ([], [])
    assert dict(skips.reasons) == {"corrupt_archive": 1}
    assert src.describe()["repositories"] == []


def test_truncated_zip_is_counted_in_plan(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "cut.zip", _incompressible_members(5))
    archive.write_bytes(archive.read_bytes()[:-100])  # the central directory is gone
    rows, skips, _, items = read_all(archive)
    assert (rows, items) == ([], [])
    assert dict(skips.reasons) == {"corrupt_archive": 1}


def test_damaged_zip_member_stops_the_archive(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "bad.zip", _incompressible_members(3))
    with zipfile.ZipFile(archive) as zf:
        second = zf.infolist()[1]
    raw = bytearray(archive.read_bytes())
    start = second.header_offset + 30 + len(second.filename) + 100
    raw[start : start + 64] = bytes(64)
    archive.write_bytes(bytes(raw))
    rows, skips, _, _ = read_all(archive)
    assert [r[1] for r in rows] == ["f00.txt"]
    assert dict(skips.reasons) == {"corrupt_archive": 1}


def test_multi_frame_zstd_and_work_item_fields(tmp_path: Path) -> None:
    data = _tar_bytes({"r/a.py": b"a\n" * 1000, "r/b.py": b"b\n" * 1000})
    cut = 1536  # a 512-byte header plus the first member's data: frames split mid-archive
    frames = zstandard.ZstdCompressor().compress(data[:cut]) + zstandard.ZstdCompressor().compress(data[cut:])
    (tmp_path / "frames.tzst").write_bytes(frames)
    rows, skips, _, items = read_all(tmp_path / "frames.tzst")
    assert [r[1] for r in rows] == ["a.py", "b.py"] and skips.total() == 0
    assert isinstance(items[0], ArchiveWorkItem) and items[0].root == "r"
