"""The code encoder (masked-LM pretraining) and the NER detector fine-tuned from it, end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import build_ok, mit_license, read_rows, run_cli, write

pytest.importorskip("torch")

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Niklaus", "Radia",
         "Leslie", "Margaret", "Dennis", "Hedy", "Tim", "Sophie", "John", "Karen", "Brian", "Lynn"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Wirth",
        "Perlman", "Lamport", "Hamilton", "Ritchie", "Lamarr", "Berners", "Wilson", "McCarthy", "Jones",
        "Kernighan", "Conway"]
WORDS = ["parser", "cache", "router", "queue", "tensor", "widget", "driver", "socket", "buffer", "index"]


def _case(rng: random.Random, first: list[str], last: list[str]) -> dict[str, Any]:
    """A small file whose header credits a person (NAME) and whose code holds a password."""
    name = f"{rng.choice(first)} {rng.choice(last)}"
    secret = "".join(rng.choice("abcdefghkmnpqrstuvwxyz23456789") for _ in range(rng.randint(7, 12)))
    word = rng.choice(WORDS)
    parts: list[tuple[str, str | None]] = [
        (f"# {word}.py\n# Copyright (c) {rng.randint(1990, 2024)} ", None), (name, "NAME"),
        (f"\n\nimport {word}\n\n{word.upper()}_PASSWORD = \"", None), (secret, "PASSWORD"),
        (f"\"\n\ndef open_{word}():\n    return {word}.connect()\n", None)]
    text, entities = "", []
    for piece, label in parts:
        if label:
            entities.append({"start": len(text), "end": len(text) + len(piece), "label": label})
        text += piece
    return {"id": f"{word}-{rng.random()}", "text": text, "entities": entities}


def _cases(path: Path, n: int, seed: int, first: list[str], last: list[str]) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(json.dumps(_case(rng, first, last)) + "\n" for _ in range(n)))
    return path


@pytest.fixture(scope="module")
def encoder(release: Path, tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("encoder") / "enc"
    proc = run_cli("encoder", "train", release, "--tokenizer", tokenizer, "--out", out, "--max-steps", "8",
                   "--seq-len", "64", "--batch-size", "4", "--eval-every", "4", "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["steps"] == 8
    return out


def test_the_encoder_is_a_hugging_face_masked_lm_over_the_project_tokenizer(encoder: Path, tokenizer: Path
                                                                            ) -> None:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from stackwright.model.tokenizer import CodeTokenizer

    model = AutoModelForMaskedLM.from_pretrained(encoder).eval()
    tok = AutoTokenizer.from_pretrained(encoder)
    code = "def add(a, b):\n    return a + b  # 42\n"
    ids = tok(code)["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert ids[1:-1] == CodeTokenizer(tokenizer).encode([code])[0]  # the code model's ids, unchanged
    masked = tok("x = [MASK]")["input_ids"]
    assert tok.mask_token == "[MASK]" and tok.mask_token_id in masked
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([masked])).logits
    assert logits.shape == (1, len(masked), len(tok))
    info = json.loads((encoder / "encoder.json").read_text())
    assert info["finished"] and info["steps"] == 8 and "next-sentence" in info["objective"]
    assert [e["step"] for e in info["evaluations"]] == [4, 8]
    assert all(0 < e["validation_loss"] < 20 for e in info["evaluations"])


def test_masking_follows_bert() -> None:
    from stackwright.model.encoder import EncoderTokens
    from stackwright.model.encoder_train import mask_tokens

    ids = EncoderTokens(pad=100, sep=101, cls=102, mask=103, vocab_size=104, first_text_id=19)
    rows = np.random.default_rng(0).integers(19, 100, (64, 256))
    rows[:, 0], rows[:, 200], rows[:, 201:] = ids.cls, ids.sep, ids.pad
    inputs, labels = mask_tokens(rows, ids, np.random.default_rng(1))
    chosen = labels != -100
    assert abs(chosen[:, 1:200].mean() - 0.15) < 0.01
    assert not chosen[:, 0].any() and not chosen[:, 200:].any()  # never [CLS], [SEP] or padding
    assert (labels[chosen] == rows[chosen]).all()
    as_mask = (inputs[chosen] == ids.mask).mean()
    kept = (inputs[chosen] == rows[chosen]).mean()
    assert abs(as_mask - 0.8) < 0.03 and 0.07 < kept < 0.15  # 10% kept, plus random picks of itself
    assert (inputs[~chosen] == rows[~chosen]).all()
    swapped = inputs[chosen][(inputs[chosen] != ids.mask) & (inputs[chosen] != rows[chosen])]
    assert len(swapped) and swapped.min() >= 19 and swapped.max() < 100  # random text tokens, never special


def test_an_interrupted_run_resumes_to_the_same_losses(tmp_path: Path) -> None:
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from stackwright.model.encoder_loop import LoopConfig, run_loop

    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32)
    loop = LoopConfig(max_steps=6, learning_rate=1e-3, warmup_steps=2, checkpoint_every=100)

    def batch(step: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(step)
        x = torch.randint(5, 64, (4, 16), generator=g)
        return {"input_ids": x, "labels": x}

    def fresh() -> Any:
        torch.manual_seed(0)
        return BertForMaskedLM(config)

    whole = run_loop(fresh(), batch, loop, tmp_path / "whole")

    def stop_at_3(step: int, _total: int, _loss: float) -> None:
        if step == 3:
            raise KeyboardInterrupt

    (tmp_path / "cut").mkdir()
    (tmp_path / "whole").mkdir(exist_ok=True)
    with pytest.raises(KeyboardInterrupt):
        run_loop(fresh(), batch, loop, tmp_path / "cut", on_step=stop_at_3)
    assert (tmp_path / "cut" / "checkpoint.pt").is_file()
    resumed = run_loop(fresh(), batch, loop, tmp_path / "cut")
    assert resumed.resumed_from == 3 and resumed.finished
    assert [s for s, _ in resumed.losses] == list(range(1, 7))
    np.testing.assert_allclose([v for _, v in resumed.losses], [v for _, v in whole.losses], rtol=1e-4)
    assert not (tmp_path / "cut" / "checkpoint.pt").exists()  # a finished run leaves no checkpoint


def test_a_ner_model_finds_names_and_passwords_it_never_saw_and_joins_the_build(encoder: Path,
                                                                                tmp_path: Path) -> None:
    """Fine-tuned on files crediting 10 people, the detector finds people it never saw (the other 10
    first and last names); as a build detector it redacts them with placeholders."""
    train = _cases(tmp_path / "train.jsonl", 240, 0, FIRST[:10], LAST[:10])
    held = _cases(tmp_path / "held.jsonl", 40, 1, FIRST[10:], LAST[10:])
    ner = tmp_path / "ner"
    proc = run_cli("pii", "train-ner", encoder, "--data", train, "--validation-data", held, "--out", ner,
                   "--max-steps", "150", "--learning-rate", "2e-3", "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    trained = json.loads(proc.stdout)
    assert trained["cases"] == {"train": 240, "validation": 40} and trained["steps"] == 150

    def scores(*extra: str | Path) -> dict[str, Any]:
        proc = run_cli("eval", "pii", "--cases", held, "--json", *extra)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["per_label"]

    alone, with_ner = scores(), scores("--ner-model", ner)
    assert alone["NAME"]["f1"] == 0.0
    assert with_ner["NAME"]["f1"] >= 0.8, with_ner
    assert with_ner["PASSWORD"]["f1"] >= 0.8  # patterns win where both find one; NER adds few false ones

    repo = tmp_path / "src" / "acme__tools"
    write(repo / "LICENSE", mit_license("2024 Acme"))
    case = json.loads(held.read_text().splitlines()[0])
    write(repo / "tool.py", case["text"])
    config = write(tmp_path / "build.toml", '[build]\nsteps = ["languages", "pii"]\n[build.pii]\n'
                   f'detectors = ["ner"]\nner_model = "{ner}"\n')
    out = tmp_path / "out"
    summary = build_ok(tmp_path / "src", "--out", out, "--config", config)
    (row,) = [r for r in read_rows(out) if r["path"] == "tool.py"]
    name = next(e for e in case["entities"] if e["label"] == "NAME")
    assert case["text"][name["start"]:name["end"]] not in row["content"]
    assert "<NAME>" in row["content"]
    assert "NAME" in json.dumps(summary) or "NAME" in (out / "manifest.json").read_text()


def test_a_build_asking_for_ner_without_a_model_fails_before_it_starts(tmp_path: Path) -> None:
    repo = tmp_path / "src" / "acme__tools"
    write(repo / "LICENSE", mit_license("2024 Acme"))
    write(repo / "tool.py", "x = 1\n")
    config = write(tmp_path / "build.toml", '[build]\nsteps = ["pii"]\n[build.pii]\ndetectors = ["ner"]\n')
    proc = run_cli("build", tmp_path / "src", "--out", tmp_path / "out", "--config", config, "--no-progress")
    assert proc.returncode == 2 and "ner_model" in proc.stderr and "Traceback" not in proc.stderr
