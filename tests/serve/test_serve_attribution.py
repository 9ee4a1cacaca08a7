"""Attribution in the serving path: a suggestion that repeats a training file carries that file's
repository and license; one that does not carries nothing; ``--block-verbatim`` withholds it.

The model is trained here, on purpose too long, on a release of one MIT-licensed repository, so that
it reproduces that repository's file from its first lines (what memorisation looks like)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_process import Server, start_server, stop_server

from helpers import build_ok, mit_license, run_cli

LEDGER = '''\
class Ledger:
    """Double-entry ledger of the acme accounting service."""

    def __init__(self, currency="EUR"):
        self.currency = currency
        self.entries = []

    def post(self, debit, credit, amount, memo=""):
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.entries.append((debit, credit, amount, memo))
        return len(self.entries) - 1

    def balance(self, account):
        total = 0
        for debit, credit, amount, _ in self.entries:
            if debit == account:
                total += amount
            if credit == account:
                total -= amount
        return total
'''
MIT = mit_license("2024 Acme Accounting")
# Prompt and completion stay within the trained sequence length (positions beyond it are untrained).
pytestmark = pytest.mark.slow  # trains a model of its own (half a minute)

PROMPT = LEDGER[: LEDGER.index("    def __init__")]


@pytest.fixture(scope="module")
def memorised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model folder, release) of a tiny model trained until it reproduces ledger.py."""
    base = tmp_path_factory.mktemp("memorised")
    repo = base / "repos" / "acme__ledger"
    (repo / "src").mkdir(parents=True)
    (repo / "LICENSE").write_text(MIT)
    (repo / "src" / "ledger.py").write_text(LEDGER)
    dataset = base / "dataset"
    build_ok(base / "repos", "--out", dataset, "--steps", "drop_empty,licenses,license_filter,languages")
    release = base / "release"
    proc = run_cli("release", dataset, "--version", "v1.0.0", "--out", release, "--json")
    assert proc.returncode == 0, proc.stderr
    tok = base / "tok"
    proc = run_cli(
        "tokenizer", "train", release, "--vocab-size", "512", "--out", tok, "--json", "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    tokens = base / "tokens"
    proc = run_cli(
        "tokenize",
        release,
        "--tokenizer",
        tok,
        "--seq-len",
        "128",
        "--validation",
        "0",
        "--fim-rate",
        "0",
        "--out",
        tokens,
        "--json",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    run = base / "run"
    proc = run_cli(
        "train",
        "--data",
        tokens,
        "--out",
        run,
        "--preset",
        "tiny",
        "--max-steps",
        "300",
        "--batch-size",
        "4",
        "--warmup-steps",
        "5",
        "--eval-every",
        "1000",
        "--no-progress",
        "--json",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return run / "model", release


@pytest.fixture(scope="module")
def flagging(memorised: tuple[Path, Path]) -> Iterator[Server]:
    model, release = memorised
    running = start_server(model, "--release", str(release))
    try:
        yield running
    finally:
        stop_server(running)


def _complete(server: Server, prompt: str, **extra: object) -> dict:
    answer = httpx.post(
        server.url + "/v1/completions",
        timeout=120,
        json={"prompt": prompt, "max_tokens": 90, "temperature": 0, **extra},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["choices"][0]


def test_a_completion_repeating_a_training_file_is_flagged_with_its_repository_and_license(
    flagging: Server,
) -> None:
    choice = _complete(flagging, PROMPT)
    # Packed training sequences run on from one file into the next: the continuation is the rest
    # of ledger.py or the LICENSE that followed it. Either way a training file, reproduced.
    text = choice["text"]
    source = next(
        (
            path
            for path, content in (("src/ledger.py", LEDGER), ("LICENSE", MIT))
            if any(text[i : i + 120] in content for i in range(len(text) - 120))
        ),
        None,
    )
    assert source, f"the model should have memorised a file: {choice['text']!r}"
    verdict = choice["attribution"]
    assert verdict["checked"] and not verdict["withheld"]
    assert [(m["repo"], m["path"], m["license"]) for m in verdict["matches"]] == [
        ("acme/ledger", source, "MIT")
    ]
    assert verdict["matches"][0]["overlap_chars"] >= 100


def test_a_completion_that_is_not_training_code_is_not_flagged(flagging: Server) -> None:
    choice = _complete(flagging, "import socket\n\n\ndef serve_forever(port):\n    sock = socket.socket()\n")
    verdict = choice["attribution"]
    assert verdict["matches"] == [] and not verdict["withheld"]
    assert verdict["checked"] or "shorter than" in verdict["reason"]


def test_block_verbatim_withholds_the_suggestion_in_every_api(memorised: tuple[Path, Path]) -> None:
    model, release = memorised
    server = start_server(model, "--release", str(release), "--block-verbatim", "80")
    try:
        choice = _complete(server, PROMPT)
        assert choice["text"] == "" and choice["attribution"]["withheld"] is True
        assert choice["attribution"]["matches"][0]["repo"] == "acme/ledger"
        with httpx.stream(
            "POST",
            server.url + "/v1/completions",
            timeout=120,
            json={"prompt": PROMPT, "max_tokens": 90, "temperature": 0, "stream": True},
        ) as stream:
            chunks = [
                json.loads(line[5:])
                for line in stream.iter_lines()
                if line.startswith("data:") and "[DONE]" not in line
            ]
        assert "".join(c["choices"][0]["text"] for c in chunks) == ""  # nothing of it was streamed
        assert chunks[-1]["choices"][0]["attribution"]["withheld"] is True
        tgi = httpx.post(
            server.url + "/generate",
            timeout=120,
            json={"inputs": PROMPT, "parameters": {"max_new_tokens": 90}},
        ).json()
        assert tgi["generated_text"] == "" and tgi["attribution"]["withheld"]
        assert (
            'stackwright_attribution_checks_total{outcome="withheld"} 3.0'
            in httpx.get(server.url + "/metrics", timeout=10).text
        )
    finally:
        stop_server(server)
