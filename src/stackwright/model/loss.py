"""Next-token loss fused with the output projection, computed a chunk of positions at a time.

The usual path materialises the logits of every position (batch x length x vocabulary, 64 MB for a
batch of 8 x 512 over 8k tokens in bf16), casts them to fp32 for the softmax, keeps them for the
backward pass, and walks them three more times there. Here one autograd node takes the hidden states
and the projection: for each chunk of positions it computes the logits, their log-sum-exp, the loss,
and at once the gradient of the loss with respect to the logits (``softmax - one_hot``), which it
turns into the chunk's gradient for the hidden states and adds to the projection's. The logits of a
chunk live only while it is processed; backward only scales the stored gradients. The result is the
mean cross-entropy, identical in value to ``F.cross_entropy`` over all positions.

Under autocast the matrix products run in the autocast type (bf16 on AMX CPUs and modern GPUs) and
the softmax in fp32, as autocast does for the unfused path.
"""

from __future__ import annotations

from typing import Any

import torch

CHUNK_POSITIONS = 2048


def _compute_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return dtype


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                chunk: int) -> torch.Tensor:
        dtype = _compute_dtype(hidden.device, weight.dtype)
        n = hidden.shape[0]
        w = weight.to(dtype)
        grad_hidden = torch.empty(hidden.shape, dtype=hidden.dtype, device=hidden.device)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, n, chunk):
            h = hidden[start:start + chunk].to(dtype)
            t = targets[start:start + chunk]
            logits = (h @ w.t()).float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            grad = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
            grad[torch.arange(grad.shape[0], device=grad.device), t] -= 1.0
            grad = grad.div_(n).to(dtype)
            grad_hidden[start:start + chunk] = grad @ w
            grad_weight += (grad.t() @ h).float()
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return total / n

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_output, grad_weight * grad_output, None, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, *,
                         chunk: int = CHUNK_POSITIONS) -> torch.Tensor:
    """Mean cross-entropy of ``hidden @ weight.T`` (positions x vocabulary) against ``targets``.

    ``hidden`` is (positions, width) or (batch, length, width) with ``targets`` of the same leading
    shape; the logits are never held for more than ``chunk`` positions at a time.
    """
    width = hidden.shape[-1]
    hidden, targets = hidden.reshape(-1, width), targets.reshape(-1)
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(hidden, weight, targets, chunk)
    return _loss_only(hidden, weight, targets, chunk)


def _loss_only(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
    """The forward half alone (evaluation): no gradient is computed or kept."""
    dtype = _compute_dtype(hidden.device, weight.dtype)
    w = weight.to(dtype)
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    for start in range(0, hidden.shape[0], chunk):
        logits = (hidden[start:start + chunk].to(dtype) @ w.t()).float()
        t = targets[start:start + chunk]
        total += (torch.logsumexp(logits, dim=-1) - logits.gather(1, t[:, None]).squeeze(1)).sum()
    return total / hidden.shape[0]


def causal_lm_loss(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """The mean next-token loss of a causal LM with a ``transformer`` body and an ``lm_head``
    (GPTBigCode, GPT-2): every position predicts the next, the last predicts nothing."""
    hidden = model.transformer(input_ids=input_ids).last_hidden_state
    return linear_cross_entropy(hidden[:, :-1], model.lm_head.weight, input_ids[:, 1:])


class NextTokenLoss(torch.nn.Module):
    """What a run trains: the causal LM with :func:`causal_lm_loss` as its forward, so that DDP and
    FSDP see one forward and one backward per micro-batch (the LM is ``.lm``)."""

    def __init__(self, lm: torch.nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return causal_lm_loss(self.lm, input_ids)
