"""Shared helpers for the end-to-end tests: real git, the real `stackwright` command, Parquet reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

# The git identity and an isolated configuration for the git subprocesses only: nothing touches the
# user's global git config.
# The checkout: tests/ is one level below it.
REPO_ROOT = Path(__file__).resolve().parents[1]

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


def git(cwd: Path, *args: str) -> bytes:
    """Run git in ``cwd`` and return its stdout (raises on failure)."""
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=GIT_ENV,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def git_text(cwd: Path, *args: str) -> str:
    return git(cwd, *args).decode().strip()


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git_text(repo, "rev-parse", "HEAD")


def stackwright_cmd() -> list[str]:
    """The installed console script next to this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("stackwright")
    if script.exists():
        return [str(script)]
    found = shutil.which("stackwright")
    assert found, "the stackwright command is not installed"
    return [found]


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update({"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


# Tests of reading sources build with this step list: their throwaway repositories carry no
# license, so the default license filter would drop every file. License steps have their own tests.
READ_STEPS = ("--steps", "drop_empty")


def reading_args(args: tuple[str | Path, ...] | list[str | Path]) -> list[str]:
    """``build`` arguments with ``--steps drop_empty`` added unless steps or a config are given."""
    out = list(map(str, args))
    if out and out[0] == "build" and "--steps" not in out and "--config" not in out:
        out[1:1] = READ_STEPS
    return out


def run_cli(*args: str | Path, cwd: Path | None = None, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI; ``build`` runs with :data:`READ_STEPS` unless the test chooses steps."""
    return subprocess.run(
        [*stackwright_cmd(), *reading_args(args)],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def build_ok(*args: str | Path, cwd: Path | None = None, timeout: float = 300,
             env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``stackwright build ... --json --no-progress``, assert success, return the JSON summary."""
    proc = run_cli("build", *args, "--json", "--no-progress", cwd=cwd, timeout=timeout, env=env)
    assert proc.returncode == 0, f"build failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, no traceback, exactly one line on stderr that holds every needle."""
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("error:"), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def read_manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text())


ROW_COLUMNS = ("repo", "path", "commit", "content", "size_bytes", "extension", "declared_license")


def read_rows(out: Path) -> list[dict[str, Any]]:
    """Every row of a built dataset, read shard by shard in manifest order."""
    rows: list[dict[str, Any]] = []
    for shard in read_manifest(out)["shards"]:
        rows.extend(pq.read_table(out / shard["path"]).to_pylist())
    return rows


def row_key(row: dict[str, Any]) -> tuple:
    return tuple(row[c] for c in ROW_COLUMNS)


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}


def without_seconds(steps: dict[str, Any]) -> dict[str, Any]:
    return {name: {k: v for k, v in st.items() if k != "seconds"} for name, st in steps.items()}


def tree(root: Path, exclude: Path | None = None) -> set[str]:
    """Every path under ``root`` (relative), without following symlinks, minus ``exclude``."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if exclude is not None and (here == exclude or exclude in here.parents):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = here / name
            if exclude is not None and path == exclude:
                continue
            found.add(str(path.relative_to(root)))
    return found


def read_source(path: Path, config: Any, chunk_bytes: int = 1 << 30) -> tuple[list[Any], Any, Any, list]:
    """Plan and read a source as a build would: (kept raw files with their text), skips, source, items."""
    from stackwright.sources import open_source
    from stackwright.sources.base import SkipCounter, decode_content

    src = open_source(path)
    skips = SkipCounter()
    items = list(src.plan(config, skips, chunk_bytes))
    kept = []
    for item in items:
        for raw in item.read(config, skips):
            text, reason = decode_content(raw.data, config)
            if text is None:
                skips.add(reason or "unknown")
                continue
            kept.append((raw, text))
    return kept, skips, src, items


def corpora_dir() -> Path | None:
    """The shared ground-truth corpora (read in place, never copied): ``$STACKWRIGHT_CORPORA``, else a
    ``shared/corpora`` folder beside the checkout or above it, else None."""
    override = os.environ.get("STACKWRIGHT_CORPORA")
    candidates = [Path(override)] if override else []
    here = Path(__file__).resolve()
    candidates += [parent / "shared" / "corpora" for parent in here.parents]
    candidates.append(Path("/work/shared/corpora"))
    for path in candidates:
        if path.is_dir():
            return path
    return None


MIT_BODY = """Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def mit_license(holder: str) -> str:
    """The MIT license text with a copyright line for ``holder``."""
    return f"MIT License\n\nCopyright (c) {holder}\n\n{MIT_BODY}"
