"""Model presets: GPTBigCode shapes with multi-query attention, and the training defaults of each.

``santacoder`` and ``starcoder`` are the published shapes (SantaCoder: 24 layers, width 2048, 16 heads,
context 2048; StarCoder: 40 layers, width 6144, 48 heads, inner 24576, context 8192) with the
optimiser settings of their papers: AdamW (0.9, 0.95), eps 1e-8, weight decay 0.1, cosine decay to a
tenth of the peak after a linear warmup. ``tiny`` trains in minutes on two CPU cores; ``small`` is
GPT-2-small sized (about 110M parameters at a 49k vocabulary), the size to try a GPU with.

The vocabulary is not part of a preset: it is the tokenizer's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from stackwright.model.corpus import ModelDataError


@dataclass(frozen=True)
class Preset:
    name: str
    n_layer: int
    n_embd: int
    n_head: int
    n_inner: int
    context: int
    # Training defaults: a global batch of ``batch_size`` sequences per optimizer step.
    batch_size: int
    micro_batch_size: int
    learning_rate: float
    warmup_steps: int
    max_steps: int
    dropout: float = 0.0
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0
    description: str = ""

    @property
    def min_learning_rate(self) -> float:
        return self.learning_rate / 10

    def model_config(self, vocab_size: int, *, bos: int, eos: int, pad: int, dropout: float | None = None,
                     attention: str = "sdpa") -> Any:
        """The ``GPTBigCodeConfig`` of this preset for a tokenizer of ``vocab_size`` ids."""
        from transformers import GPTBigCodeConfig

        p = self.dropout if dropout is None else dropout
        return GPTBigCodeConfig(
            vocab_size=vocab_size, n_positions=self.context, n_embd=self.n_embd, n_layer=self.n_layer,
            n_head=self.n_head, n_inner=self.n_inner, multi_query=True, resid_pdrop=p, embd_pdrop=p,
            attn_pdrop=p, activation_function="gelu_pytorch_tanh", bos_token_id=bos, eos_token_id=eos,
            pad_token_id=pad, tie_word_embeddings=True, attn_implementation=attention)

    def parameters(self, vocab_size: int) -> int:
        """Parameter count (the embeddings counted once: the output projection is tied to them)."""
        d, kv = self.n_embd, 2 * (self.n_embd // self.n_head)
        block = (d * (d + kv) + d + kv) + (d * d + d) + (2 * d * self.n_inner + self.n_inner + d) + 4 * d
        return self.n_layer * block + vocab_size * d + self.context * d + 2 * d

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "betas": list(self.betas)}


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("tiny", n_layer=4, n_embd=256, n_head=4, n_inner=1024, context=512, batch_size=8,
           micro_batch_size=8, learning_rate=1e-3, warmup_steps=30, max_steps=1000,
           description="about 5M parameters at an 8k vocabulary: minutes on two CPU cores"),
    Preset("small", n_layer=12, n_embd=768, n_head=12, n_inner=3072, context=2048, batch_size=64,
           micro_batch_size=8, learning_rate=6e-4, warmup_steps=500, max_steps=20_000,
           description="about 110M parameters at a 49k vocabulary (GPT-2 small's shape, multi-query)"),
    Preset("santacoder", n_layer=24, n_embd=2048, n_head=16, n_inner=8192, context=2048, batch_size=192,
           micro_batch_size=4, learning_rate=2e-4, warmup_steps=2_000, max_steps=600_000,
           description="SantaCoder's 1.1B shape: 24 layers, width 2048, 16 heads, context 2048"),
    Preset("starcoder", n_layer=40, n_embd=6144, n_head=48, n_inner=24576, context=8192, batch_size=512,
           micro_batch_size=1, learning_rate=3e-4, warmup_steps=2_000, max_steps=250_000,
           description="StarCoder's 15.5B shape: 40 layers, width 6144, 48 heads, inner 24576, context 8192"),
)}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ModelDataError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}") from None
