"""``stackwright pii ner-data``: synthetic cases, pseudo-labelled release code and imported annotations in
one file that ``eval pii`` and ``pii train-ner`` read."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import assert_one_line_error, build_ok, mit_license, run_cli, write
from stackwright.curate.pii.evaluate import read_cases

SERVER = '''"""Deployment settings."""

ADMIN_EMAIL = "ops-lead@petalcraft.io"
UPSTREAM = "203.0.113.77"


def serve() -> None:
    print("serving")
'''


def _release(tmp_path: Path) -> Path:
    repos = tmp_path / "repos"
    write(repos / "acme" / "server" / "LICENSE", mit_license("Acme"))
    write(repos / "acme" / "server" / "settings.py", SERVER)
    build_ok(repos, "--out", tmp_path / "dataset", "--steps", "languages,drop_empty")
    proc = run_cli("release", tmp_path / "dataset", "--version", "v1.0.0", "--out", tmp_path / "rel")
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "rel"


def test_one_file_of_synthetic_pseudo_labelled_and_imported_cases(tmp_path: Path) -> None:
    doccano = write(tmp_path / "doccano.jsonl", json.dumps(
        {"text": "maintainer: Ilse Vandermeer", "label": [[12, 27, "PERSON"], [0, 10, "ROLE"]]}) + "\n")
    out = tmp_path / "cases.jsonl"
    proc = run_cli("pii", "ner-data", "--out", out, "--count", "200", "--seed", "3",
                   "--pseudo-label", _release(tmp_path), "--import", doccano, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    sources = summary["sources"]
    assert sources["synthetic"]["cases"] == 200
    assert min(sources["synthetic"][label] for label in ("NAME", "USERNAME", "PASSWORD", "KEY")) > 20
    pseudo = next(v for k, v in sources.items() if k.startswith("pseudo:"))
    assert pseudo["cases"] >= 1 and pseudo["EMAIL"] == 1 and pseudo["IP_ADDRESS"] == 1
    assert summary["dropped_labels"] == {"ROLE": 1}
    cases = read_cases(out)
    assert len(cases) == 200 + pseudo["cases"] + 1
    values = {(e["label"], c["text"][e["start"]:e["end"]]) for c in cases for e in c["entities"]}
    assert ("EMAIL", "ops-lead@petalcraft.io") in values and ("NAME", "Ilse Vandermeer") in values
    again = tmp_path / "again.jsonl"
    assert run_cli("pii", "ner-data", "--out", again, "--count", "200", "--seed", "3").returncode == 0
    assert again.read_text().splitlines() == out.read_text().splitlines()[:200]


def test_bad_annotations_fail_cleanly_and_write_nothing(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.jsonl", '{"text": "abc", "label": [[1, 99, "EMAIL"]]}\n')
    out = tmp_path / "cases.jsonl"
    proc = run_cli("pii", "ner-data", "--out", out, "--count", "5", "--import", bad)
    assert_one_line_error(proc, "bad.jsonl:1")
    assert not out.exists()
