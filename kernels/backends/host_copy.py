"""Write a host-computed :class:`oracle.SortResult` into a launch's output buffers."""
from __future__ import annotations

import torch


def write_result(result, buffers, unit_size: int) -> None:
    """Copy the valid extent of every output of ``result`` into ``buffers``
    (nothing past it, so the canary check holds) and zero ``moe_buf``."""
    valid = result.valid_length
    buffers.sorted_ids[:valid].copy_(torch.from_numpy(result.sorted_ids[:valid]))
    buffers.sorted_weights[:valid].copy_(torch.from_numpy(result.sorted_weights[:valid]))
    blocks = valid // unit_size
    buffers.sorted_expert_ids[:blocks].copy_(torch.from_numpy(result.sorted_expert_ids[:blocks]))
    buffers.num_valid_ids.copy_(torch.from_numpy(result.num_valid_ids))
    buffers.moe_buf.zero_()
