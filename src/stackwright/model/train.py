"""Pretraining GPTBigCode on a token folder: one loop, top to bottom, on accelerate.

config -> data -> model -> optimizer and schedule -> resume -> loop (accumulate, clip, step, log,
validate, checkpoint) -> save. The same function runs on one CPU, on a GPU, and on many processes
under ``accelerate launch`` (DDP, or FSDP from an accelerate config file): each process reads its own
slice of every global batch, so the losses do not depend on how the batch is split.

Data order is a function of the step: global batch ``s`` is stream samples ``s*G .. (s+1)*G`` of the
seeded loader (:mod:`stackwright.model.loader`), cut into ``accumulation x processes`` micro-batches.
With the model, optimizer, scheduler and random states restored from a checkpoint, a resumed run
computes exactly what the uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stackwright.files import replace_folder
from stackwright.model.card import release_facts, write_model_card
from stackwright.model.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from stackwright.model.corpus import ModelDataError
from stackwright.model.fim import FimConfig, FimTokens, epoch_rng, permute_sample
from stackwright.model.hardware import (
    choose_attention,
    describe_device,
    native_bf16,
    training_flops_per_token,
)
from stackwright.model.loader import TokenLoader, TokenSplit, read_token_manifest
from stackwright.model.presets import Preset, get_preset
from stackwright.model.runlog import RunLog
from stackwright.model.runs import MODEL_DIR, mark_finished, open_run
from stackwright.model.tokenizer import CodeTokenizer
from stackwright.model.tokens import EOT, FIM_PAD, SPECIAL_TOKENS

ESTIMATE_AFTER = 5  # steps timed before a --time-limit run fixes its schedule's length
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "stackwright-tokenizer.json")


@dataclass(frozen=True)
class TrainConfig:
    """What ``stackwright train`` is asked; None takes the preset's value."""

    preset: str = "tiny"
    max_steps: int | None = None
    time_limit: float | None = None  # minutes, for this invocation
    batch_size: int | None = None  # sequences per optimizer step, over all processes
    micro_batch_size: int | None = None  # sequences per forward pass on one process
    learning_rate: float | None = None
    warmup_steps: int | None = None
    dropout: float | None = None
    eval_every: int = 50
    eval_samples: int = 64
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    seed: int = 0
    precision: str = "auto"  # auto | bf16 | fp32
    attention: str = "auto"  # auto | sdpa | eager | flash_attention_2
    compile: bool = False
    cpu: bool = False
    tokenizer: Path | None = None
    tensorboard: bool = True


@dataclass
class TrainResult:
    run: Path
    model: Path
    step: int
    horizon: int
    stopped: str  # finished | time_limit
    resumed_from: int | None
    tokens: int
    train_loss: float | None
    val_loss: float | None
    unigram_entropy: float | None
    seconds: float
    tokens_per_second: float
    parameters: int
    mfu: float | None
    device: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["run"], out["model"] = str(self.run), str(self.model)
        return out


@dataclass(frozen=True)
class ModelSource:
    """Where a run's model comes from and how it is kept, when it is not a new model of the preset
    (fine-tuning: a base model wrapped with adapters). ``build(dropout, attention)`` returns the
    model to train (only its trainable parameters are optimised); ``save(lm, folder)`` writes it;
    ``identity`` joins the run's identity (a resumed run must have the same base and settings)."""

    preset: Preset
    build: Callable[[float, str], Any]
    save: Callable[[Any, Path], None]
    identity: dict[str, Any]
    about: dict[str, Any] = field(default_factory=dict)
    folder: str = "model"


@dataclass(frozen=True)
class Plan:
    """The settings a run trains with, resolved from the config, the preset and the machine."""

    preset: Preset
    batch_size: int
    micro_batch_size: int
    accumulation: int
    learning_rate: float
    warmup_steps: int
    dropout: float
    precision: str

    def identity(self, config: TrainConfig, data: dict[str, Any], tokenizer_sha: str) -> dict[str, Any]:
        return {"preset": self.preset.name, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate,
                "warmup_steps": self.warmup_steps, "dropout": self.dropout, "precision": self.precision,
                "seed": config.seed, "max_steps": config.max_steps, "seq_len": data["seq_len"],
                "tokens_release": data["release"]["manifest_sha256"], "tokenizer_sha256": tokenizer_sha,
                "train_samples": data["splits"]["train"]["samples"]}


def make_plan(config: TrainConfig, preset: Preset, processes: int, precision: str) -> Plan:
    batch = config.batch_size or preset.batch_size
    micro = min(config.micro_batch_size or preset.micro_batch_size, max(1, batch // processes))
    if batch % (micro * processes):
        raise ModelDataError(f"--batch-size {batch} is not a multiple of --micro-batch-size {micro} times "
                             f"{processes} process(es)")
    return Plan(preset, batch, micro, batch // (micro * processes),
                config.learning_rate or preset.learning_rate,
                preset.warmup_steps if config.warmup_steps is None else config.warmup_steps,
                preset.dropout if config.dropout is None else config.dropout, precision)


def learning_rate_factor(step: int, warmup: int, horizon: int, floor: float = 0.1) -> float:
    """Linear warmup over ``warmup`` steps, then cosine decay to ``floor`` of the peak at ``horizon``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, horizon - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def unigram_entropy(split: TokenSplit, vocab_size: int, max_samples: int = 20_000) -> float | None:
    """Entropy of the split's token frequencies in nats per token: the loss of a model that knows
    only how often each token occurs (the floor a trained model must beat)."""
    if len(split) == 0:
        return None
    counts = np.zeros(vocab_size, dtype=np.int64)
    for i in range(min(len(split), max_samples)):
        counts += np.bincount(split[i], minlength=vocab_size)[:vocab_size]
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def epoch_fim(manifest: dict[str, Any], tokenizer: CodeTokenizer, seed: int) -> Callable[[int, np.ndarray],
                                                                                       np.ndarray]:
    """``(stream position, sample) -> sample`` as training reads it: rearranged for fill-in-the-middle
    afresh at each position where the tokens ask for epoch-level FIM (:mod:`stackwright.model.fim`),
    else the sample itself."""
    fim = FimConfig(**manifest.get("config", {}).get("fim", {"mode": "off"}))
    if fim.mode != "epoch" or not fim.packed:
        return lambda _k, sample: sample

    def rearrange(k: int, sample: np.ndarray) -> np.ndarray:
        return permute_sample(sample, epoch_rng(seed, k), fim, tokenizer.encode, tokenizer.decode,
                              FimTokens(), tokenizer.encode_split)

    return rearrange


def validation_indices(split: TokenSplit, count: int) -> list[int]:
    """A fixed, evenly spread subset of the validation samples (the same at every evaluation)."""
    n = len(split)
    if n == 0 or count <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, n - 1, num=min(n, count))})


def _check_tokenizer(config: TrainConfig, data: dict[str, Any]) -> CodeTokenizer:
    folder = Path(config.tokenizer or data["tokenizer"]["path"])
    tokenizer = CodeTokenizer(folder)
    if tokenizer.sha256 != data["tokenizer"]["sha256"]:
        raise ModelDataError(f"tokenizer {folder} is not the one the tokens were made with (checksums "
                             "differ); pass the tokenizer given to stackwright tokenize with --tokenizer")
    return tokenizer


def train(data: Path, out: Path, config: TrainConfig, *,
          on_step: Callable[[dict[str, Any]], None] | None = None,
          say: Callable[[str], None] | None = None, source: ModelSource | None = None) -> TrainResult:
    """Train (or resume) the run in ``out`` on the token folder ``data``; see the module. ``source``
    replaces the new model of the preset (fine-tuning)."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import broadcast, set_seed
    from transformers import GPTBigCodeForCausalLM

    started = time.monotonic()
    say = say or (lambda _message: None)
    _quiet_libraries()
    # --- config and data -------------------------------------------------------------------------
    preset = source.preset if source is not None else get_preset(config.preset)
    manifest = read_token_manifest(data)
    seq_len = int(manifest["seq_len"])
    if seq_len > preset.context:
        raise ModelDataError(f"the tokens are {seq_len}-token sequences, longer than preset {preset.name}'s "
                             f"context of {preset.context}; tokenize with --seq-len {preset.context}")
    train_split = TokenSplit(data, "train")
    if len(train_split) == 0:
        raise ModelDataError(f"{data}: the train split has no samples; tokenize a release with more code")
    tokenizer = _check_tokenizer(config, manifest)
    cuda = torch.cuda.is_available() and not config.cpu
    device_probe = torch.device("cuda" if cuda else "cpu")
    precision = config.precision
    if precision == "auto":
        precision = "bf16" if native_bf16(device_probe) else "fp32"
    accelerator = Accelerator(cpu=not cuda, mixed_precision="bf16" if precision == "bf16" else "no",
                              dynamo_backend="inductor" if config.compile else "no")
    world, rank = accelerator.num_processes, accelerator.process_index
    plan = make_plan(config, preset, world, precision)
    identity = {**plan.identity(config, manifest, tokenizer.sha256), **(source.identity if source else {})}
    splits = {k: {key: v[key] for key in ("samples", "tokens", "repositories")}
              for k, v in manifest["splits"].items()}
    about = {"data": {"path": str(Path(data).resolve()), "seq_len": seq_len, "splits": splits},
        "release": release_facts(manifest["release"]), "tokenizer": str(tokenizer.folder.resolve()),
        "plan": {**asdict(plan), "preset": preset.to_json()}, **(source.about if source else {})}
    run_info, resumed = (None, False)
    if accelerator.is_main_process:
        run_info, resumed = open_run(out, identity, about)
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        from stackwright.model.runs import read_run

        run_info, resumed = read_run(out), True
    # --- model, optimizer, schedule ----------------------------------------------------------------
    set_seed(config.seed)
    attention = choose_attention(accelerator.device, config.attention)
    if source is not None:
        lm = source.build(plan.dropout, attention)
    else:
        lm = GPTBigCodeForCausalLM(preset.model_config(
            tokenizer.vocab_size, bos=SPECIAL_TOKENS.index(EOT), eos=SPECIAL_TOKENS.index(EOT),
            pad=SPECIAL_TOKENS.index(FIM_PAD), dropout=plan.dropout, attention=attention))
    parameters = sum(p.numel() for p in lm.parameters())
    trainable = [p for p in lm.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": preset.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=plan.learning_rate, betas=preset.betas, eps=preset.eps)
    schedule = {"horizon": config.max_steps or preset.max_steps}
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: learning_rate_factor(s, plan.warmup_steps, schedule["horizon"]))
    from stackwright.model.loss import NextTokenLoss

    model, optimizer = accelerator.prepare(NextTokenLoss(lm), optimizer)
    accelerator.register_for_checkpointing(scheduler)
    # --- resume ----------------------------------------------------------------------------------
    step, elapsed_before, horizon_fixed, resumed_from = 0, 0.0, config.max_steps is not None, None
    checkpoints = list_checkpoints(out)
    if checkpoints:
        state = load_checkpoint(accelerator, checkpoints[-1])
        step, resumed_from = int(state["step"]), int(state["step"])
        schedule["horizon"], horizon_fixed = int(state["horizon"]), bool(state["horizon_fixed"])
        elapsed_before = float(state.get("elapsed_seconds", 0.0))
        say(f"train: resuming {out} at step {step} ({checkpoints[-1].name})")
    elif resumed:
        say(f"train: {out} has no checkpoint yet; starting it again from step 0")
    loader = TokenLoader(data, "train", batch_size=plan.batch_size, seed=config.seed)
    val_split = TokenSplit(data, "validation")
    val_ids = validation_indices(val_split, config.eval_samples)
    entropy = unigram_entropy(val_split, tokenizer.vocab_size)
    log = RunLog(out, step, tensorboard=config.tensorboard) if accelerator.is_main_process else None
    tokens_per_step = plan.batch_size * seq_len
    flops_per_token = training_flops_per_token(parameters, preset.n_layer, preset.n_embd, seq_len)
    device = describe_device(accelerator.device)
    peak = device.get("peak_bf16_tflops")

    rearrange = epoch_fim(manifest, tokenizer, config.seed)

    def micro_batch(s: int, m: int) -> torch.Tensor:
        first = s * plan.batch_size + (m * world + rank) * plan.micro_batch_size
        rows = [rearrange(k, loader.data[loader.order(k)])
                for k in range(first, first + plan.micro_batch_size)]
        return torch.from_numpy(np.stack(rows).astype(np.int64)).to(accelerator.device)

    def evaluate() -> float | None:
        mine = val_ids[rank::world]
        if not val_ids:
            return None
        model.eval()
        total = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
        with torch.no_grad(), accelerator.autocast():
            for i in range(0, len(mine), plan.micro_batch_size):
                chunk = mine[i:i + plan.micro_batch_size]
                ids = torch.from_numpy(np.stack([val_split[j] for j in chunk]).astype(np.int64))
                total += torch.tensor([float(model(ids.to(accelerator.device))) * len(chunk), len(chunk)],
                                      dtype=torch.float64, device=accelerator.device)
        model.train()
        total = accelerator.reduce(total, "sum")
        return float(total[0] / total[1])

    def checkpoint(s: int, elapsed: float) -> None:
        save_checkpoint(accelerator, out, s, {"horizon": schedule["horizon"], "horizon_fixed": horizon_fixed,
                                               "samples": s * plan.batch_size, "elapsed_seconds": elapsed},
                        config.keep_checkpoints)

    # --- loop -------------------------------------------------------------------------------------
    session_start = time.monotonic()
    deadline = session_start + config.time_limit * 60 if config.time_limit else None
    step_times: list[float] = []
    last_train = last_val = None
    val_step = -1
    rate = 0.0
    stopped = "finished"
    saved_at = step
    model.train()
    while step < schedule["horizon"]:
        out_of_time = torch.tensor([1.0 if deadline and time.monotonic() >= deadline else 0.0],
                                   device=accelerator.device)
        if float(accelerator.reduce(out_of_time, "max")) > 0:
            stopped = "time_limit"
            break
        t0 = time.monotonic()
        loss_sum = torch.zeros((), device=accelerator.device)
        for m in range(plan.accumulation):
            sync = contextlib.nullcontext() if m == plan.accumulation - 1 else accelerator.no_sync(model)
            with sync:
                with accelerator.autocast():
                    loss = model(micro_batch(step, m))
                accelerator.backward(loss / plan.accumulation)
            loss_sum += loss.detach()
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), preset.grad_clip)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        last_train = float(accelerator.reduce(loss_sum / plan.accumulation, "mean"))
        if not math.isfinite(last_train):
            raise ModelDataError(f"the training loss is {last_train} at step {step}; lower --learning-rate "
                                 "or use --precision fp32")
        dt = time.monotonic() - t0
        step_times.append(dt)
        rate = tokens_per_step / dt if rate == 0 else 0.9 * rate + 0.1 * tokens_per_step / dt
        if not horizon_fixed and deadline and len(step_times) == ESTIMATE_AFTER + 1:
            per_step = float(np.mean(step_times[1:])) * (1 + config.eval_samples / (
                3 * plan.batch_size * max(1, config.eval_every))) * 1.03
            estimate = torch.tensor([step + max(1, int((deadline - time.monotonic()) / per_step))],
                                    device=accelerator.device)
            schedule["horizon"], horizon_fixed = int(broadcast(estimate)), True
            say(f"train: {config.time_limit:g} minutes fit about {schedule['horizon']} steps; the learning "
                "rate decays over them")
        val = evaluate() if step % config.eval_every == 0 or step == schedule["horizon"] else None
        if val is not None:
            last_val, val_step = val, step
        elapsed = elapsed_before + time.monotonic() - session_start
        row = {"step": step, "samples": step * plan.batch_size, "tokens": step * tokens_per_step,
               "learning_rate": lr, "train_loss": last_train, "val_loss": val,
               "grad_norm": float(grad_norm), "tokens_per_second": round(tokens_per_step / dt, 1),
               "elapsed_seconds": round(elapsed, 2)}
        if log is not None:
            log.add(row)
            if val is not None:
                log.plot(entropy)
        if step % config.checkpoint_every == 0:
            checkpoint(step, elapsed)
            saved_at = step
        if on_step is not None and accelerator.is_main_process:
            on_step({**row, "horizon": schedule["horizon"], "tokens_per_second_smoothed": rate,
                     "unigram_entropy": entropy})
    # --- save -------------------------------------------------------------------------------------
    elapsed = elapsed_before + time.monotonic() - session_start
    if saved_at != step:
        checkpoint(step, elapsed)
    if val_step != step and step > 0:  # the model as saved, not as it was at the last evaluation
        last_val = evaluate()
    model_dir = Path(out) / (source.folder if source is not None else MODEL_DIR)
    mean_rate = tokens_per_step * len(step_times) / sum(step_times) if step_times else 0.0
    mfu = flops_per_token * mean_rate / (peak * 1e12 * world) if peak else None
    result = TrainResult(Path(out), model_dir, step, schedule["horizon"], stopped, resumed_from,
                         step * tokens_per_step, last_train, last_val, entropy, round(elapsed, 2),
                         round(mean_rate, 1), parameters, mfu, {**device, "processes": world})
    weights = accelerator.get_state_dict(model)  # gathered whole from every process (FSDP shards)
    if accelerator.is_main_process:
        if source is not None:
            source.save(accelerator.unwrap_model(model).lm, model_dir)
        else:
            lm_weights = {k.removeprefix("lm."): v for k, v in weights.items()}
            _save_model(accelerator.unwrap_model(model).lm, lm_weights, tokenizer, model_dir)
            write_model_card(model_dir, run_info or {}, result.summary(), log.rows if log else [])
        if log is not None:
            log.plot(entropy)
            log.close()
        if stopped == "finished":
            mark_finished(out, result.summary())
    accelerator.wait_for_everyone()
    result.seconds = round(elapsed_before + time.monotonic() - started, 2)
    return result


def _quiet_libraries() -> None:
    """No tqdm bar from save_pretrained and no notice that the tied output projection is saved once."""
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    logging.getLogger("accelerate.utils.other").setLevel(logging.ERROR)


def _save_model(lm: Any, weights: dict[str, Any], tokenizer: CodeTokenizer, folder: Path) -> None:
    """``save_pretrained`` of the model with the tokenizer's files beside it, written under a temporary
    name and renamed into place (a reader never sees half a model)."""
    import shutil

    from transformers import GenerationConfig

    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    lm.generation_config = GenerationConfig(bos_token_id=lm.config.bos_token_id,
                                            eos_token_id=lm.config.eos_token_id,
                                            pad_token_id=lm.config.pad_token_id)
    lm.save_pretrained(tmp, state_dict=weights)
    copy_tokenizer_files(tokenizer.folder, tmp)
    replace_folder(tmp, folder)


def copy_tokenizer_files(source: Path, folder: Path) -> None:
    """The tokenizer's files of ``source`` into ``folder`` (what AutoTokenizer and stackwright load)."""
    import shutil

    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, folder / name)
