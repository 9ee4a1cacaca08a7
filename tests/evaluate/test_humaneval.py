"""``stackwright eval humaneval``: the estimator, the full path with the canonical solutions and empty
completions, a model's own samples, and bad samples files refused in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from helpers import assert_one_line_error, run_cli
from stackwright.evaluate.humaneval import pass_at_k, select_problems


@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (5, 2, 1, 0.4),
    (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2)
    (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
    (10, 0, 5, 0.0),
    (10, 8, 3, 1.0),  # fewer than k failures: some k-subset always passes
    (1, 1, 1, 1.0),
])
def test_pass_at_k_is_the_closed_form(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected)
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))


def test_pass_at_k_refuses_k_above_n() -> None:
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 5)


def _samples(path: Path, completions: list[str]) -> Path:
    rows = [{"task_id": p.task_id, "completion": c if c != "canonical" else p.canonical_solution}
            for p in select_problems() for c in completions]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_canonical_solutions_pass_and_empty_completions_fail(tmp_path: Path) -> None:
    path = _samples(tmp_path / "canonical.jsonl", ["canonical"])
    canonical = run_cli("eval", "humaneval", "--samples", path, "--k", "1", "--json", "--no-progress",
                        timeout=300)
    assert canonical.returncode == 0, canonical.stderr
    result = json.loads(canonical.stdout)
    assert result["pass@1"] == 1.0 and result["problems"] == 164 and result["reference_failures"] == []
    assert result["outcomes"] == {"passed": 164, "failed": 0, "timeout": 0, "error": 0}
    rows = [json.loads(line) for line in Path(result["results"]).read_text().splitlines()]
    assert len(rows) == 164 and all(r["passed"] == 1 and r["time_limit"] >= 3.0 for r in rows)

    path = _samples(tmp_path / "mixed.jsonl", ["", "canonical", ""])
    mixed = run_cli("eval", "humaneval", "--samples", path, "--k", "1,3,5", "--timeout", "5", "--json",
                    "--no-progress", timeout=300)
    assert mixed.returncode == 0, mixed.stderr
    result = json.loads(mixed.stdout)
    assert result["pass@1"] == pytest.approx(1 / 3) and result["pass@3"] == 1.0
    assert result["skipped_k"] == [5] and result["outcomes"]["failed"] == 2 * 164
    assert result["time_limits"] == {"fixed": 5.0}


def test_empty_completions_score_zero(tmp_path: Path) -> None:
    path = _samples(tmp_path / "empty.jsonl", [""])
    proc = run_cli("eval", "humaneval", "--samples", path, "--limit", "20", "--json", "--no-progress",
                   "--k", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["pass@1"] == 0.0 and result["problems"] == 20 and result["outcomes"]["failed"] == 20


def test_bad_samples_files_are_refused_in_one_line(tmp_path: Path) -> None:
    cases = {
        "not json\n": "not a JSON object",
        '{"task_id": "HumanEval/0"}\n': "string 'completion'",
        '{"task_id": "Elsewhere/1", "completion": ""}\n': "unknown task_id",
        "": "holds no samples",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.jsonl"
        path.write_text(text)
        proc = run_cli("eval", "humaneval", "--samples", path, "--json")
        assert_one_line_error(proc, message)
    missing = run_cli("eval", "humaneval", "--samples", tmp_path / "missing.jsonl")
    assert_one_line_error(missing, "cannot read")
    both = run_cli("eval", "humaneval")
    assert_one_line_error(both, "give a MODEL")
    bad_k = run_cli("eval", "humaneval", "--samples", tmp_path / "bad0.jsonl", "--k", "one")
    assert_one_line_error(bad_k, "--k")


def test_a_models_samples_are_generated_scored_and_recorded(tiny_model: Path) -> None:
    proc = run_cli("eval", "humaneval", tiny_model, "--limit", "3", "--n", "2", "--k", "1,2",
                   "--max-new-tokens", "24", "--temperature", "0.8", "--json", "--no-progress", timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["problems"] == 3 and result["samples"] == 6 and {"pass@1", "pass@2"} <= set(result)
    assert sum(result["outcomes"].values()) == 6
    samples = [json.loads(line) for line in Path(result["samples_file"]).read_text().splitlines()]
    assert [s["task_id"] for s in samples] == ["HumanEval/0"] * 2 + ["HumanEval/1"] * 2 + ["HumanEval/2"] * 2
    assert Path(result["results"]).parent == tiny_model.parent / "eval"
    card = (tiny_model / "README.md").read_text()
    assert "humaneval" in card.lower() and "pass@1" in card
    # The same samples scored again from the file give the same result.
    again = run_cli("eval", "humaneval", "--samples", result["samples_file"], "--k", "1,2", "--json",
                    "--no-progress")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["pass@1"] == result["pass@1"]
