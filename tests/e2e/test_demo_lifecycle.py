"""`stackwright demo` end to end at its smallest bounds: every stage of the lifecycle, what each one
wrote, and a rerun that resumes instead of redoing them (about 40 s on two CPU cores, so not slow)."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest

from helpers import assert_one_line_error, run_cli

SMALLEST = ("--limit-mb", "5", "--train-minutes", "0.2", "--humaneval-limit", "2", "--infill-limit", "5")
STAGES = ["dataset", "release", "optout", "tokenizer", "tokens", "train", "humaneval", "infill", "card",
          "serve"]


def repo_rows(release: Path) -> dict[str, int]:
    import pyarrow.dataset as ds

    counts: dict[str, int] = {}
    for repo in ds.dataset(release / "data", format="parquet").to_table(columns=["repo"]).column("repo"):
        counts[repo.as_py()] = counts.get(repo.as_py(), 0) + 1
    return counts


def test_demo_rejects_an_unknown_stage_in_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("demo", "--out", tmp_path / "d", "--skip", "optout,nonesuch"),
                          "--skip nonesuch", "humaneval")


def test_the_demo_runs_the_whole_lifecycle_and_resumes(tmp_path: Path, _isolated_data_dir: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("uvicorn")
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", out, *SMALLEST, "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    stages = {s["stage"]: s for s in summary["stages"]}
    assert list(stages) == STAGES
    assert {s["status"] for s in stages.values()} == {"done"}, stages

    # 1. The dataset and its first release.
    first, second = out / "release" / "v0.1.0", out / "release" / "v0.2.0"
    from stackwright.release.verify import verify_release

    for release, version in ((first, "v0.1.0"), (second, "v0.2.0")):
        manifest = json.loads((release / "manifest.json").read_text())
        assert manifest["version"] == version
        assert verify_release(release) == []
    assert summary["rows"] == stages["release"]["figures"]["rows"] > 0

    # 2. The opt-out: filed in the demo's own registry, verified, applied; its rows gone from v0.2.0 only.
    optout = stages["optout"]["details"]
    repo = optout["repo"]
    assert repo.startswith("pypi/")
    before, after = repo_rows(first), repo_rows(second)
    assert before[repo] == optout["rows_before"] > 0
    assert repo not in after
    assert sum(after.values()) == sum(before.values()) - before[repo]
    assert json.loads((second / "manifest.json").read_text())["optouts"]["removed"] == {repo: before[repo]}
    registry = out / "registry" / "registry.sqlite"
    with sqlite3.connect(registry) as db:
        assert db.execute("SELECT status, applied_release FROM optout_request").fetchall() == [
            ("applied", "v0.2.0")]
    assert not (_isolated_data_dir / "registry.sqlite").exists(), "the user's registry is never touched"

    # 3. Tokenizer, tokens and a model transformers loads.
    assert (out / "tokenizer" / "tokenizer.json").is_file()
    assert (out / "tokens" / "manifest.json").is_file()
    model_dir = out / "run" / "model"
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert model.config.model_type == "gpt_bigcode"
    train = stages["train"]["details"]["train"]
    assert train["step"] > 0 and train["stopped"] in ("finished", "time_limit")

    # 4-5. HumanEval and infilling, recorded in evaluation.json and the model card.
    assert stages["humaneval"]["figures"]["problems"] == 2
    assert 0.0 <= stages["humaneval"]["figures"]["pass@1"] <= 1.0
    assert (out / "run" / "eval" / "humaneval.results.jsonl").is_file()
    assert 0 < stages["infill"]["figures"]["tasks"] <= 5
    evaluations = json.loads((model_dir / "evaluation.json").read_text())["evaluations"]
    assert {"humaneval", "infill"} <= set(evaluations)
    assert "pass@1" in evaluations["humaneval"]["metrics"]
    card = (model_dir / "README.md").read_text()
    assert "| humaneval | pass@1 |" in card and "| infill | exact_match |" in card

    # 6. The served FIM completion with its attribution check, from a server on loopback that stopped.
    served = json.loads((out / "serve" / "completion.json").read_text())
    url = served["request"]["url"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1/completions")
    assert served["request"]["body"]["suffix"]
    choice = served["response"]["choices"][0]
    assert isinstance(choice["text"], str) and "checked" in choice["attribution"]
    assert served["stopped"] is True
    port = int(url.split(":")[2].split("/")[0])
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(2)
        probe.connect(("127.0.0.1", port))

    # 7. Paths of everything.
    for name in ("dataset", "release v0.1.0", "release v0.2.0", "opt-out registry", "model", "model card",
                 "served completion"):
        assert Path(summary["paths"][name]).exists(), name

    # A rerun resumes every stage: nothing is trained again.
    weights = model_dir / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = run_cli("demo", "--out", out, *SMALLEST, "--json", timeout=300)
    assert again.returncode == 0, again.stderr
    resumed = {s["stage"]: s for s in json.loads(again.stdout)["stages"]}
    assert {s["status"] for s in resumed.values()} == {"resumed"}, resumed
    assert resumed["train"]["figures"] == stages["train"]["figures"]
    assert weights.stat().st_mtime_ns == stamp
    assert json.loads(again.stdout)["total_seconds"] < 60

    # The table a user reads: every stage with its status and time.
    table = run_cli("demo", "--out", out, *SMALLEST, "--no-progress", timeout=300)
    assert table.returncode == 0, table.stderr
    for stage in STAGES:
        assert f"│ {stage}" in table.stdout
    assert "attribution:" in table.stdout and "where everything is" in table.stdout
