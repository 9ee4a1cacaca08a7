"""LoRA fine-tuning: the adapter is peft's, lowers the loss on the data it was trained on, merges to
the same logits, and stays small."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import cli_env, mit_license, run_cli, stackwright_cmd

pytest.importorskip("torch")
pytest.importorskip("peft")


@pytest.fixture(scope="module")
def adapter_run(
    tiny_model: Path, release: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("finetune") / "run"
    proc = run_cli(
        "finetune",
        tiny_model,
        "--data",
        release,
        "--out",
        out,
        "--max-steps",
        "24",
        "--learning-rate",
        "2e-3",
        "--warmup-steps",
        "2",
        "--eval-every",
        "12",
        "--eval-samples",
        "16",
        "--seq-len",
        "128",
        "--json",
        "--no-progress",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_the_adapter_is_peft_format_and_lowers_the_validation_loss(
    adapter_run: tuple[Path, dict], tiny_model: Path
) -> None:
    out, summary = adapter_run
    adapter = out / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 16 and config["lora_alpha"] == 32
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "tokenizer.json").is_file()
    assert summary["step"] == 24 and summary["stopped"] == "finished"
    assert summary["adapter_val_loss"] < summary["base_val_loss"]
    size = json.loads((adapter / "size.json").read_text())
    assert size["adapter_bytes"] == (adapter / "adapter_model.safetensors").stat().st_size
    assert size["base_bytes"] == (tiny_model / "model.safetensors").stat().st_size
    card = (adapter / "README.md").read_text()
    assert "modification" in card and "attn.c_attn, attn.c_proj, mlp.c_proj" in card
    # The same command again: a finished run is refused, in one line.
    again = run_cli(
        "finetune",
        tiny_model,
        "--data",
        out / "tokens",
        "--out",
        out,
        "--max-steps",
        "24",
        "--learning-rate",
        "2e-3",
        "--json",
        "--no-progress",
    )
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1


def test_peft_loads_it_and_merged_gives_the_same_logits(
    adapter_run: tuple[Path, dict], tiny_model: Path, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out, _ = adapter_run
    adapted = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model), out / "adapter"
    ).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    merged_dir = tmp_path / "merged"
    proc = run_cli("finetune", "merge", tiny_model, out, "--out", merged_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    ids = torch.randint(20, 2000, (2, 64))
    with torch.no_grad():
        a, m, b = adapted(ids).logits, merged(ids).logits, base(ids).logits
    assert torch.allclose(a, m, atol=1e-4)
    assert not torch.allclose(a, b, atol=1e-3)  # the adapter changed something
    assert (merged_dir / "tokenizer.json").is_file()
    refused = run_cli("finetune", "merge", tiny_model, out, "--out", merged_dir)
    assert refused.returncode == 2 and "not empty" in refused.stderr


def test_the_default_adapter_of_the_small_preset_is_under_two_percent() -> None:
    from transformers import GPTBigCodeForCausalLM

    from stackwright.model.lora import LoraSettings, wrap
    from stackwright.model.presets import get_preset

    model = GPTBigCodeForCausalLM(get_preset("small").model_config(49_152, bos=0, eos=0, pad=4))
    total = sum(p.numel() for p in model.parameters())
    adapted = wrap(model, LoraSettings())
    trainable = sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    assert 0 < trainable / total <= 0.02
    names = {
        n.split(".lora_A")[0].split(".h.")[1].split(".", 1)[1]
        for n, _ in adapted.named_parameters()
        if "lora_A" in n
    }
    assert names == {"attn.c_attn", "attn.c_proj", "mlp.c_proj"}


def test_bad_settings_are_one_line(tiny_model: Path, release: Path, tmp_path: Path) -> None:
    proc = run_cli("finetune", tiny_model, "--data", release, "--out", tmp_path / "x", "--target", "q_proj")
    assert proc.returncode == 2 and "unknown LoRA target 'q_proj'" in proc.stderr
    proc = run_cli("finetune", tmp_path / "nothing", "--data", release, "--out", tmp_path / "y")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_a_folder_of_repositories_is_curated_and_deduplicated_against_the_base_release(
    tiny_model: Path, release: Path, tmp_path: Path
) -> None:
    import shutil

    import pyarrow.parquet as pq

    from model_fixtures import stdlib_files

    repos = tmp_path / "team"
    repo = repos / "acme__tools" / "src"
    repo.mkdir(parents=True)
    (repos / "acme__tools" / "LICENSE").write_text(mit_license("2025 Acme"))
    new_files = stdlib_files(120)[100:103]  # the release took the first 72
    for path in new_files:
        shutil.copyfile(path, repo / path.name)
    seen = stdlib_files(1)[0]  # a file of the release the base model was trained on
    shutil.copyfile(seen, repo / seen.name)
    out = tmp_path / "run"
    proc = run_cli(
        "finetune",
        tiny_model,
        "--data",
        repos,
        "--out",
        out,
        "--max-steps",
        "2",
        "--eval-every",
        "2",
        "--eval-samples",
        "4",
        "--seq-len",
        "128",
        "--json",
        "--no-progress",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    curation = json.loads(proc.stdout)["curation"]
    assert curation["against"] == str(release) and curation["against_removed"] >= 1
    curated = out / "curated" / "release"
    paths = {
        p
        for shard in sorted((curated / "data").glob("*.parquet"))
        for p in pq.read_table(shard, columns=["path"]).column("path").to_pylist()
    }
    assert f"src/{seen.name}" not in paths
    assert {f"src/{p.name}" for p in new_files} <= paths


def _finetune_args(base: Path, data: Path, out: Path) -> list[str]:
    return ["finetune", str(base), "--data", str(data), "--out", str(out), "--max-steps", "30",
            "--learning-rate", "2e-3", "--warmup-steps", "2", "--eval-every", "10", "--eval-samples", "8",
            "--checkpoint-every", "6", "--no-progress"]


def _losses(run: Path, column: str = "train_loss") -> list[float | None]:
    with (run / "log.csv").open(newline="") as handle:
        return [float(r[column]) if r[column] else None for r in csv.DictReader(handle)]


@pytest.mark.slow
def test_a_killed_fine_tuning_resumes_to_the_same_losses(
    adapter_run: tuple[Path, dict], tiny_model: Path, tmp_path: Path
) -> None:
    """SIGKILL mid-run, the same command again: the losses of an uninterrupted run, step for step
    (the data order and the epoch-level FIM draws follow the stream position)."""
    tokens = adapter_run[0] / "tokens"
    whole = run_cli(*_finetune_args(tiny_model, tokens, tmp_path / "whole"), timeout=600)
    assert whole.returncode == 0, whole.stderr
    run = tmp_path / "killed"
    proc = subprocess.Popen([*stackwright_cmd(), *_finetune_args(tiny_model, tokens, run)], env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "checkpoints" / "step-00000012").is_dir() and len(_losses(run)) >= 13:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(_losses(run)) < 30
    resumed = run_cli(*_finetune_args(tiny_model, tokens, run), "--json", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["step"] == 30
    assert _losses(run) == pytest.approx(_losses(tmp_path / "whole"), rel=1e-5, abs=1e-6)
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
