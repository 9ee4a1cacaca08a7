"""``stackwright eval perplexity``: the training loop's validation loss again, the same loss as
transformers computes on the same sequences, perplexity = exp(loss), bits per byte from the bytes of
the predicted tokens; token data of another tokenizer refused in one line."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import assert_one_line_error, run_cli

pytest.importorskip("torch")
pytest.importorskip("transformers")


def _perplexity(*args: Any) -> dict[str, Any]:
    proc = run_cli("eval", "perplexity", *args, "--json", "--no-progress", "--no-card", timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_loss_is_the_training_validation_loss(tiny_model: Path, train_tokens: Path) -> None:
    finished = json.loads((tiny_model.parent / "finished.json").read_text())
    # The fixture's run validated on 16 evenly spread sequences, in fp32, at its last step.
    result = _perplexity(tiny_model.parent, "--data", train_tokens, "--max-sequences", "16",
                         "--batch-size", "5")
    assert result["split"] == "validation" and result["sequences"] == 16 and result["seq_len"] == 128
    # Another batch size sums in another order: float32 noise of about 1e-5 relative.
    assert result["loss"] == pytest.approx(finished["val_loss"], abs=5e-4)
    assert result["tokens"] == 16 * 127
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    assert result["bits_per_byte"] == pytest.approx(result["loss"] * result["tokens"] / math.log(2)
                                                    / result["bytes"])
    assert 0 < result["bytes"] < 16 * 127 * 20
    train = _perplexity(tiny_model, "--data", train_tokens, "--split", "train", "--max-sequences", "3")
    assert train["split"] == "train" and train["sequences"] == 3 and train["of_sequences"] > 3


def test_the_loss_is_what_transformers_computes(tiny_model: Path, train_tokens: Path) -> None:
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM

    from stackwright.model.loader import TokenSplit
    from stackwright.model.tokenizer import CodeTokenizer
    from stackwright.model.tokens import SPECIAL_TOKENS

    result = _perplexity(tiny_model, "--data", train_tokens, "--max-sequences", "2")
    split = TokenSplit(train_tokens, "validation")
    rows = np.stack([split[0], split[len(split) - 1]]).astype(np.int64)  # two evenly spread: the ends
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    ids = torch.from_numpy(rows)
    with torch.no_grad():
        loss = float(model(input_ids=ids, labels=ids).loss)
    assert result["tokens"] == 2 * 127
    assert result["loss"] == pytest.approx(loss, abs=1e-4)
    tok = CodeTokenizer(tiny_model)
    texts = [tok.decode([i for i in row[1:] if i >= len(SPECIAL_TOKENS)]) for row in rows]
    if not any("\ufffd" in t for t in texts):  # whole characters: the bytes are the text's
        assert result["bytes"] == sum(len(t.encode("utf-8")) for t in texts)


def test_token_data_of_another_tokenizer_is_refused(tiny_model: Path, train_tokens: Path,
                                                    tmp_path: Path) -> None:
    other = tmp_path / "other-tokens"
    shutil.copytree(train_tokens, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["tokenizer"]["sha256"] = "f" * 64
    (other / "manifest.json").write_text(json.dumps(manifest))
    proc = run_cli("eval", "perplexity", tiny_model, "--data", other, "--no-progress")
    assert_one_line_error(proc, "another tokenizer", "ffffffffffff")
    assert_one_line_error(run_cli("eval", "perplexity", tiny_model, "--data", tmp_path, "--no-progress"),
                          "not a token folder")
    proc = run_cli("eval", "perplexity", tiny_model, "--data", train_tokens, "--split", "test")
    assert_one_line_error(proc, "unknown split")
