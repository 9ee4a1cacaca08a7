"""LoRA fine-tuning of a GPTBigCode model with peft: which layers, the run, the adapter, merging.

Targets. In GPTBigCode ``c_proj`` names two layers of every block: the attention's output
projection (``attn.c_proj``) and the MLP's down projection (``mlp.c_proj``). peft matches target names
by suffix, so ``c_proj`` takes both, and so does our default (``c_attn,c_proj``): the attention's
query/key/value projection and both output projections, what BigCode's StarCoder fine-tuning
script adapted. The MLP's down projection carries much of what a block writes into the residual
stream, where a team's idioms (naming, layout, library calls) live; adapting it costs about half the
adapter's parameters and stays far under 2% of the model. ``attn.c_proj`` or ``mlp.c_proj`` name one
of them; ``c_fc`` adds the MLP's up projection.

A fine-tuning run is a training run (:func:`stackwright.model.train.train`): the same loop, exact
resume from checkpoints, time limits; only the LoRA parameters are optimised, and what is saved is
the adapter folder in peft's format (``adapter_config.json``, ``adapter_model.safetensors``) with the
base's tokenizer files beside it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stackwright.files import replace_folder, sha256_file
from stackwright.model.corpus import ModelDataError
from stackwright.model.presets import Preset
from stackwright.model.runs import model_folder
from stackwright.model.train import copy_tokenizer_files

ADAPTER_DIR = "adapter"
TARGETS: dict[str, tuple[str, ...]] = {
    "c_attn": ("attn.c_attn",),
    "c_proj": ("attn.c_proj", "mlp.c_proj"),
    "attn.c_attn": ("attn.c_attn",),
    "attn.c_proj": ("attn.c_proj",),
    "mlp.c_proj": ("mlp.c_proj",),
    "c_fc": ("mlp.c_fc",),
    "mlp.c_fc": ("mlp.c_fc",),
}
DEFAULT_TARGETS = ("c_attn", "c_proj")


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: tuple[str, ...] = DEFAULT_TARGETS

    def __post_init__(self) -> None:
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown:
            raise ModelDataError(f"unknown LoRA target {unknown[0]!r}; use {', '.join(TARGETS)}")
        if self.r < 1 or self.alpha < 1 or not 0.0 <= self.dropout < 1.0:
            raise ModelDataError("LoRA needs --lora-r >= 1, --lora-alpha >= 1 and 0 <= --lora-dropout < 1")

    @property
    def layers(self) -> tuple[str, ...]:
        """The block-relative layer names adapted, in a fixed order."""
        return tuple(sorted({name for t in self.targets for name in TARGETS[t]}))

    def target_pattern(self) -> str:
        """peft's ``target_modules`` as a regular expression matched against full module names."""
        names = "|".join(re.escape(n) for n in self.layers)
        return rf".*\.h\.\d+\.({names})$"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "targets": list(self.targets), "layers": list(self.layers)}


def weights_sha256(folder: Path) -> str:
    """A checksum of a model folder's weights (what a fine-tuning run is tied to)."""
    files = sorted(Path(folder).glob("*.safetensors")) or sorted(Path(folder).glob("*.bin"))
    if not files:
        raise ModelDataError(f"{folder} holds no weights (*.safetensors)")
    if len(files) == 1:
        return sha256_file(files[0])
    return hashlib.sha256(" ".join(f"{p.name}:{sha256_file(p)}" for p in files).encode()).hexdigest()


def finetune_preset(
    config: Any,
    *,
    batch_size: int = 8,
    learning_rate: float = 2e-4,
    warmup_steps: int = 10,
    max_steps: int = 200,
) -> Preset:
    """Training settings for adapting a model of ``config``'s shape: LoRA's usual learning rate, no
    weight decay on the adapter."""
    return Preset(
        "lora",
        n_layer=int(config.n_layer),
        n_embd=int(config.n_embd),
        n_head=int(config.n_head),
        n_inner=int(config.n_inner or 4 * config.n_embd),
        context=int(config.n_positions),
        batch_size=batch_size,
        micro_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        max_steps=max_steps,
        weight_decay=0.0,
        description="LoRA fine-tuning of a base model",
    )


def load_base(base: Path, attention: str = "sdpa") -> Any:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    folder = model_folder(base)
    try:
        return AutoModelForCausalLM.from_pretrained(folder, attn_implementation=attention)
    except Exception as exc:  # safetensors, torch and transformers raise their own
        raise ModelDataError(f"{folder}: the base model could not be loaded ({type(exc).__name__})") from None


def wrap(model: Any, settings: LoraSettings) -> Any:
    """``model`` with LoRA adapters on ``settings``' layers (peft); only they are trainable."""
    import warnings

    from peft import LoraConfig, get_peft_model

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_pattern(),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def _write_folder(save: Any, folder: Path, tokenizer_source: Path) -> None:
    """``save(tmp)`` then the tokenizer's files, renamed into place once whole."""
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    save(tmp)
    copy_tokenizer_files(tokenizer_source, tmp)
    replace_folder(tmp, folder)


def save_adapter(lm: Any, folder: Path, base: Path) -> None:
    """The adapter in peft's format and the base's tokenizer files."""
    _write_folder(lm.save_pretrained, folder, model_folder(base))


def adapter_folder(path: Path) -> Path:
    """The adapter folder of a fine-tuning run (``RUN/adapter``), or ``path`` when it is one."""
    path = Path(path)
    if (path / "adapter_config.json").is_file():
        return path
    if (path / ADAPTER_DIR / "adapter_config.json").is_file():
        return path / ADAPTER_DIR
    raise ModelDataError(
        f"{path} is neither an adapter folder nor a fine-tuning run (no adapter_config.json)"
    )


def load_adapted(base: Path, adapter: Path, *, device: str | None = None) -> Any:
    """The base model with the adapter applied (not merged), in eval mode."""
    from peft import PeftModel

    model = load_base(base)
    try:
        adapted = PeftModel.from_pretrained(model, adapter_folder(adapter))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelDataError(
            f"{adapter}: the adapter does not fit the base model ({type(exc).__name__})"
        ) from None
    if device is not None:
        adapted.to(device)
    return adapted.eval()


def load_adapters(model: Any, adapters: dict[str, Path]) -> Any:
    """Load every adapter into ``model`` (in place, under its name); the base weights stay one copy.
    Returns the peft model holding them."""
    import warnings

    from peft import PeftModel

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    peft_model = None
    for name, path in adapters.items():
        folder = adapter_folder(path)
        try:
            if peft_model is None:
                peft_model = PeftModel.from_pretrained(model, folder, adapter_name=name)
            else:
                peft_model.load_adapter(folder, adapter_name=name)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelDataError(f"--adapter {name}: {folder} does not fit the base model "
                                 f"({type(exc).__name__})") from None
    if peft_model is not None:
        peft_model.eval()
    return peft_model


def merge(base: Path, adapter: Path, out: Path) -> Path:
    """A standalone model: the adapter's low-rank updates added into the base's weights."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ModelDataError(f"{out} exists and is not empty; choose a new --out")
    merged = load_adapted(base, adapter).merge_and_unload()
    _write_folder(merged.save_pretrained, out, adapter_folder(adapter))
    return out


def folder_bytes(folder: Path, pattern: str = "*.safetensors") -> int:
    return sum(p.stat().st_size for p in Path(folder).glob(pattern))
