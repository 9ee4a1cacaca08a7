"""Training throughput: ``stackwright train``'s loop against a plain HF ``Trainer``, same model, data
and batch, in one run.

On the demo release (built once under ``bench-out/train/``: this machine's Python installation, an
8,192-token tokenizer, 512-token sequences), both train the ``tiny`` preset's GPTBigCode model
(multi-query attention, SDPA) with AdamW on batches of 8 sequences for ``--steps`` optimizer steps;
tokens/s is measured over the steps after the first ``--skip`` (start-up, first allocations). Each
configuration runs in its own process:

* ``Trainer``: ``transformers.Trainer`` with its defaults (fp32 on a CPU), and with ``bf16=True``;
* stackwright: ``stackwright.model.train.train`` in fp32, with its default precision (``auto``:
  bf16 autocast where the hardware has native bf16, AMX or AVX512-BF16 on a CPU), and with
  ``--compile`` (torch.compile; its compilation falls in the skipped first steps).

The ratio the target names is stackwright's default against the plain Trainer's default; the
same-precision ratios are printed beside it.

    .venv/bin/python benchmarks/train.py
    .venv/bin/python benchmarks/train.py --steps 40 --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench-out" / "train"
BATCH = 8
VOCAB = 8192


def stackwright(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).with_name("stackwright")), *args, "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL)


def prepare(limit_mb: int) -> Path:
    """The demo release, its tokenizer and its 512-token sequences (made once)."""
    release = WORK / "demo" / "release" / "v0.1.0"
    if not (release / "manifest.json").is_file():
        stackwright("demo", "--out", str(WORK / "demo"), "--limit-mb", str(limit_mb), "--dataset-only")
    tok, tokens = WORK / "tokenizer", WORK / "tokens"
    if not (tok / "tokenizer.json").is_file():
        stackwright("tokenizer", "train", str(release), "--vocab-size", str(VOCAB), "--out", str(tok))
    if not (tokens / "manifest.json").is_file():
        stackwright("tokenize", str(release), "--tokenizer", str(tok), "--seq-len", "512", "--out",
                    str(tokens))
    return tokens


def rate(times: list[float], skip: int, tokens_per_step: int) -> float:
    spans = [b - a for a, b in zip(times[skip:], times[skip + 1:], strict=False)]
    return tokens_per_step * len(spans) / sum(spans)


def run_ours(tokens: Path, steps: int, skip: int, precision: str, compile: bool = False) -> dict[str, Any]:
    import shutil

    from stackwright.model.train import TrainConfig, train

    out = WORK / f"run-{precision}{'-compile' if compile else ''}"
    shutil.rmtree(out, ignore_errors=True)
    times, losses = [time.perf_counter()], []

    def clock(row: dict[str, Any]) -> None:
        times.append(time.perf_counter())
        losses.append(row["train_loss"])

    config = TrainConfig(preset="tiny", max_steps=steps, batch_size=BATCH, micro_batch_size=BATCH,
                         learning_rate=2e-3, warmup_steps=5,
                         eval_every=10**9, eval_samples=0, checkpoint_every=10**9, precision=precision,
                         compile=compile, tensorboard=False)
    result = train(tokens, out, config, on_step=clock)
    return {"tokens_per_second": rate(times, skip, BATCH * 512), "mean_loss": sum(losses) / len(losses),
            "parameters": result.parameters}


def run_trainer(tokens: Path, steps: int, skip: int, bf16: bool) -> dict[str, Any]:
    import numpy as np
    import torch
    from transformers import GPTBigCodeForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from stackwright.model.loader import TokenSplit
    from stackwright.model.presets import PRESETS

    split = TokenSplit(tokens, "train")

    class Samples(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(split)

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            ids = torch.from_numpy(split[i].astype(np.int64))
            return {"input_ids": ids, "labels": ids}

    times = [time.perf_counter()]

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            times.append(time.perf_counter())

    torch.manual_seed(0)
    model = GPTBigCodeForCausalLM(PRESETS["tiny"].model_config(VOCAB, bos=0, eos=0, pad=4))
    args = TrainingArguments(output_dir=str(WORK / "trainer"), per_device_train_batch_size=BATCH,
                             max_steps=steps, learning_rate=2e-3, weight_decay=0.1, adam_beta2=0.95,
                             warmup_steps=5, lr_scheduler_type="cosine", max_grad_norm=1.0, bf16=bf16,
                             use_cpu=True, report_to=[], save_strategy="no", logging_steps=steps,
                             disable_tqdm=True, dataloader_num_workers=0)
    result = Trainer(model=model, args=args, train_dataset=Samples(), callbacks=[Clock()]).train()
    return {"tokens_per_second": rate(times, skip, BATCH * 512), "mean_loss": result.training_loss,
            "parameters": sum(p.numel() for p in model.parameters())}


CONFIGS = {
    "trainer-fp32": lambda t, s, k: run_trainer(t, s, k, bf16=False),
    "trainer-bf16": lambda t, s, k: run_trainer(t, s, k, bf16=True),
    "stackwright-fp32": lambda t, s, k: run_ours(t, s, k, "fp32"),
    "stackwright-auto": lambda t, s, k: run_ours(t, s, k, "auto"),
    "stackwright-compile": lambda t, s, k: run_ours(t, s, k, "auto", compile=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--skip", type=int, default=5)
    parser.add_argument("--limit-mb", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    tokens = prepare(args.limit_mb)
    if args.one:
        print(json.dumps(CONFIGS[args.one](tokens, args.steps, args.skip)))
        return
    results: dict[str, dict[str, Any]] = {}
    for name in CONFIGS:
        proc = subprocess.run([sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--skip",
                               str(args.skip), "--limit-mb", str(args.limit_mb)], capture_output=True,
                              text=True, check=True)
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        if not args.json:
            print(f"{name:18} {results[name]['tokens_per_second']:>10,.0f} tokens/s   "
                  f"mean loss over {args.steps} steps {results[name]['mean_loss']:.3f}", flush=True)
    tps = {k: v["tokens_per_second"] for k, v in results.items()}
    ratios = {"default_vs_plain_trainer": tps["stackwright-auto"] / tps["trainer-fp32"],
              "fp32_vs_trainer_fp32": tps["stackwright-fp32"] / tps["trainer-fp32"],
              "auto_vs_trainer_bf16": tps["stackwright-auto"] / tps["trainer-bf16"]}
    if args.json:
        print(json.dumps({"batch": BATCH, "seq_len": 512, "steps": args.steps, "results": results,
                          "ratios": ratios}, indent=2))
        return
    print(f"stackwright (default) / Trainer (default): {ratios['default_vs_plain_trainer']:.2f}x"
          "  (target 1.2x)")
    print(f"stackwright fp32 / Trainer fp32:           {ratios['fp32_vs_trainer_fp32']:.2f}x")
    print(f"stackwright auto / Trainer bf16:           {ratios['auto_vs_trainer_bf16']:.2f}x")


if __name__ == "__main__":
    main()
