"""Backends ``torch-router-cpu`` / ``torch-router-cuda``: the router in plain PyTorch, the
reference side for logits (``Backend.takes == "logits"``).

Softmax in float32 (the logits upcast first), top-k by a stable descending sort
(ties to the lower expert id, as the contract asks), optional renormalization,
then the sort by the ``torch-cpu`` / ``torch-cuda`` backend.  A degenerate row
(NaN probabilities) still gets ``topk`` distinct experts: the stable sort orders
every expert.  Returns a ``FusedResult`` (judged as the fused entry is).
"""
from __future__ import annotations

import torch

from ..registry import Backend
from ..registry import run as run_sort
from .router_run import RouterRun
from .torch_backend import BACKENDS as TORCH_BACKENDS


def topk_choice(logits: torch.Tensor, topk: int, renormalize: bool):
    """(ids int32 [T, topk], weights float32 [T, topk]) of ``logits`` (module docstring)."""
    probs = torch.softmax(logits.float(), dim=1)
    order = torch.sort(probs, dim=1, descending=True, stable=True).indices[:, :topk]
    weights = torch.gather(probs, 1, order)
    if renormalize:
        weights = weights / weights.sum(dim=1, keepdim=True)
    return order.to(torch.int32).contiguous(), weights.contiguous()


def router_launcher(sort_backend: str, device: str, choose=None):
    """A launch that picks the top-k with ``choose`` (default :func:`topk_choice`) and sorts with
    ``sort_backend``; a ``choose`` of its own marks the path ``planted``."""
    def launch(inputs, target):
        from .flydsl_upstream_fused import FusedResult

        ids, weights = (choose or topk_choice)(inputs.logits(device), inputs.topk, inputs.renormalize)
        m = inputs.m
        out = run_sort(sort_backend, ids[:m].cpu().numpy(), weights[:m].cpu().numpy(), inputs.num_experts,
                       inputs.unit_size, inputs.expert_mask)
        result = FusedResult(out.sorted_ids, out.sorted_weights, out.sorted_expert_ids, out.num_valid_ids,
                             out.moe_buf_zeroed, None, target)
        return RouterRun(result, None if choose is None else "planted")
    return launch


BACKENDS = [
    Backend(name=f"torch-router-{where}",
            description=f"PyTorch softmax, stable top-k and {sort.name} sort on the {where.upper()} "
                        f"(the reference for logits)",
            needs=sort.needs, probe=sort.probe, launch=router_launcher(sort.name, where), device=sort.device,
            executes_on=sort.executes_on, takes="logits")
    for where, sort in (("cpu", TORCH_BACKENDS[0]), ("cuda", TORCH_BACKENDS[1]))
]
