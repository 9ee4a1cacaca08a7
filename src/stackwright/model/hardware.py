"""What a run trains on, the precision it picks there, and model FLOPs utilisation.

MFU is model FLOPs per second over the device's dense bf16 peak (tensor cores, no sparsity), from
the vendors' data sheets. Training FLOPs per token follow the PaLM appendix: ``6 N`` for the weights
plus ``12 L d T`` for attention over a context of ``T``.
"""

from __future__ import annotations

import os
import platform
from typing import Any

# Dense bf16 peak in TFLOP/s, matched against the CUDA device name (the longest key that occurs).
PEAK_BF16_TFLOPS: dict[str, float] = {
    "B200": 2250.0,
    "B100": 1750.0,
    "H200": 989.0,
    "GH200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 756.0,
    "H800": 989.0,
    "A100": 312.0,
    "A800": 312.0,
    "L40S": 362.0,
    "L40": 181.0,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
    "A6000": 155.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
    "MI300X": 1307.0,
    "MI250X": 383.0,
}


def peak_bf16_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a device by its name, or None when the table does not know it."""
    found = [key for key in PEAK_BF16_TFLOPS if key.lower() in device_name.lower()]
    return PEAK_BF16_TFLOPS[max(found, key=len)] if found else None


def training_flops_per_token(parameters: int, n_layer: int, n_embd: int, context: int) -> float:
    return 6.0 * parameters + 12.0 * n_layer * n_embd * context


def describe_device(device: Any) -> dict[str, Any]:
    """Name, kind and (for GPUs) memory and bf16 peak of a torch device; CPU cores and threads."""
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {"kind": "cuda", "name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                "peak_bf16_tflops": peak_bf16_tflops(props.name)}
    return {"kind": device.type, "name": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "peak_bf16_tflops": None}


def native_bf16(device: Any) -> bool:
    """Whether bf16 matrix products are native on the device: CUDA with bf16 support (Ampere and
    later), or a CPU with AVX512-BF16 or AMX (where autocast bf16 is about twice fp32's speed)."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        cpu = torch.cpu
        return any(bool(getattr(cpu, probe, lambda: False)())
                   for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return False


def choose_attention(device: Any, asked: str) -> str:
    """``auto``: FlashAttention-2 on CUDA where the flash_attn package is installed, else SDPA
    (which itself picks flash or memory-efficient kernels on GPU)."""
    if asked != "auto":
        return asked
    import importlib.util

    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
