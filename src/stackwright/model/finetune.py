"""``stackwright finetune``: a LoRA adapter trained on a team's code, as a bounded, resumable run.

The data is a token folder made with the base model's tokenizer, or a release, which is tokenized
first into ``OUT/tokens`` with that tokenizer (FIM kept on, as the base was trained). The run folder
holds the checkpoints, the log and, when the run ends, ``OUT/adapter``: the adapter in peft's format,
the base's tokenizer files, a model card that describes the modification, and ``size.json``
(adapter bytes against base bytes). The validation loss of the base and of the adapted model are
measured on the same held-out sequences.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stackwright.files import write_atomic
from stackwright.model.corpus import ModelDataError
from stackwright.model.fim import FimConfig
from stackwright.model.lora import (
    ADAPTER_DIR,
    LoraSettings,
    finetune_preset,
    folder_bytes,
    load_base,
    save_adapter,
    weights_sha256,
    wrap,
)
from stackwright.model.packing import MANIFEST, TokenizeConfig
from stackwright.model.runs import model_folder
from stackwright.model.train import ModelSource, TrainConfig, TrainResult, train

SIZE_FILE = "size.json"


@dataclass
class FinetuneResult:
    train: TrainResult
    adapter: Path
    tokens: Path
    base_val_loss: float | None
    adapter_bytes: int
    base_bytes: int
    curation: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        out = self.train.summary()
        out.update(
            {
                "adapter": str(self.adapter),
                "tokens": str(self.tokens),
                "base_val_loss": self.base_val_loss,
                "adapter_val_loss": self.train.val_loss,
                "adapter_bytes": self.adapter_bytes,
                "base_bytes": self.base_bytes,
                "adapter_share": self.adapter_bytes / self.base_bytes if self.base_bytes else None,
                "curation": self.curation,
            }
        )
        return out


def token_data(
    data: Path, base: Path, out: Path, seq_len: int, say: Any, fim: FimConfig | None = None
) -> tuple[Path, dict[str, Any]]:
    """A token folder for ``data`` and what curation did: a token folder is used as it is, a release
    is tokenized with the base's tokenizer, a folder of repositories is curated into a release first
    (:mod:`stackwright.model.curation`). ``fim``: how a release's documents are rearranged (by
    default half of them, drawn again at every pass over the data: epoch-level FIM)."""
    data = Path(data)
    manifest: dict[str, Any] = {}
    if (data / MANIFEST).is_file():
        try:
            manifest = json.loads((data / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ModelDataError(f"{data / MANIFEST} is unreadable") from None
    if manifest.get("format") == "stackwright-tokens":
        return data, {}
    curation: dict[str, Any] = {}
    release = data
    if not str(manifest.get("format", "")).endswith("release"):
        from stackwright.model.curation import curated_release

        release, curation = curated_release(data, out, base, say=say)
    from stackwright.model.packing import tokenize_release

    tokens = Path(out) / "tokens"
    if not (tokens / MANIFEST).is_file():
        say(f"finetune: tokenizing {release} with the base model's tokenizer into {tokens}")
        config = TokenizeConfig(seq_len=seq_len, validation=0.1, fim=fim or FimConfig(mode="epoch"))
        tokenize_release(release, model_folder(base), tokens, config)
    return tokens, curation


def validation_loss(model: Any, data: Path, count: int, batch: int = 8) -> float | None:
    """The mean next-token loss of ``model`` on the run's evaluation sequences of ``data``."""
    import numpy as np
    import torch

    from stackwright.model.loader import TokenSplit
    from stackwright.model.loss import causal_lm_loss
    from stackwright.model.train import validation_indices

    split = TokenSplit(data, "validation")
    ids = validation_indices(split, count)
    if not ids:
        return None
    device = next(model.parameters()).device
    total = 0.0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(ids), batch):
            chunk = ids[i : i + batch]
            rows = torch.from_numpy(np.stack([split[j] for j in chunk]).astype(np.int64)).to(device)
            total += float(causal_lm_loss(model, rows)) * len(chunk)
    return total / len(ids)


def finetune(
    base: Path,
    data: Path,
    out: Path,
    config: TrainConfig,
    settings: LoraSettings,
    *,
    seq_len: int | None = None,
    fim: FimConfig | None = None,
    on_step: Any = None,
    say: Any = None,
) -> FinetuneResult:
    say = say or (lambda _message: None)
    base_dir = model_folder(base)
    base_model = load_base(base_dir)
    model_config = base_model.config
    tokens, curation = token_data(
        data, base_dir, out, seq_len or min(512, int(model_config.n_positions)), say, fim
    )
    base_sha = weights_sha256(base_dir)
    preset = finetune_preset(
        model_config,
        batch_size=config.batch_size or 8,
        learning_rate=config.learning_rate or 2e-4,
        warmup_steps=config.warmup_steps or 10,
        max_steps=config.max_steps or 200,
    )

    def build(_dropout: float, attention: str) -> Any:
        model = load_base(base_dir, attention)
        return wrap(model, settings)

    def save(lm: Any, folder: Path) -> None:
        save_adapter(lm, folder, base_dir)

    source = ModelSource(
        preset,
        build,
        save,
        identity={"base_sha256": base_sha, "lora": settings.to_json()},
        about={"base": str(base_dir.resolve()), "lora": settings.to_json()},
        folder=ADAPTER_DIR,
    )
    result = train(
        tokens,
        out,
        replace(
            config,
            tokenizer=base_dir,
            batch_size=preset.batch_size,
            micro_batch_size=config.micro_batch_size or preset.micro_batch_size,
        ),
        on_step=on_step,
        say=say,
        source=source,
    )
    adapter = Path(out) / ADAPTER_DIR
    base_loss = validation_loss(base_model, tokens, config.eval_samples)
    sizes = {"adapter_bytes": folder_bytes(adapter), "base_bytes": folder_bytes(base_dir)}
    sizes["adapter_share"] = sizes["adapter_bytes"] / sizes["base_bytes"] if sizes["base_bytes"] else None
    write_atomic(adapter / SIZE_FILE, (json.dumps(sizes, indent=2) + "\n").encode())
    finished = FinetuneResult(
        result, adapter, tokens, base_loss, sizes["adapter_bytes"], sizes["base_bytes"], curation
    )
    write_adapter_card(adapter, base_dir, base_sha, settings, finished)
    return finished


def write_adapter_card(
    adapter: Path, base: Path, base_sha: str, settings: LoraSettings, result: FinetuneResult
) -> None:
    """README.md of the adapter: what was modified, how, on what, and what it changed."""
    r = result.train
    share = f"{result.adapter_bytes / result.base_bytes:.2%}" if result.base_bytes else "n/a"

    def loss(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    text = f"""---
library_name: peft
base_model: {base.resolve()}
tags: [stackwright, lora, code, fill-in-the-middle]
---
# LoRA adapter for {base.name}

A modification of the base model `{base.resolve()}` (base weights sha256 `{base_sha[:16]}…`):
low-rank adapters (LoRA) trained on `{result.tokens}`; the base's weights are unchanged. Whoever
distributes the base with this adapter applied, or merged into it, distributes a modified model: the
base's license terms (and, for an OpenRAIL-M base, its use restrictions) carry over, and this card
is the description of the modification such licenses ask for.

| | |
|---|---|
| layers adapted | {", ".join(settings.layers)} in every block |
| rank, alpha, dropout | {settings.r}, {settings.alpha}, {settings.dropout} |
| steps | {r.step} ({r.stopped}) |
| tokens seen | {r.tokens:,} |
| validation loss, base | {loss(result.base_val_loss)} |
| validation loss, adapted | {loss(r.val_loss)} |
| adapter size | {result.adapter_bytes:,} bytes ({share} of the base's {result.base_bytes:,}) |

Load it with `peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), ADAPTER)`,
or merge it with `stackwright finetune merge BASE ADAPTER --out MODEL`.
"""
    write_atomic(adapter / "README.md", text.encode())


def check_data(path: Path) -> None:
    if not Path(path).exists():
        raise ModelDataError(f"{path}: no such release or token folder")
