"""aiter's MoE sorting (CK and OPUS dispatch) as backends, on a ROCm GPU.

Both call ``aiter.moe_sorting_fwd(topk_ids, topk_weights, sorted_ids,
sorted_weights, sorted_expert_ids, num_valid_ids, moe_buf, num_experts,
unit_size, expert_mask, num_local_tokens, dispatch_policy)`` with the
harness's preallocated outputs; ``num_local_tokens`` goes in as a device
int32 tensor of one element.  ``aiter-ck`` uses dispatch policy 0 (CK's
default), ``aiter-opus`` policy 1.  They promise the per-block contract only:
aiter does not document the order inside a block.
"""
from __future__ import annotations

import importlib.util

import torch

from ..registry import Backend

POLICIES = {"aiter-ck": 0, "aiter-opus": 1}


def _probe():
    if importlib.util.find_spec("aiter") is None:
        return "aiter is not installed (it needs ROCm; pip cannot provide it here)"
    if not (torch.cuda.is_available() and torch.version.hip):
        return "aiter needs a ROCm GPU; torch sees none"
    import aiter

    if not hasattr(aiter, "moe_sorting_fwd"):
        return "this aiter has no moe_sorting_fwd"
    return None


def _launcher(policy: int):
    def launch(inputs, buffers, target):
        import aiter

        d = buffers.device_inputs
        local = None
        if inputs.num_local_tokens is not None:
            local = torch.tensor([inputs.m], dtype=torch.int32, device=buffers.device)
        aiter.moe_sorting_fwd(d.topk_ids, d.topk_weights, buffers.sorted_ids, buffers.sorted_weights,
                              buffers.sorted_expert_ids, buffers.num_valid_ids, buffers.moe_buf,
                              inputs.num_experts, inputs.unit_size, d.expert_mask, local, policy)
        return f"dispatch_policy={policy}"
    return launch


BACKENDS = [
    Backend(name=name, description=f"aiter.moe_sorting_fwd, dispatch_policy={policy}",
            needs=("aiter", "rocm-gpu"), probe=_probe, launch=_launcher(policy), contract="per_block",
            reports_path=True, device=lambda: "cuda",
            executes_on=lambda target: f"native {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "-",
            writes_past_extent=True)
    for name, policy in POLICIES.items()
]
