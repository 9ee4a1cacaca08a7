"""``stackwright train`` and ``generate``: a tiny model trained once, resumed after SIGKILL, trained on
two DDP processes, loaded by transformers, and refused bad input with one line."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import assert_one_line_error, cli_env, run_cli, stackwright_cmd

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

STEPS = 24
# Dropout on: the resumed run must also restore the random state to give the same losses.
TRAIN_ARGS = ("--preset", "tiny", "--max-steps", str(STEPS), "--batch-size", "8", "--micro-batch-size", "4",
              "--eval-every", "6", "--eval-samples", "16", "--checkpoint-every", "6", "--dropout", "0.1",
              "--warmup-steps", "4", "--no-progress")


# Two processes on this machine's CPU, as the README says.
DDP_CPU_LAUNCH = ("--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                  "--dynamo_backend", "no")


def train_args(tokens: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(tokens), "--out", str(out), *TRAIN_ARGS, *extra]


def losses(run: Path, column: str = "train_loss") -> list[float | None]:
    with (run / "log.csv").open(newline="") as handle:
        return [float(r[column]) if r[column] else None for r in csv.DictReader(handle)]


@pytest.fixture(scope="session")
def trained(train_tokens: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("train") / "run"
    proc = run_cli(*train_args(train_tokens, run), "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    return run, json.loads(proc.stdout)


def test_training_lowers_the_loss_and_writes_the_run(trained: tuple[Path, dict]) -> None:
    run, summary = trained
    assert summary["step"] == STEPS and summary["stopped"] == "finished"
    assert summary["tokens"] == STEPS * 8 * 128
    train = losses(run)
    assert len(train) == STEPS
    assert train[-1] < train[0] - 1.0, train
    val = [v for v in losses(run, "val_loss") if v is not None]
    assert len(val) == STEPS // 6 and val[-1] < val[0]
    assert summary["val_loss"] == pytest.approx(val[-1])
    assert 0 < summary["unigram_entropy"] < 8
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Two checkpoints kept, each complete.
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert kept == ["step-00000018", "step-00000024"]


def test_the_model_loads_in_transformers_and_generates(trained: tuple[Path, dict]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = trained[0] / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "gpt_bigcode" and config["multi_query"] is True
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = tok("<fim_prefix>def add(a, b):\n<fim_suffix>\n<fim_middle>", return_tensors="pt").input_ids
    assert ids[0, 0].item() == tok.convert_tokens_to_ids("<fim_prefix>")
    out = model.generate(ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids.shape[1]
    assert sum(p.numel() for p in model.parameters()) == trained[1]["parameters"]


def test_the_model_card_is_made_from_the_run(trained: tuple[Path, dict]) -> None:
    card = (trained[0] / "model" / "README.md").read_text()
    summary = trained[1]
    assert card.startswith("---\nlicense: bigcode-openrail-m")
    for needle in ("## Intended use", "## Limitations", "## Use restrictions", "| release | v1.0.0",
                   "opt-outs honoured", f"{summary['tokens']:,}", "unigram entropy",
                   f"{summary['val_loss']:.3f}",
                   "built without the license steps"):
        assert needle in card, needle


def test_generate_continues_and_fills_the_middle(trained: tuple[Path, dict]) -> None:
    proc = run_cli("generate", trained[0], "--prompt", "def f(x):\n    return ", "--suffix", "\n",
                   "--max-new-tokens", "12", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mode"] == "fim" and 0 <= result["tokens"] <= 12
    assert result["stopped"] in ("eot", "length")
    proc = run_cli("generate", trained[0] / "model", "--prompt", "import os\n", "--max-new-tokens", "5")
    assert proc.returncode == 0, proc.stderr
    assert "tokens, stopped at" in proc.stderr


@pytest.mark.slow  # seconds of real work; CI runs the slow tests too
def test_a_run_killed_with_sigkill_resumes_to_the_same_losses(trained: tuple[Path, dict],
                                                              train_tokens: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen([*stackwright_cmd(), *train_args(train_tokens, run)], env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "checkpoints" / "step-00000012").is_dir() and len(losses(run)) >= 13:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(losses(run))
    assert killed_at < STEPS
    resumed = run_cli(*train_args(train_tokens, run), "--json", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed_from"] in (12, 18) and summary["step"] == STEPS
    assert losses(run) == pytest.approx(losses(trained[0]), rel=1e-5, abs=1e-6)
    val = [v for v in losses(run, "val_loss") if v is not None]
    assert val == pytest.approx([v for v in losses(trained[0], "val_loss") if v is not None], rel=1e-5)


@pytest.mark.slow
def test_two_ddp_processes_give_the_losses_of_one(train_tokens: Path, tmp_path: Path) -> None:
    """``accelerate launch --num_processes 2`` on the CPU (gloo): each process takes half of every
    global batch of 8, where the single process accumulated two micro-batches of 4. Without dropout:
    the processes draw the same dropout masks, which one process does not."""
    single = run_cli(*train_args(train_tokens, tmp_path / "one"), "--dropout", "0", timeout=600)
    assert single.returncode == 0, single.stderr
    launch = [sys.executable, "-m", "accelerate.commands.launch", *DDP_CPU_LAUNCH, "-m", "stackwright.cli"]
    proc = subprocess.run([*launch, *train_args(train_tokens, tmp_path / "ddp"), "--dropout", "0", "--json"],
                          env=cli_env(OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=900,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert summary["device"]["processes"] == 2
    assert losses(tmp_path / "ddp") == pytest.approx(losses(tmp_path / "one"), rel=2e-3)


@pytest.mark.slow  # seconds of real work; CI runs the slow tests too
def test_a_finished_run_and_another_runs_folder_are_refused(trained: tuple[Path, dict],
                                                            train_tokens: Path, tmp_path: Path) -> None:
    proc = run_cli(*train_args(train_tokens, trained[0]))
    assert_one_line_error(proc, "finished run", "choose a new --out")
    other = tmp_path / "other"
    shutil.copytree(trained[0], other)
    (other / "finished.json").unlink()
    proc = run_cli(*train_args(train_tokens, other), "--learning-rate", "0.01")
    assert_one_line_error(proc, "holds another run", "learning_rate")
    notrun = tmp_path / "notrun"
    notrun.mkdir()
    (notrun / "keep.txt").write_text("mine")
    proc = run_cli(*train_args(train_tokens, notrun))
    assert_one_line_error(proc, "is not a training run")
    assert (notrun / "keep.txt").read_text() == "mine"


@pytest.mark.slow  # seconds of real work; CI runs the slow tests too
def test_bad_input_is_one_line(trained: tuple[Path, dict], train_tokens: Path, tokenizer: Path,
                               tmp_path: Path) -> None:
    proc = run_cli(*train_args(tmp_path, tmp_path / "run"))
    assert_one_line_error(proc, "is not a token folder")
    proc = run_cli(*train_args(train_tokens, tmp_path / "run2"), "--preset", "huge")
    assert_one_line_error(proc, "unknown preset", "tiny")
    # A tokenizer other than the one the tokens were made with.
    other_tok = tmp_path / "tok"
    shutil.copytree(tokenizer, other_tok)
    data = json.loads((other_tok / "tokenizer.json").read_text())
    data["added_tokens"][-1]["content"] += "x"
    (other_tok / "tokenizer.json").write_text(json.dumps(data))
    proc = run_cli(*train_args(train_tokens, tmp_path / "run3"), "--tokenizer", other_tok)
    assert_one_line_error(proc, "not the one the tokens were made with")
    # A model whose tokenizer was swapped for one of another size.
    model = tmp_path / "model"
    shutil.copytree(trained[0] / "model", model)
    config = json.loads((model / "config.json").read_text())
    config["vocab_size"] += 64
    (model / "config.json").write_text(json.dumps(config))
    proc = run_cli("generate", model, "--prompt", "x")
    assert_one_line_error(proc, "do not belong together")
    proc = run_cli("generate", other_tok, "--prompt", "x")
    assert_one_line_error(proc, "neither a training run nor a model folder")


def test_a_corrupt_checkpoint_is_one_line(trained: tuple[Path, dict], train_tokens: Path,
                                          tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    (run / "finished.json").unlink()
    newest = sorted((run / "checkpoints").iterdir())[-1]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    proc = run_cli(*train_args(train_tokens, run))
    assert_one_line_error(proc, "is corrupt", newest.name, "remove it")


def test_parameter_counts_of_the_presets() -> None:
    from transformers import GPTBigCodeForCausalLM

    from stackwright.model.presets import PRESETS

    tiny = PRESETS["tiny"]
    model = GPTBigCodeForCausalLM(tiny.model_config(8192, bos=0, eos=0, pad=4))
    assert sum(p.numel() for p in model.parameters()) == tiny.parameters(8192)
    assert 4e6 < tiny.parameters(8192) < 6e6
    assert 100e6 < PRESETS["small"].parameters(49152) < 130e6
    assert 1.0e9 < PRESETS["santacoder"].parameters(49152) < 1.2e9
    assert 15.0e9 < PRESETS["starcoder"].parameters(49152) < 16.0e9
    config = PRESETS["starcoder"].model_config(49152, bos=0, eos=0, pad=4)
    assert (config.n_layer, config.n_embd, config.n_head, config.n_inner, config.n_positions) == (
        40, 6144, 48, 24576, 8192)
    assert config.multi_query and config.model_type == "gpt_bigcode"


def test_the_fused_loss_matches_cross_entropy() -> None:
    from stackwright.model.loss import linear_cross_entropy

    torch.manual_seed(0)
    hidden = torch.randn(3, 37, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=True)
    targets = torch.randint(0, 50, (3, 37))
    fused = linear_cross_entropy(hidden, weight, targets, chunk=10)
    (2 * fused).backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    plain = torch.nn.functional.cross_entropy((hidden @ weight.t()).reshape(-1, 50), targets.reshape(-1))
    (2 * plain).backward()
    assert float(fused.detach()) == pytest.approx(float(plain.detach()), rel=1e-6)
    assert torch.allclose(grads[0], hidden.grad, atol=1e-6)
    assert torch.allclose(grads[1], weight.grad, atol=1e-6)
    with torch.no_grad():
        assert float(linear_cross_entropy(hidden, weight, targets)) == pytest.approx(float(plain), rel=1e-6)


def test_the_learning_rate_warms_up_then_decays_to_a_tenth() -> None:
    from stackwright.model.train import learning_rate_factor

    assert learning_rate_factor(0, 10, 100) == pytest.approx(0.1)
    assert learning_rate_factor(9, 10, 100) == pytest.approx(1.0)
    assert learning_rate_factor(55, 10, 100) == pytest.approx(0.55)
    assert learning_rate_factor(100, 10, 100) == pytest.approx(0.1)
    assert learning_rate_factor(500, 10, 100) == pytest.approx(0.1)


def test_mfu_uses_the_device_table() -> None:
    from stackwright.model.hardware import peak_bf16_tflops

    assert peak_bf16_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_bf16_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_bf16_tflops("NVIDIA L40S") == 362.0 and peak_bf16_tflops("NVIDIA L4") == 121.0
    assert peak_bf16_tflops("Some CPU") is None



def test_a_long_fim_prompt_keeps_the_end_of_the_prefix_and_the_start_of_the_suffix() -> None:
    from stackwright.model.generate import budget

    prefix, suffix = list(range(100)), list(range(1000, 1100))
    assert budget(prefix[:10], suffix[:10], 40) == (prefix[:10], suffix[:10])
    p, s = budget(prefix, suffix, 40)
    assert len(p) + len(s) == 40 and p == prefix[-30:] and s == suffix[:10]
    p, s = budget(prefix[:5], suffix, 40)
    assert p == prefix[:5] and s == suffix[:35]


def test_the_demo_masks_a_line_of_code() -> None:
    import numpy as np

    from stackwright.demo import masked_line

    text = "".join(f"# comment {i}\n" for i in range(10)) + "value = compute(1, 2)\n" + "pass\n" * 8
    prefix, line, suffix = masked_line(text, np.random.default_rng(0))
    assert line == "value = compute(1, 2)"
    assert prefix + line + suffix == text
    assert masked_line("x\n" * 40, np.random.default_rng(0)) is None
