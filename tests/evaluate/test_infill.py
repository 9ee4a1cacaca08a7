"""``stackwright eval infill``: task sets from held-out files only, deterministic, made of real lines of
code; reused, and refused for another release; exact match counted and aggregated as the per-task
output says; a model with no run uses every file and says so."""

from __future__ import annotations

import ast
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli

pytest.importorskip("torch")
pytest.importorskip("transformers")

# Few tokens per line keep generation short: the tiny model fills in nothing right anyway.
FAST = ("--max-new-tokens", "6", "--no-progress")


@pytest.fixture(scope="module")
def run(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny model's run (run.json and the model), so that task files and card edits
    stay in this module."""
    copy = tmp_path_factory.mktemp("infill") / "run"
    copy.mkdir()
    shutil.copyfile(tiny_model.parent / "run.json", copy / "run.json")
    shutil.copytree(tiny_model, copy / "model")
    return copy


def _files(release: Path) -> dict[tuple[str, str], str]:
    from stackwright.model.corpus import ReleaseCorpus, iter_texts

    return {(r["repo"], r["path"]): r["content"] for rows in iter_texts(ReleaseCorpus.open(release))
            for r in rows}


def _held_out(release: Path, validation: float = 0.2) -> frozenset[str]:
    from stackwright.model.corpus import ReleaseCorpus, repositories, validation_repositories

    return validation_repositories(repositories(ReleaseCorpus.open(release)), validation, 0)


def _docstring_lines(text: str) -> set[int]:
    """1-based lines of string constants that span lines (docstrings), found with ast."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.end_lineno != node.lineno:
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def _cli_json(*args: Any) -> dict[str, Any]:
    proc = run_cli("eval", "infill", *args, "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_tasks_are_real_lines_of_held_out_files_and_deterministic(run: Path, release: Path,
                                                                   tmp_path: Path) -> None:
    from stackwright.evaluate.infill import infill_tasks

    files = _files(release)
    held = _held_out(release)
    assert held and len(held) < 12  # the fixture's token data holds some repositories out, not all

    def build(name: str, seed: int = 0) -> list[Any]:
        return infill_tasks(run, languages=["python", "JAVASCRIPT"], seed=seed, per_language=8, per_file=2,
                            tasks_file=tmp_path / name).task_set.tasks

    tasks = build("a.jsonl")
    assert 0 < len(tasks) <= 8 and {t.language for t in tasks} == {"Python"}  # no held-out JavaScript
    assert max(Counter((t.repo, t.path) for t in tasks).values()) <= 2
    for task in tasks:
        assert task.repo in held
        text = files[task.repo, task.path]
        line = text.split("\n")[task.line - 1]
        indent = line[: len(line) - len(line.lstrip())]
        assert line.strip() == task.expected and ("\n" + task.prefix).endswith("\n" + indent)
        assert task.prefix + task.expected + task.suffix in text
        assert task.suffix.lstrip(" \t\r").startswith("\n")
        assert not task.expected.startswith("#") and sum(c.isalnum() for c in task.expected) >= 5
        assert task.line not in _docstring_lines(text)
    again = build("b.jsonl")
    assert again == tasks
    assert [(t.path, t.line) for t in build("c.jsonl", seed=7)] != [(t.path, t.line) for t in tasks]


def test_masked_lines_skip_comments_docstrings_and_punctuation() -> None:
    from stackwright.evaluate.infill import candidate_lines, masked_line

    python = ('"""A module.\n\nvalue = not_code(1)\n"""\n# a comment line here\n'
              "def f(alpha, beta):\n    return alpha + beta\n    ()\n\n")
    assert [python.split("\n")[i] for i in candidate_lines(python, "Python")] == [
        "def f(alpha, beta):", "    return alpha + beta"]
    js = "/* a block\n   comment_here(1, 2) */\nexport function add(a, b) {\n  return a + b; // 42\n});\n"
    assert [js.split("\n")[i] for i in candidate_lines(js, "JavaScript")] == [
        "export function add(a, b) {", "  return a + b; // 42"]
    # The demo masks the same lines (it imports masked_line from here).
    from stackwright.demo import masked_line as demo_masked_line

    assert demo_masked_line is masked_line
    text = "".join(f"# comment {i}\n" for i in range(10)) + "    value = compute(1, 2)\n" + "pass\n" * 8
    prefix, line, suffix = masked_line(text, np.random.default_rng(0))
    assert (line, prefix[-6:], suffix) == ("value = compute(1, 2)", "9\n    ", "\n" + "pass\n" * 8)


@pytest.mark.slow  # seconds of real work; CI runs the slow tests too
def test_task_files_are_reused_and_another_release_is_refused(run: Path, tmp_path: Path) -> None:
    first = _cli_json(run, "--languages", "python", "--per-language", "2", *FAST, "--no-card")
    path = Path(first["tasks_file"])
    assert path.parent == run / "eval" and path.is_file() and first["held_out"] is True
    assert first["reused_tasks"] is False and first["languages"]["Python"]["tasks"] == 2
    second = _cli_json(run, "--languages", "PYTHON", "--per-language", "2", *FAST, "--no-card")
    assert second["reused_tasks"] is True and second["tasks_file"] == str(path)

    header, *tasks = path.read_text().splitlines()
    meta = json.loads(header)
    assert meta["release"] == first["release"] and meta["languages"] == ["Python"]
    assert meta["per_language"] == 2
    other = tmp_path / "other-release.jsonl"
    other.write_text(json.dumps({**meta, "release": "0" * 64}) + "\n" + "\n".join(tasks) + "\n")
    assert_one_line_error(run_cli("eval", "infill", run, "--tasks", other, *FAST), "another release")
    assert_one_line_error(run_cli("eval", "infill", run, "--tasks", path, "--languages", "java", *FAST),
                          "another task set", "languages")
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n")
    assert_one_line_error(run_cli("eval", "infill", run, "--tasks", junk, *FAST), "not a stackwright infill")
    assert_one_line_error(run_cli("eval", "infill", run, "--languages", "klingon", *FAST), "unknown language")


def test_exact_match_is_counted_per_task_and_aggregated(run: Path, tmp_path: Path) -> None:
    scored = tmp_path / "first.jsonl"
    first = _cli_json(run, "--languages", "python,java", "--per-language", "4", "--per-file", "2", *FAST,
                      "--no-card", "--out", scored)
    rows = [json.loads(line) for line in scored.read_text().splitlines()]
    assert len(rows) == first["tasks"] == first["languages"]["Python"]["tasks"] == 4
    # A task file whose expected lines are known: the model's own lines for the first three tasks
    # (with trailing blanks, which do not count), something it did not write for the last.
    header, *lines = Path(first["tasks_file"]).read_text().splitlines()
    tasks = [json.loads(line) for line in lines]
    for task, row in zip(tasks, rows, strict=True):
        assert task["id"] == row["id"]
        task["expected"] = row["completion"] + "  " if row["id"] != tasks[-1]["id"] else "not what it wrote"
    known = tmp_path / "known.jsonl"
    known.write_text(header + "\n" + "".join(json.dumps(t) + "\n" for t in tasks))
    out = tmp_path / "known-scored.jsonl"
    result = _cli_json(run, "--tasks", known, *FAST, "--no-card", "--out", out)
    per_task = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["completion"] for r in per_task] == [r["completion"] for r in rows]  # greedy: the same lines
    assert [r["exact"] for r in per_task] == [True, True, True, False]
    assert result["exact"] == 3 and result["exact_match"] == pytest.approx(3 / 4)
    for language, summary in result["languages"].items():
        mine = [r for r in per_task if r["language"] == language]
        assert summary["tasks"] == len(mine) and summary["exact"] == sum(r["exact"] for r in mine)
    assert result["languages"]["Java"] == {"tasks": 0, "exact": 0, "exact_match": None}
    assert result["held_out"] is True and result["reused_tasks"] is True


@pytest.mark.slow  # seconds of real work; CI runs the slow tests too
def test_a_model_without_a_run_uses_every_file_and_says_so(run: Path, release: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(run / "model", bare)
    assert_one_line_error(run_cli("eval", "infill", bare, *FAST), "--release")
    result = _cli_json(bare, "--release", release, "--languages", "javascript", "--per-language", "2",
                       "--per-file", "2", *FAST, "--no-card")
    assert result["held_out"] is False and result["languages"]["JavaScript"]["tasks"] == 2
    assert Path(result["tasks_file"]).parent == bare / "eval"
    split = _cli_json(bare, "--release", release, "--validation", "0.2", "--languages", "python,javascript",
                      "--per-language", "1", *FAST, "--no-card")
    assert split["held_out"] is True and split["languages"]["JavaScript"]["tasks"] == 0
    assert split["languages"]["Python"]["tasks"] == 1
