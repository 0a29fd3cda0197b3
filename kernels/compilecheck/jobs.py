"""Compile jobs: which kernels of which backend to build, for which shapes and targets.

A :class:`CompileJob` is one launcher specialization for one target; a
backend's compile provider (:mod:`kernels.compilecheck.providers`) lists them
and compiles each in a worker.  :func:`placeholders` gives the CPU tensors a
compile-only launch takes.

Choosing T per path: every path is compiled once per (shape, mask, target) at
the LARGEST T that still takes it (within ``1..T_MAX``) -- kernels that size
LDS from T are at their worst there; for the last, unbounded path ``T_MAX``
is used.  :func:`path_representatives` finds these from the backend's own
``choose_path``-style function.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from oracle import max_num_tokens_padded

#: Largest T considered when looking for each path's representative T.
T_MAX = 4096


@dataclasses.dataclass(frozen=True)
class CompileJob:
    """One launcher specialization to compile for one target (picklable)."""

    backend: str
    kernel: str  # launcher / kernel family name, e.g. "oneshot"
    path: str
    num_experts: int
    topk: int
    unit_size: int
    tokens: int
    mask: bool
    target: str
    min_workgroups_per_cu: int = 1  # what the launch assumes (e.g. LDS sized for 2 per CU)
    model: str = ""
    extra: tuple = ()  # provider-specific (key, value) pairs
    label: str = ""  # overrides the shape label (jobs that are not MoE shapes)

    @property
    def shape(self) -> str:
        return self.label or f"E{self.num_experts}-k{self.topk}-u{self.unit_size}"

    def option(self, key, default=None):
        return dict(self.extra).get(key, default)


def path_representatives(choose: Callable[[int], str], t_max: int = T_MAX) -> dict:
    """``{path: T}``: the largest T in ``1..t_max`` that ``choose(T)`` maps to each path.

    Paths are returned in the order their first T appears.
    """
    last: dict = {}  # insertion order = order of first appearance
    for t in range(1, t_max + 1):
        last[choose(t)] = t
    return last


def placeholders(tokens: int, num_experts: int, topk: int, unit_size: int, mask: bool,
                 moe_buf_cols: int = 16) -> dict:
    """CPU torch tensors with the contract's dtypes and sizes, for compile-only launches.

    Keys: topk_ids, topk_weights, sorted_ids, sorted_weights, sorted_expert_ids,
    num_valid_ids, moe_buf (int32 [T, moe_buf_cols]), expert_mask (int32 [E] or None).
    """
    import torch

    padded = max_num_tokens_padded(tokens, topk, num_experts, unit_size)
    blocks = -(-padded // unit_size)
    return {
        "topk_ids": torch.zeros((tokens, topk), dtype=torch.int32),
        "topk_weights": torch.zeros((tokens, topk), dtype=torch.float32),
        "sorted_ids": torch.zeros(padded, dtype=torch.int32),
        "sorted_weights": torch.zeros(padded, dtype=torch.float32),
        "sorted_expert_ids": torch.zeros(blocks, dtype=torch.int32),
        "num_valid_ids": torch.zeros(2, dtype=torch.int32),
        "moe_buf": torch.zeros((tokens, moe_buf_cols), dtype=torch.int32),
        "expert_mask": torch.ones(num_experts, dtype=torch.int32) if mask else None,
    }
