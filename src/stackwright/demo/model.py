"""The demo's model stages: a tokenizer trained on the release, the release packed into 512-token
sequences with FIM, and the ``tiny`` GPTBigCode preset trained for a few minutes.

Each resumes (:mod:`stackwright.demo.stages`): the tokenizer on the same release, the tokens on the
same release and tokenizer, the model on the same tokens and time budget. A training run that was
interrupted continues from its last checkpoint. torch and transformers are imported here only
inside the stages.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.demo.stages import Markers, Say, StageReport, digest, resumable
from stackwright.files import sha256_file

DEMO_VOCAB = 2048
DEMO_SEQ_LEN = 512
DEMO_VALIDATION = 0.05
PRESET = "tiny"


@dataclass(frozen=True)
class TrainedModel:
    """What the model stages made: where, and the fingerprints later stages key on."""

    tokenizer: Path
    tokens: Path
    run: Path
    model: Path
    weights_sha256: str
    train: dict[str, Any]


def run_model_stages(out_dir: Path, release: Path, markers: Markers, say: Say, *, minutes: float,
                     workers: int | None = None,
                     on_step: Callable[[dict[str, Any]], None] | None = None
                     ) -> tuple[TrainedModel, list[StageReport]]:
    """Tokenizer, tokens and a ``tiny`` model trained for ``minutes`` on ``release``."""
    out_dir = Path(out_dir)
    tok, tokens, run = out_dir / "tokenizer", out_dir / "tokens", out_dir / "run"
    release_sha = sha256_file(Path(release) / "manifest.json")
    reports = []

    from stackwright.model.packing import MANIFEST
    from stackwright.model.runs import MODEL_DIR
    from stackwright.model.tokenizer import TOKENIZER_FILE

    def make_tokenizer() -> dict[str, Any]:
        from stackwright.model.tokenizer import train_tokenizer

        shutil.rmtree(tok, ignore_errors=True)
        say(f"demo: training a {DEMO_VOCAB:,}-token tokenizer on {Path(release).name}")
        train_tokenizer(release, tok, vocab_size=DEMO_VOCAB)
        return {"figures": {"vocabulary": DEMO_VOCAB}}

    report, _ = resumable(markers, "tokenizer", digest("tokenizer", release_sha, DEMO_VOCAB),
                          [tok / TOKENIZER_FILE], make_tokenizer, say)
    reports.append(report)
    tokenizer_sha = sha256_file(tok / TOKENIZER_FILE)

    def make_tokens() -> dict[str, Any]:
        from stackwright.model.fim import FimConfig
        from stackwright.model.packing import TokenizeConfig, tokenize_release
        from stackwright.pipeline.executors import make_executor

        shutil.rmtree(tokens, ignore_errors=True)
        say(f"demo: packing {Path(release).name} into {DEMO_SEQ_LEN}-token sequences with FIM")
        runner = make_executor("local", workers or max(1, os.cpu_count() or 1))
        config = TokenizeConfig(seq_len=DEMO_SEQ_LEN, validation=DEMO_VALIDATION, fim=FimConfig())
        splits = tokenize_release(release, tok, tokens, config, executor=runner).manifest["splits"]
        return {"figures": {"train_sequences": splits["train"]["samples"],
                            "validation_sequences": splits["validation"]["samples"],
                            "tokens": sum(s["tokens"] for s in splits.values())}}

    report, _ = resumable(markers, "tokens", digest("tokens", release_sha, tokenizer_sha, DEMO_SEQ_LEN,
                                                    DEMO_VALIDATION),
                          [tokens / MANIFEST], make_tokens, say)
    reports.append(report)
    train_key = digest("train", sha256_file(tokens / MANIFEST), minutes, PRESET)

    def make_model() -> dict[str, Any]:
        from stackwright.model.train import TrainConfig, train

        started = markers.finished("train-started", train_key)
        if started is None:  # a run of other tokens or settings is not continued
            shutil.rmtree(run, ignore_errors=True)
            markers.record("train-started", train_key, {})
        elif run.exists():
            say(f"demo: continuing the interrupted training run in {run}")
        say(f"demo: training the {PRESET} preset for {minutes:g} minutes")
        result = train(tokens, run, TrainConfig(preset=PRESET, time_limit=minutes), on_step=on_step, say=say)
        summary = result.summary()
        return {"train": summary,
                "figures": {"steps": summary["step"], "val_loss": _round(summary["val_loss"]),
                            "parameters": summary["parameters"],
                            "tokens_per_second": round(summary["tokens_per_second"])}}

    model_dir = run / MODEL_DIR
    report, result = resumable(markers, "train", train_key, [model_dir / "config.json",
                                                            model_dir / "model.safetensors"], make_model, say)
    reports.append(report)
    weights = sha256_file(model_dir / "model.safetensors")
    return TrainedModel(tok, tokens, run, model_dir, weights, result["train"]), reports


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
