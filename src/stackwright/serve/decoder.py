"""GPTBigCode's forward pass over preallocated KV slots, for the serving engine.

transformers' forward is written for training and for ``generate``: every decoding step grows each
layer's cache with ``torch.cat`` (a copy of the whole cache) and runs layers of Python around the
arithmetic. Serving many short steps, that overhead is most of the time on a CPU. This module runs
the same arithmetic with the model's own submodules (so weights, dtype, device and any LoRA layers
wrapped around ``c_attn`` or ``c_proj`` are the model's) over a cache allocated once:

* ``keys[layer]`` and ``values[layer]`` are ``(slots, kv_heads, context, head_dim)``; a sequence
  owns one slot and its token at position ``p`` lives at index ``p`` of it (no left padding).
* The running batch is always slots ``0..n-1`` (:meth:`SlotDecoder.move` fills a freed slot with
  the last one), so a step reads views of the cache, never a gathered copy; each step writes one key
  and value per row in place and attends over ``0..max position`` with a per-row length mask.
* Multi-query attention uses SDPA's grouped-query broadcasting instead of repeating the key.
* LoRA adapters (peft) loaded into the model are chosen per row: each adapted layer is called with
  peft's ``adapter_names`` (one name per row, ``__base__`` for none), so one batch serves several
  adapters over one copy of the base weights.

The engine's tests check that greedy decoding through this path gives the same tokens as
transformers' ``generate`` on the same model, alone and in batches.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from stackwright.model.corpus import ModelDataError

BASE = "__base__"  # peft's name for "no adapter" in a mixed batch


def _linear(module: Any, x: torch.Tensor, adapters: list[str] | None) -> torch.Tensor:
    if adapters is not None and hasattr(module, "lora_A"):
        return module(x, adapter_names=adapters)
    return module(x)


class SlotDecoder:
    def __init__(self, model: Any, slots: int, context: int) -> None:
        config = model.config
        kind = getattr(config, "model_type", None)
        if kind != "gpt_bigcode" or getattr(config, "add_cross_attention", False):
            raise ModelDataError(f"the server runs GPTBigCode models; this one is {kind!r}")
        self.model = model
        self.transformer = model.transformer
        self.heads = int(config.n_head)
        self.embed = int(config.n_embd)
        self.head_dim = self.embed // self.heads
        self.kv_heads = 1 if config.multi_query else self.heads
        self.scale = self.head_dim ** -0.5 if config.scale_attn_weights else 1.0
        self.context = context
        weight = self.transformer.wte.weight
        self.device, self.dtype = weight.device, weight.dtype
        shape = (len(self.transformer.h), slots, self.kv_heads, context, self.head_dim)
        self.keys = torch.zeros(shape, dtype=self.dtype, device=self.device)
        self.values = torch.zeros(shape, dtype=self.dtype, device=self.device)

    # -- cache slots -----------------------------------------------------------------------------

    def export(self, slot: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A copy of the first ``length`` positions of ``slot`` (for the prefix cache)."""
        return (self.keys[:, slot, :, :length].clone(), self.values[:, slot, :, :length].clone())

    def load(self, slot: int, kept: tuple[torch.Tensor, torch.Tensor], length: int) -> None:
        self.keys[:, slot, :, :length] = kept[0][:, :, :length]
        self.values[:, slot, :, :length] = kept[1][:, :, :length]

    def move(self, source: int, target: int, length: int) -> None:
        self.keys[:, target, :, :length] = self.keys[:, source, :, :length]
        self.values[:, target, :, :length] = self.values[:, source, :, :length]

    # -- forward ---------------------------------------------------------------------------------

    def _qkv(self, block: Any, x: torch.Tensor, adapters: list[str] | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries (rows, heads, T, d), keys and values (rows, kv_heads, T, d) of ``x`` (rows, T, e)."""
        rows, length = x.shape[:2]
        qkv = _linear(block.attn.c_attn, block.ln_1(x), adapters)
        if self.kv_heads == 1:
            q, k, v = qkv.split((self.embed, self.head_dim, self.head_dim), dim=-1)
            q = q.view(rows, length, self.heads, self.head_dim).transpose(1, 2)
            return q, k[:, None], v[:, None]
        q, k, v = qkv.view(rows, length, self.heads, 3 * self.head_dim).transpose(1, 2).split(
            self.head_dim, dim=-1)
        return q, k, v

    def _finish_block(self, block: Any, x: torch.Tensor, attended: torch.Tensor, adapters: list[str] | None
                      ) -> torch.Tensor:
        rows, length = x.shape[:2]
        merged = attended.transpose(1, 2).reshape(rows, length, self.embed)
        x = x + _linear(block.attn.c_proj, merged, adapters)
        mlp = block.mlp
        if adapters is None:
            return x + mlp(block.ln_2(x))
        hidden = mlp.act(_linear(mlp.c_fc, block.ln_2(x), adapters))
        return x + _linear(mlp.c_proj, hidden, adapters)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                causal: bool = False) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=self.scale,
                                              enable_gqa=self.kv_heads != self.heads)

    def prefill(self, slot: int, ids: list[int], start: int, adapter: str | None = None) -> torch.Tensor:
        """Run ``ids[start:]`` through the model at positions ``start..``, the slot already holding
        positions ``0..start-1``; returns the logits of the last position."""
        tr = self.transformer
        new = torch.tensor([ids[start:]], dtype=torch.long, device=self.device)
        end = len(ids)
        positions = torch.arange(start, end, device=self.device)
        x = tr.wte(new) + tr.wpe(positions)[None]
        mask = None
        if start:
            past = torch.arange(end, device=self.device)
            mask = (past[None, :] <= positions[:, None])[None, None]  # (1, 1, T, end)
        adapters = None if adapter is None else [adapter]
        for layer, block in enumerate(tr.h):
            q, k, v = self._qkv(block, x, adapters)
            self.keys[layer, slot, :, start:end] = k[0]
            self.values[layer, slot, :, start:end] = v[0]
            keys = self.keys[layer, slot:slot + 1, :, :end]
            values = self.values[layer, slot:slot + 1, :, :end]
            x = self._finish_block(block, x, self._attend(q, keys, values, mask, causal=not start), adapters)
        return self.model.lm_head(tr.ln_f(x[:, -1]))[0]

    def step(self, tokens: list[int], positions: list[int], adapters: list[str] | None = None
             ) -> torch.Tensor:
        """One token for each of the sequences in slots ``0..len(tokens)-1``, at its position, through
        its adapter (``adapters``: one name per row, or None for the model as it is); returns the
        logits, one row per sequence."""
        tr = self.transformer
        rows = len(tokens)
        token_ids = torch.tensor(tokens, dtype=torch.long, device=self.device)
        at = torch.tensor(positions, dtype=torch.long, device=self.device)
        width = max(positions) + 1
        mask = (torch.arange(width, device=self.device)[None, :] <= at[:, None])[:, None, None, :]
        index = torch.arange(rows, device=self.device)
        x = (tr.wte(token_ids) + tr.wpe(at))[:, None]
        for layer, block in enumerate(tr.h):
            q, k, v = self._qkv(block, x, adapters)
            self.keys[layer, index, :, at] = k[:, :, 0]
            self.values[layer, index, :, at] = v[:, :, 0]
            keys = self.keys[layer, :rows, :, :width]
            values = self.values[layer, :rows, :, :width]
            x = self._finish_block(block, x, self._attend(q, keys, values, mask), adapters)
        return self.model.lm_head(tr.ln_f(x[:, 0]))
