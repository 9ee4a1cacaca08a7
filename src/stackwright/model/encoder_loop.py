"""The training loop the encoder stages share (masked-LM pretraining and NER fine-tuning).

One process, on the best device there is. AdamW with a linear warmup then linear decay to zero (BERT's
schedule); bounded by ``max_steps`` and ``time_limit``; a checkpoint (model, optimizer, step and the
losses so far) every ``checkpoint_every`` steps and when stopped early, written under a temporary name
and renamed, so a killed run resumes from the last one. The batches and the dropout masks are functions
of the step alone, so a resumed run trains as an uninterrupted one does.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class LoopConfig:
    max_steps: int
    learning_rate: float
    warmup_steps: int
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    time_limit: float | None = None  # minutes
    eval_every: int = 100
    checkpoint_every: int = 200
    seed: int = 0


@dataclass
class LoopResult:
    steps: int
    finished: bool
    seconds: float
    losses: list[tuple[int, float]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int | None = None
    device: str = "cpu"


def quiet_transformers() -> None:
    """No tqdm bars from loading and saving, no notices about the heads a fine-tuning starts afresh."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def best_device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _factor(step: int, warmup: int, horizon: int) -> float:
    if step < warmup:
        return (step + 1) / max(1, warmup)
    return max(0.0, (horizon - step) / max(1, horizon - warmup))


def _save(path: Path, state: dict[str, Any]) -> None:
    import torch

    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def run_loop(model: Any, batch: Callable[[int], dict[str, Any]], config: LoopConfig, run: Path, *,
             evaluate: Callable[[], dict[str, Any]] | None = None,
             on_step: Callable[[int, int, float], None] | None = None) -> LoopResult:
    """Train ``model`` (already on its device) on ``batch(step)`` (the model's keyword arguments,
    ``labels`` included) from the last checkpoint in ``run``; ``evaluate`` every ``eval_every``
    steps and at the end. ``on_step(step, max_steps, loss)`` after each step."""
    import torch

    torch.manual_seed(config.seed)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}],
                                  lr=config.learning_rate, betas=config.betas, eps=1e-6)
    checkpoint = Path(run) / CHECKPOINT
    result = LoopResult(steps=0, finished=False, seconds=0.0, device=str(next(model.parameters()).device))
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=next(model.parameters()).device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        result.steps = result.resumed_from = int(state["step"])
        result.losses = [tuple(x) for x in state["losses"]]  # type: ignore[misc]
        result.evaluations = list(state["evaluations"])
        result.seconds = float(state["seconds"])

    def save() -> None:
        _save(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "step": result.steps, "losses": result.losses,
                           "evaluations": result.evaluations, "seconds": result.seconds})

    def run_evaluation() -> None:
        if evaluate is None:
            return
        model.eval()
        with torch.no_grad():
            result.evaluations.append({"step": result.steps, **evaluate()})
        model.train()

    started = time.monotonic() - result.seconds
    deadline = None if config.time_limit is None else time.monotonic() + 60 * config.time_limit
    model.train()
    try:
        while result.steps < config.max_steps:
            if deadline is not None and time.monotonic() >= deadline:
                break
            step = result.steps
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * _factor(step, config.warmup_steps, config.max_steps)
            torch.manual_seed(config.seed * 1_000_003 + step)  # dropout of a step is the same after a resume
            loss = model(**batch(step)).loss
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"the loss is {value} at step {step}; lower --learning-rate")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            result.steps = step + 1
            result.losses.append((result.steps, round(value, 5)))
            result.seconds = time.monotonic() - started
            if on_step is not None:
                on_step(result.steps, config.max_steps, value)
            if result.steps % config.eval_every == 0 and result.steps < config.max_steps:
                run_evaluation()
            if result.steps % config.checkpoint_every == 0 and result.steps < config.max_steps:
                save()
    except KeyboardInterrupt:
        save()
        raise
    result.finished = result.steps >= config.max_steps
    if not result.evaluations or result.evaluations[-1]["step"] != result.steps:
        run_evaluation()
    result.seconds = time.monotonic() - started
    if result.finished:
        checkpoint.unlink(missing_ok=True)
    else:
        save()
    return result
