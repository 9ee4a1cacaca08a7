"""Adapters trained on code with a strong house idiom learn it, and two of them served side by side
each answer in their own: the idiom is a first body line that names the function
(``trace("load_user")`` in one code base, ``audit("load_user")`` in another), which the base model
never saw. Held-out files are generated apart from the training repositories.

The base is the tiny preset trained 300 steps on 256-token sequences of standard-library code. The
idiom is measured at the cursor an editor leaves after Enter on a signature, left to right and filling
in the middle (the rest of the body as the suffix). FIM is asked in both orders: a model this small
fills in from SPM prompts (the middle follows the prefix) and not yet from PSM ones; the rates are
printed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest
from server_process import start_server, stop_server

from helpers import build_ok, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]
pytest.importorskip("peft")

NOUNS = [
    "user",
    "order",
    "invoice",
    "item",
    "cart",
    "price",
    "stock",
    "report",
    "email",
    "token",
    "session",
    "record",
    "batch",
    "queue",
    "job",
    "path",
    "line",
    "count",
    "total",
    "account",
    "payment",
    "address",
]
VERBS = [
    "load",
    "save",
    "fetch",
    "parse",
    "build",
    "check",
    "update",
    "remove",
    "find",
    "send",
    "merge",
    "split",
    "format",
    "compute",
    "render",
    "store",
]
MARKERS = ("trace", "audit")


def _function(rng: random.Random, marker: str) -> tuple[str, str, str]:
    """(signature line, marker line, rest of the body)."""
    name = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"
    args = rng.sample(NOUNS, k=rng.randint(1, 3))
    a = args[0]
    body = rng.choice(
        [
            [f"    result = [{a}] if {a} else []", "    return result"],
            [f"    if not {a}:", "        return None", f"    return str({a}).strip()"],
            [f"    value = len({a})", f"    for part in {a}:", "        value += 1", "    return value"],
            [f"    data = dict({a}=({a}))", "    data['ok'] = True", "    return data"],
        ]
    )
    return f"def {name}({', '.join(args)}):", f'    {marker}("{name}")', "\n".join(body)


def _module(rng: random.Random, marker: str, functions: int = 6) -> str:
    parts = [f"from house.{marker}ing import {marker}\n"]
    for _ in range(functions):
        head, mark, rest = _function(rng, marker)
        parts.append(f"{head}\n{mark}\n{rest}\n")
    return "\n\n".join(parts)


def _release(root: Path, marker: str, seed: int) -> Path:
    rng = random.Random(seed)
    repos = root / "repos"
    for r in range(10):
        for f in range(4):
            path = repos / f"house{r}__{marker}{r}" / "src" / f"module{f}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_module(rng, marker))
    build_ok(repos, "--out", root / "dataset", "--steps", "languages,drop_empty")
    proc = run_cli("release", root / "dataset", "--version", "v1.0.0", "--out", root / "release", "--json")
    assert proc.returncode == 0, proc.stderr
    return root / "release"


def _tasks(seed: int, marker: str, count: int = 16) -> list[tuple[str, str]]:
    """FIM tasks from new files: the cursor on the first body line of a function, indented as an
    editor leaves it after Enter; the suffix is the rest of the body (the idiom's line is missing)."""
    rng = random.Random(seed)
    tasks = []
    for _ in range(count):
        head, _mark, rest = _function(rng, marker)
        prefix = _module(rng, marker, functions=2) + "\n\n" + head + "\n    "
        tasks.append((prefix, "\n" + rest + "\n"))
    return tasks


def _rate(server_url: str, model: str, tasks: list[tuple[str, str]], marker: str, fim: bool) -> float:
    hits = 0
    for prefix, suffix in tasks:
        answer = httpx.post(
            server_url + "/v1/completions",
            timeout=60,
            json={
                "model": model,
                "prompt": prefix,
                "suffix": suffix if fim else None,
                "max_tokens": 12,
                "temperature": 0,
            },
        )
        assert answer.status_code == 200, answer.text
        hits += answer.json()["choices"][0]["text"].startswith(f"{marker}(")
    return hits / len(tasks)


@pytest.fixture(scope="module")
def base(release: Path, tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("style-base")
    tokens = root / "tokens"
    proc = run_cli("tokenize", release, "--tokenizer", tokenizer, "--seq-len", "256", "--validation", "0.2",
                   "--out", tokens, "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    run = root / "run"
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
        "8",
        "--warmup-steps",
        "10",
        "--eval-every",
        "300",
        "--eval-samples",
        "16",
        "--no-progress",
        "--json",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return run / "model"


@pytest.fixture(scope="module")
def style_adapters(base: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    trained = {}
    for i, marker in enumerate(MARKERS):
        root = tmp_path_factory.mktemp(f"style-{marker}")
        release = _release(root, marker, seed=i)
        proc = run_cli(
            "finetune",
            base,
            "--data",
            release,
            "--out",
            root / "run",
            "--max-steps",
            "200",
            "--learning-rate",
            "3e-3",
            "--warmup-steps",
            "5",
            "--eval-every",
            "30",
            "--eval-samples",
            "16",
            "--seq-len",
            "256",
            "--json",
            "--no-progress",
            timeout=900,
        )
        assert proc.returncode == 0, proc.stderr
        trained[marker] = {"run": root / "run", **json.loads(proc.stdout)}
    return trained


def test_each_adapter_lowers_the_held_out_loss(style_adapters: dict[str, dict]) -> None:
    for summary in style_adapters.values():
        assert summary["adapter_val_loss"] < summary["base_val_loss"] - 1.0


def test_two_adapters_served_together_follow_their_own_idiom(
    base: Path, style_adapters: dict[str, dict]
) -> None:
    adapters = [a for marker, s in style_adapters.items() for a in ("--adapter", f"{marker}={s['run']}")]
    rates: dict[str, dict] = {marker: {} for marker in MARKERS}
    for layout in ("psm", "spm"):
        server = start_server(base, "--name", "base", "--fim-layout", layout, *adapters)
        try:
            for i, marker in enumerate(MARKERS):
                tasks = _tasks(100 + i, marker)
                modes = ("left-to-right", f"fim-{layout}") if layout == "psm" else (f"fim-{layout}",)
                for mode in modes:
                    rates[marker][mode] = {
                        model: _rate(server.url, model, tasks, marker, mode.startswith("fim"))
                        for model in ("base", *MARKERS)
                    }
        finally:
            stop_server(server)
    print(json.dumps({"idiom_rates": rates}))
    for marker in MARKERS:
        other = next(m for m in MARKERS if m != marker)
        for mode in ("left-to-right", "fim-spm"):
            seen = rates[marker][mode]
            assert seen[marker] >= 0.5, rates
            assert seen[marker] > seen["base"] and seen[marker] > seen[other], rates
