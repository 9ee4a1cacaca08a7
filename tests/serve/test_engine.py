"""The batching engine against transformers' own ``generate`` on the same model."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from stackwright.model.generate import load_model
from stackwright.model.tokenizer import visible
from stackwright.serve.engine import Engine, GenerationRequest, Overloaded
from stackwright.serve.prompts import build_prompt, split_fim

PROMPTS = [
    "import os\n\ndef main(argv):\n    ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):",
    "#",
    "export function add(a, b) {\n  return a + b;\n}\n\nexport function sub(a, b) {",
    "for i in range(10):\n    print(i * i)\n" * 6,
]


@pytest.fixture(scope="module")
def loaded(random_model: Path) -> Any:
    return load_model(random_model, device="cpu")


@pytest.fixture
def engine(loaded: Any) -> Any:
    running = Engine(loaded, max_batch=4, max_queue=16).start()
    yield running
    running.stop()


def _reference(loaded: Any, ids: list[int], n: int) -> list[int]:
    import torch

    with torch.no_grad():
        out = loaded.model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, eos_token_id=0,
                                    pad_token_id=0)
    new = out[0, len(ids):].tolist()
    return new[:new.index(0)] if 0 in new else new


def _text(loaded: Any, ids: list[int]) -> str:
    return visible(loaded.tokenizer.decode(ids))


def _ids(loaded: Any, text: str) -> list[int]:
    return loaded.tokenizer.encode([text])[0]


def test_alone_and_batched_greedy_equals_generate(loaded: Any, engine: Engine) -> None:
    wanted = {p: _reference(loaded, _ids(loaded, p), 20) for p in PROMPTS}
    assert len({tuple(w) for w in wanted.values()}) == len(PROMPTS), "the model should vary its output"
    for p in PROMPTS:  # one at a time
        ticket = engine.generate(GenerationRequest(_ids(loaded, p), max_new_tokens=20), timeout=60)
        assert ticket.text == _text(loaded, wanted[p])
    # All at once, more than the batch holds: rows join and leave a running batch.
    steps = engine.stats["steps"]
    tickets = [engine.submit(GenerationRequest(_ids(loaded, p), max_new_tokens=n))
               for p, n in zip(PROMPTS * 2, [20, 7, 13, 20, 3, 11, 20, 5, 17, 9], strict=True)]
    for t in tickets:
        assert t.wait(60)
    for p, t in zip(PROMPTS * 2, tickets, strict=True):
        n = t.request.max_new_tokens
        assert t.text == _text(loaded, _reference(loaded, _ids(loaded, p), n)), (p, n)
        assert t.finish in ("length", "eot")
    # Tokens were decoded side by side: fewer forward passes than tokens.
    assert engine.stats["steps"] - steps < sum(t.tokens for t in tickets) / 2


def test_a_prompt_extending_a_recent_one_reuses_its_cache_and_gives_the_same_tokens(
        loaded: Any, engine: Engine) -> None:
    base = "def parse(line):\n    fields = line.split(',')\n    return [f.strip() for f in fields]\n\n" * 3
    first = engine.generate(GenerationRequest(_ids(loaded, base + "def "), max_new_tokens=8), timeout=60)
    assert first.reused_tokens == 0
    extended = _ids(loaded, base + "def load(path):\n    with open(path) as f:\n        ")
    ticket = engine.generate(GenerationRequest(extended, max_new_tokens=12), timeout=60)
    assert ticket.reused_tokens >= len(_ids(loaded, base)) - 2
    assert ticket.text == _text(loaded, _reference(loaded, extended, 12))
    # The very same prompt again: all but its last token come from the cache.
    again = engine.generate(GenerationRequest(extended, max_new_tokens=12), timeout=60)
    assert again.reused_tokens == len(extended) - 1 and again.text == ticket.text


def test_stop_strings_are_matched_after_the_healed_token(loaded: Any, engine: Engine) -> None:
    wanted = _text(loaded, _reference(loaded, _ids(loaded, PROMPTS[1]), 30))
    stop = next(c for c in wanted[1:] if not c.isspace())  # a character the continuation holds
    ticket = engine.generate(GenerationRequest(_ids(loaded, PROMPTS[1]), max_new_tokens=30, stop=(stop,)),
                             timeout=60)
    assert ticket.finish == "stop" and stop not in ticket.text and wanted.startswith(ticket.text)
    # Healing: a prompt ending in a newline takes its last token back; a stop of "\n" must not be
    # found inside the regenerated newline-plus-indent token.
    prompt = build_prompt(loaded, "def f(x):\n", None, 16)
    assert prompt.heal == "\n"
    healed = engine.generate(GenerationRequest(prompt.ids, max_new_tokens=16, heal=prompt.heal,
                                               stop=("\n",)), timeout=60)
    assert healed.tokens > 1 or healed.finish != "stop"
    assert "\n" not in healed.text


def test_streamed_pieces_add_up_and_never_show_a_partial_stop(loaded: Any, engine: Engine) -> None:
    found = []
    for prompt in PROMPTS:
        wanted = _text(loaded, _reference(loaded, _ids(loaded, prompt), 24))
        found += [(prompt, wanted, wanted[i:i + 3]) for i in range(12, len(wanted) - 3)
                  if wanted.find(wanted[i:i + 3]) >= 10]
    assert found, "no prompt has a varied enough continuation"
    prompt, wanted, stop = found[0]
    pieces: list[str] = []
    done = threading.Event()

    def listen(_ticket: Any, text: str, finished: bool) -> None:
        pieces.append(text)
        if finished:
            done.set()

    ticket = engine.submit(GenerationRequest(_ids(loaded, prompt), max_new_tokens=24, stop=(stop,)), listen)
    assert done.wait(60)
    assert "".join(pieces) == ticket.text == wanted[:wanted.find(stop)]  # no part of the stop was sent
    assert len([p for p in pieces if p]) > 2


def test_sampling_is_seeded(loaded: Any, engine: Engine) -> None:
    ids = _ids(loaded, PROMPTS[2])
    runs = [engine.generate(GenerationRequest(ids, 16, temperature=2.0, top_p=0.95, seed=s), timeout=60).text
            for s in (1, 1, 2, 3, 4)]
    assert runs[0] == runs[1]
    assert len(set(runs[1:])) > 1


def test_cancel_deadline_and_a_full_queue(loaded: Any) -> None:
    engine = Engine(loaded, max_batch=1, max_queue=2).start()
    try:
        ids = _ids(loaded, PROMPTS[0])
        long = engine.submit(GenerationRequest(ids, 200, ignore_eos=True))
        deadline = time.monotonic() + 30
        while engine.active == 0 and time.monotonic() < deadline:  # the batch of one is taken
            time.sleep(0.01)
        waiting = [engine.submit(GenerationRequest(ids, 5)) for _ in range(2)]
        with pytest.raises(Overloaded):
            engine.submit(GenerationRequest(ids, 5))
        long.cancel()
        assert long.wait(30) and long.finish == "cancelled"
        assert all(t.wait(30) and t.finish in ("length", "eot") for t in waiting)
        most = engine.context - len(ids)
        soon = time.monotonic() + 0.05
        late = engine.generate(GenerationRequest(ids, most, ignore_eos=True, deadline=soon), timeout=30)
        assert late.finish == "deadline" and late.tokens < most
        assert engine.generate(GenerationRequest(ids, 4, ignore_eos=True), timeout=30).tokens == 4
    finally:
        engine.stop()


def test_prompts_keep_the_end_of_the_prefix_and_use_the_fim_builder(loaded: Any) -> None:
    from stackwright.model.fim import fim_ids

    prefix, suffix = "x = 1\n" * 400, "\ny = 2" * 400
    prompt = build_prompt(loaded, prefix, suffix, 32)
    assert prompt.fim and prompt.truncated and len(prompt.ids) <= loaded.context - 32
    short = build_prompt(loaded, "def f():\n", "\n    return 1\n", 16)
    p_ids, s_ids = loaded.tokenizer.encode(["def f():\n", "\n    return 1\n"])
    # The prefix's last token is healed: taken back, and the middle must begin with its text.
    assert short.ids == fim_ids(p_ids[:-1], [], s_ids) and not short.truncated
    assert short.heal == loaded.tokenizer.decode(p_ids[-1:])
    # In SPM order the suffix comes first and the middle follows the (healed) prefix.
    spm = build_prompt(loaded, "def f():\n", "\n    return 1\n", 16, spm=True)
    assert spm.ids == fim_ids(p_ids[:-1], [], s_ids, spm=True) and spm.heal == short.heal
    assert spm.ids[:2] == [1, 3] and spm.ids[-len(p_ids) :] == [2, *p_ids[:-1]]
    # The layout llm-vscode writes itself is the same prompt.
    assert split_fim("<fim_prefix>def f():\n<fim_suffix>\n    return 1\n<fim_middle>") == (
        "def f():\n", "\n    return 1\n")
    assert build_prompt(loaded, "<fim_prefix>def f():\n<fim_suffix>\n    return 1\n<fim_middle>", None,
                        16).ids == short.ids
    # stackwright's own special-token placeholders in client text are not tokens.
    assert build_prompt(loaded, "a\ufdd0b", None, 8).ids == build_prompt(loaded, "ab", None, 8).ids
