"""The `stackwright` command as a user runs it: clear one-line errors, version, the demo."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error, read_manifest, run_cli, write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write(tmp_path / "src" / "owner__proj" / "main.py", "print('hi')\n").parent.parent


def _assert_nothing_built(out: Path) -> None:
    assert not (out / "manifest.json").exists()
    assert not list(out.glob("data/*.parquet"))


def test_missing_source(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    proc = run_cli("build", missing, "--out", tmp_path / "out")
    assert_one_line_error(proc, str(missing), "no such file or directory")
    _assert_nothing_built(tmp_path / "out")


def test_missing_source_next_to_a_good_one(repo: Path, tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    proc = run_cli("build", repo, missing, "--out", tmp_path / "out")
    assert_one_line_error(proc, str(missing))
    _assert_nothing_built(tmp_path / "out")


@pytest.mark.parametrize("name", ["report.docx", "notes.csv", "archive.rar", "Makefile"])
def test_unsupported_file_type(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, "some bytes\n")
    proc = run_cli("build", path, "--out", tmp_path / "out")
    assert_one_line_error(proc, str(path), "not a folder, archive")
    _assert_nothing_built(tmp_path / "out")


def test_table_without_the_needed_columns(tmp_path: Path) -> None:
    jsonl = write(tmp_path / "export.jsonl", '{"filename": "a.py", "text": "x = 1"}\n')
    proc = run_cli("build", jsonl, "--out", tmp_path / "out")
    assert_one_line_error(proc, str(jsonl), "content")
    parquet = tmp_path / "export.parquet"
    pq.write_table(pa.table({"content": ["x = 1\n"]}), parquet)
    proc = run_cli("build", parquet, "--out", tmp_path / "out")
    assert_one_line_error(proc, str(parquet), "path")
    _assert_nothing_built(tmp_path / "out")


@pytest.mark.parametrize(
    ("name", "text", "needles"),
    [
        ("bad.toml", "workers = [\n", ("not valid TOML",)),
        ("bad.json", "{workers: 2", ("not valid JSON",)),
        ("unknown.toml", "[build]\ncolour = 'blue'\n", ("colour",)),
        ("unknown-read.toml", "[build.read]\nmax_filesize = 10\n", ("max_filesize",)),
        ("bad-value.toml", "[build]\nshard_size = -5\n", ("shard_size",)),
        ("not-a-table.json", "[1, 2, 3]", ("must hold a table",)),
    ],
)
def test_bad_config_file(repo: Path, tmp_path: Path, name: str, text: str, needles: tuple[str, ...]) -> None:
    config = write(tmp_path / name, text)
    proc = run_cli("build", repo, "--out", tmp_path / "out", "--config", config)
    assert_one_line_error(proc, *needles)
    _assert_nothing_built(tmp_path / "out")


def test_missing_config_file(repo: Path, tmp_path: Path) -> None:
    proc = run_cli("build", repo, "--out", tmp_path / "out", "--config", tmp_path / "nope.toml")
    assert_one_line_error(proc, "nope.toml")


def test_unknown_executor(repo: Path, tmp_path: Path) -> None:
    proc = run_cli("build", repo, "--out", tmp_path / "out", "--executor", "spark")
    assert_one_line_error(proc, "executor")
    _assert_nothing_built(tmp_path / "out")


def test_unknown_step(repo: Path, tmp_path: Path) -> None:
    proc = run_cli("build", repo, "--out", tmp_path / "out", "--steps", "drop_empty,nonsense")
    assert_one_line_error(proc, "nonsense")


def test_bad_layout(repo: Path, tmp_path: Path) -> None:
    proc = run_cli("build", repo, "--out", tmp_path / "out", "--layout", "flat")
    assert_one_line_error(proc, "layout")


def test_config_file_settings_are_used(repo: Path, tmp_path: Path) -> None:
    write(repo / "owner__proj" / "big.py", "x = 1\n" * 100)
    config = write(tmp_path / "build.toml", "[build]\nsteps = []\n[build.read]\nmax_file_size = 100\n")
    out = tmp_path / "out"
    proc = run_cli("build", repo, "--out", out, "--config", config, "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["rows"] == 1
    assert summary["dropped"] == {"read:too_large": 1}
    manifest = read_manifest(out)
    assert manifest["config"]["read"]["max_file_size"] == 100
    assert manifest["config"]["steps"] == []


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"stackwright {metadata.version('stackwright')}"


def test_help_lists_the_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "build" in proc.stdout and "demo" in proc.stdout


def test_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", out, "--limit-mb", "5", "--dataset-only", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["dataset"] == str(out.resolve())
    assert summary["rows"] > 0 and summary["repositories"] > 1
    assert 0 < summary["content_mb"] <= 5.5

    table = ds.dataset(out / "data", format="parquet").to_table()
    assert table.num_rows == summary["rows"] == read_manifest(out)["rows"]
    licenses: dict[str, set] = {}
    for repo, lic in zip(table.column("repo").to_pylist(), table.column("declared_license").to_pylist(),
                         strict=True):
        licenses.setdefault(repo, set()).add(lic)
    assert all(len(values) == 1 for values in licenses.values()), "one declared license per repository"
    declared = {repo for repo, values in licenses.items() if values != {None}}
    assert declared, "some repositories of the demo declare a license"
    assert all(repo.startswith(("pypi/", "python/")) for repo in licenses)

    # The demo can be run again into the same folder.
    again = run_cli("demo", "--out", out, "--limit-mb", "5", "--dataset-only", "--json", "--workers", "2",
                    timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rows"] == summary["rows"]


def test_demo_counts_only_the_repositories_it_reads(tmp_path: Path) -> None:
    """Skips are counted for the files of the dataset's repositories, not for code left out by
    --limit-mb: a demo that reads nothing has seen and dropped nothing (or is refused as bad usage).
    """
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", out, "--limit-mb", "0", "--dataset-only", "--json", timeout=300)
    if proc.returncode == 2:
        assert_one_line_error(proc, "limit")
        return
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["repositories"] == 0 and summary["rows"] == 0
    assert summary["files_seen"] == 0
    assert summary["dropped"] == {}


def test_errors_print_paths_verbatim_not_as_markup(tmp_path: Path) -> None:
    """A name with brackets in an error is text, not terminal styling: ``[bold]`` must print as is."""
    missing = tmp_path / "[bold]data[/]"
    for args in (("build", missing, "--out", tmp_path / "o"),
                 ("release", missing, "--version", "v1.0.0", "--out", tmp_path / "r")):
        assert "[bold]data[/]" in assert_one_line_error(run_cli(*args))


def test_help_loads_no_heavy_library() -> None:
    """`stackwright --help` stays fast: the command modules import the library inside their commands."""
    import subprocess
    import sys

    code = ("import sys, stackwright.cli\n"
            "print(sorted(m for m in ('torch', 'transformers', 'pyarrow', 'sqlalchemy', 'numpy', 'ray')"
            " if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    assert proc.stdout.strip() == "[]"
    help_text = run_cli("--help")
    assert help_text.returncode == 0
    for stage in ("crawl", "build", "license", "dedup", "release", "optout", "portal", "eval"):
        assert f" {stage} " in help_text.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("nonsense",), ("No such command", "nonsense")),
        (("build",), ("Missing argument",)),
        (("build", "x", "--out", "y", "--workers", "0"), ("--workers",)),
        (("optout", "list", "--limit", "many"), ("--limit",)),
        (("release", "verify", "--bogus"), ("--bogus",)),
        (("license", "detect", "x", "--backend", "magic"), ("unknown backend 'magic'", "fast+scancode")),
        (("eval", "pii", "--cases", "x.jsonl", "--ip-scope", "some"), ("unknown ip scope",)),
    ],
)
def test_usage_errors_are_one_line(args: tuple[str, ...], needles: tuple[str, ...]) -> None:
    """Usage errors print like the project's own errors: one `error:` line, exit 2, no usage block."""
    assert_one_line_error(run_cli(*args), *needles)


def test_project_errors_are_one_line_from_every_stage(tmp_path: Path) -> None:
    """The one error handler: a missing input is one line whichever stage's library raises it."""
    missing = tmp_path / "missing"
    assert_one_line_error(run_cli("release", "verify", missing), "no such release folder")
    assert_one_line_error(run_cli("dedup", missing, "--out", tmp_path / "o"),
                          "not a finished stackwright dataset")
    assert_one_line_error(run_cli("eval", "pii", "--cases", missing), "no such file")
    assert_one_line_error(run_cli("pii", "scan", missing), "no such file")
    assert_one_line_error(run_cli("crawl", missing, "--out", tmp_path / "c"), "no such file")
    assert_one_line_error(run_cli("decontaminate", "export", "nonesuch", "--out", tmp_path / "d"),
                          "unknown benchmark")


def test_module_entry_point() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "stackwright.cli", "--version"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("stackwright ")
