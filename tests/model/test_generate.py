"""Batched sampling: left-padded rows give what one prompt alone gives, and stop words cut."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")


def test_a_batch_of_prompts_gives_what_each_prompt_gives_alone(tiny_model: Path) -> None:
    from stackwright.model.generate import complete, load_model, sample

    loaded = load_model(tiny_model, device="cpu")
    prompts = ["def add(a, b):\n    return", "import os\n\n\nclass Reader:\n    def __init__(self, path):\n"]
    batched = sample(loaded, prompts, n=2, max_new_tokens=16, temperature=0.0, batch_size=4)
    for prompt, rows in zip(prompts, batched, strict=True):
        alone = complete(loaded, prompt, max_new_tokens=16)
        assert [r.text for r in rows] == [alone.text, alone.text]
    stopped = sample(loaded, prompts, max_new_tokens=16, temperature=0.0, stop=("\n",))
    for rows, full in zip(stopped, batched, strict=True):
        assert "\n" not in rows[0].text and full[0].text.startswith(rows[0].text)
    sampled = sample(loaded, prompts[:1], n=3, max_new_tokens=8, temperature=1.0, seed=1)
    assert sampled == sample(loaded, prompts[:1], n=3, max_new_tokens=8, temperature=1.0, seed=1)


def test_a_stop_string_is_not_matched_inside_the_healed_token(tiny_model: Path) -> None:
    """A prompt ending in a newline gives its last token back; the model's first token then starts
    with that newline ("\\n    "), which must not count as the stop "\\n"."""
    from stackwright.model.generate import complete, load_model, sample

    loaded = load_model(tiny_model, device="cpu")
    prompt = "def add(a, b):\n"
    free = complete(loaded, prompt, max_new_tokens=12)
    stopped = complete(loaded, prompt, max_new_tokens=12, stop=("\n",))
    assert "\n" not in stopped.text and free.text.startswith(stopped.text)
    assert stopped.tokens > 1 or stopped.stopped != "stop"
    assert stopped.text == free.text.split("\n")[0]
    [[row]] = sample(loaded, [prompt], max_new_tokens=12, temperature=0.0, stop=("\n",))
    assert row.text == stopped.text
