"""Evaluations recorded beside the model: one entry per name in evaluation.json, and the model card's
section between the markers rewritten as a table while the rest of the card stays byte for byte."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import run_cli
from stackwright.evaluate.report import EVALUATIONS_FILE, record_evaluation
from stackwright.model.card import EVALUATION_END, EVALUATION_START


def _outside(card: str) -> tuple[str, str]:
    """The card up to and with the start marker, and from the end marker on."""
    start = card.index(EVALUATION_START) + len(EVALUATION_START)
    return card[:start], card[card.index(EVALUATION_END, start):]


def test_a_card_section_is_rewritten_and_the_rest_kept(tmp_path: Path) -> None:
    card = (f"# A model\n\nSome text | with a pipe.\r\n\n{EVALUATION_START}\nold text\n{EVALUATION_END}\n\n"
            "## How to use\n\nünïcode stays.\n")
    (tmp_path / "README.md").write_text(card, encoding="utf-8", newline="")
    humaneval = {"pass@1": 0.25, "pass@10": 0.5, "problems": 164, "outcomes": {"passed": 41, "failed": 123},
                 "isolation": "bwrap"}
    record_evaluation(tmp_path, "humaneval", humaneval, settings={"temperature": 0.2, "n": 10})
    recorded = record_evaluation(tmp_path, "infill", {"exact_match": 1 / 3, "languages": {
        "Python": {"tasks": 3, "exact_match": 1 / 3}, "Java": {"tasks": 0, "exact_match": None}}},
        settings={"languages": ["Java", "Python"], "held_out": True})
    new = (tmp_path / "README.md").read_bytes().decode("utf-8")
    assert _outside(new) == _outside(card)
    section = new[len(_outside(card)[0]):new.index(EVALUATION_END)]
    assert "old text" not in section
    for row in ("| humaneval | pass@1 | 0.2500 |", "| humaneval | pass@10 | 0.5000 |",
                "| humaneval | outcomes.passed | 41 |", "| infill | exact_match | 0.3333 |",
                "| infill | languages.Python.tasks | 3 |", "| infill | languages.Java.tasks | 0 |",
                "- humaneval: temperature 0.2000; n 10", "- infill: languages Java, Python; held_out yes"):
        assert row in section, row
    assert "languages.Java.exact_match" not in section and "isolation" not in section
    assert recorded["card"] == str(tmp_path / "README.md")
    record = json.loads((tmp_path / EVALUATIONS_FILE).read_text())
    assert sorted(record["evaluations"]) == ["humaneval", "infill"]
    infill = record["evaluations"]["infill"]
    assert infill["settings"]["held_out"] is True and infill["date"].startswith("20")
    # Recorded again: one entry still, the section rebuilt (not appended to).
    record_evaluation(tmp_path, "humaneval", {"pass@1": 0.5})
    again = (tmp_path / "README.md").read_bytes().decode("utf-8")
    assert again.count("| humaneval | pass@1 |") == 1 and "| humaneval | pass@1 | 0.5000 |" in again
    assert "pass@10" not in again and _outside(again) == _outside(card)


def test_a_card_without_markers_gets_them_and_no_card_gets_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "README.md").write_text("# Adapter\n\nNo section here.")
    record_evaluation(plain, "perplexity", {"loss": 2.0, "perplexity": 7.389})
    text = (plain / "README.md").read_text()
    assert text.startswith("# Adapter\n\nNo section here.\n") and "| perplexity | loss | 2.0000 |" in text
    assert text.index(EVALUATION_START) < text.index(EVALUATION_END)
    bare = tmp_path / "bare"
    bare.mkdir()
    assert record_evaluation(bare, "perplexity", {"loss": 2.0})["card"] is None
    assert not (bare / "README.md").exists() and (bare / EVALUATIONS_FILE).is_file()


def test_the_commands_record_into_the_trained_models_card(tiny_model: Path, train_tokens: Path,
                                                          tmp_path: Path) -> None:
    pytest.importorskip("torch")
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / EVALUATIONS_FILE).unlink(missing_ok=True)
    before = (model / "README.md").read_bytes()
    proc = run_cli("eval", "perplexity", model, "--data", train_tokens, "--max-sequences", "4", "--no-card",
                   "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["recorded"] is None and not (model / EVALUATIONS_FILE).exists()
    proc = run_cli("eval", "perplexity", model, "--data", train_tokens, "--max-sequences", "4",
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "recorded in" in proc.stdout
    after = (model / "README.md").read_bytes()
    assert _outside(after.decode()) == _outside(before.decode())
    assert "| perplexity | loss |" in after.decode() and "| perplexity | bits_per_byte |" in after.decode()
    entry = json.loads((model / EVALUATIONS_FILE).read_text())["evaluations"]["perplexity"]
    assert entry["settings"]["split"] == "validation" and entry["settings"]["sequences"] == 4
    assert set(entry["metrics"]) == {"loss", "perplexity", "bits_per_byte", "tokens"}
