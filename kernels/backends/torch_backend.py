"""A vectorized PyTorch implementation of the contract, on CPU and CUDA/HIP.

Written without host synchronization (no ``.item()``, no data-dependent
shapes; M is read from the harness's ``num_local_tokens`` device tensor) so a
launch can be captured in a CUDA/HIP graph once and replayed for any M.  It writes the whole
of ``sorted_ids`` / ``sorted_weights`` / ``sorted_expert_ids`` (past the valid
extent too: sentinel, 0 and -1), which the contract leaves unspecified.

Under the ``drop`` and ``unchecked`` policies ids outside ``[0, E)`` go to
the overflow bucket E that masked experts use and that is never laid out:
``drop``'s answer, with no index out of range (an out-of-range index is a
device-side assert on a GPU).  A repeated expert (``unchecked`` only) sorts
as two pairs of that expert: memory-safe, its outputs unspecified.  Under
``reject`` the ids were checked before the launch, so the sort leaves the
range check out; ``benchmarks/bench_invalid_ids.py`` times the check on valid ids.
"""
from __future__ import annotations

import torch

from ..registry import Backend


def torch_moe_sorting(topk_ids, topk_weights, expert_mask, num_experts, unit_size,
                      num_local_tokens, out_ids, out_weights, out_blocks, out_num_valid, moe_buf, *,
                      drop_invalid=True) -> None:
    """Sort on ``topk_ids.device`` into the preallocated outputs (contract sizes).

    ``num_local_tokens`` is the one-element int32 tensor holding M, read on the
    device: rows ``>= M`` go to the overflow bucket, whatever ids they hold.
    ``drop_invalid`` (default) sends ids outside ``[0, E)`` to the overflow
    bucket; ``False`` leaves out that range check, for ids already checked
    (an id outside ``[0, E)`` in a row ``< M`` then indexes out of range)."""
    dev = topk_ids.device
    k = topk_ids.shape[1]
    length = out_ids.numel()
    m = num_local_tokens.reshape(()).long()
    experts = topk_ids.reshape(-1).long()
    if drop_invalid:
        # As unsigned 32-bit values negative ids lie above E too: one clamp sends all to E.
        experts.bitwise_and_(0xFFFFFFFF).clamp_(max=num_experts)
    weights = topk_weights.reshape(-1)
    n = experts.numel()
    flat = torch.arange(n, device=dev, dtype=torch.long)
    overflow = torch.full_like(experts, num_experts)
    experts = torch.where(flat // k < m, experts, overflow)
    if expert_mask is not None:
        enabled = expert_mask.long()
        local = torch.cumsum(enabled, 0) - 1
        enabled = torch.cat([enabled, enabled.new_zeros(1)])   # the overflow bucket E counts as a masked expert
        # Tokens of masked experts go to an overflow bucket E that is never laid out.
        experts = torch.where(enabled[experts] == 1, experts, overflow)
    else:
        local = torch.arange(num_experts, device=dev, dtype=torch.long)
    counts = torch.zeros(num_experts + 1, dtype=torch.long, device=dev)
    counts.scatter_add_(0, experts, torch.ones_like(experts))
    counts = counts[:num_experts]
    padded = (counts + unit_size - 1) // unit_size * unit_size
    ends = torch.cumsum(padded, 0)
    offsets = ends - padded
    starts = torch.cumsum(counts, 0) - counts

    # (expert, token, slot) order: a sort by expert * n + flat index.
    _, perm = torch.sort(experts * max(n, 1) + flat)
    e_sorted = experts[perm]
    kept = e_sorted < num_experts
    e_safe = torch.where(kept, e_sorted, torch.zeros_like(e_sorted))
    rank = torch.arange(n, device=dev) - starts[e_safe]
    position = torch.where(kept, offsets[e_safe] + rank, torch.full_like(rank, length))
    token, slot = flat[perm] // k, flat[perm] % k

    sentinel = ((k << 24) | m).bitwise_and(0xFFFFFFFF)
    sentinel = torch.where(sentinel >= 1 << 31, sentinel - (1 << 32), sentinel).to(torch.int32)  # bits as int32
    scratch_ids = sentinel.expand(length + 1).clone()
    scratch_w = torch.zeros(length + 1, dtype=torch.float32, device=dev)
    scratch_ids.index_copy_(0, position, ((slot << 24) | token).to(torch.int32))
    scratch_w.index_copy_(0, position, weights[perm])
    out_ids.copy_(scratch_ids[:length])
    out_weights.copy_(scratch_w[:length])

    total = padded.sum()
    block_start = torch.arange(out_blocks.numel(), device=dev, dtype=torch.long) * unit_size
    owner = torch.searchsorted(ends, block_start, right=True).clamp(max=num_experts - 1)
    out_blocks.copy_(torch.where(block_start < total, local[owner], torch.full_like(owner, -1)).to(torch.int32))
    out_num_valid[0:1].copy_(total.reshape(1).to(torch.int32))
    out_num_valid[1:2].copy_(num_local_tokens.reshape(1))
    moe_buf.zero_()


def _launch(inputs, buffers, target):
    d = buffers.device_inputs
    torch_moe_sorting(d.topk_ids, d.topk_weights, d.expert_mask, inputs.num_experts,
                      inputs.unit_size, d.num_local_tokens, buffers.sorted_ids, buffers.sorted_weights,
                      buffers.sorted_expert_ids, buffers.num_valid_ids, buffers.moe_buf,
                      drop_invalid=inputs.invalid_ids != "reject")   # reject: kernels.run checked the ids
    return None


def _cuda_reason():
    if not torch.cuda.is_available():
        return "no CUDA/HIP device visible to torch (torch.cuda.is_available() is False)"
    return None


def _gpu_name(target):
    kind = "hip" if torch.version.hip else "cuda"
    return f"{kind} {torch.cuda.get_device_name()}" if torch.cuda.is_available() else kind


BACKENDS = [
    Backend(
        name="torch-cpu",
        description="vectorized PyTorch implementation on the CPU",
        needs=("torch",),
        probe=lambda: None,
        launch=_launch,
        writes_past_extent=True,
        invalid_ids=("reject", "drop", "unchecked"),
    ),
    Backend(
        name="torch-cuda",
        description="vectorized PyTorch implementation on a CUDA/HIP GPU (graph-capturable)",
        needs=("torch", "cuda-or-rocm-gpu"),
        probe=_cuda_reason,
        launch=_launch,
        device=lambda: "cuda",
        executes_on=_gpu_name,
        writes_past_extent=True,
        invalid_ids=("reject", "drop", "unchecked"),
        capture_safe=True,
    ),
]
