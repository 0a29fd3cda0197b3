"""Validated inputs of one MoE sort (:class:`SortInputs`) and their checks.

:func:`normalize_inputs` accepts NumPy arrays or torch tensors, checks every
rule of the contract that concerns inputs (see ``oracle/CONTRACT.md``) and
returns NumPy views.  It never coerces silently: a wrong dtype, a
non-contiguous array or an out-of-contract value raises
:class:`~oracle.errors.ContractViolation` naming the field, row, slot and value.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from .errors import ContractViolation
from .invalid_ids import check_ids, check_policy

#: Packed ids keep the token in the low 24 bits and the slot in the high 8.
TOKEN_BITS = 24
MAX_TOKENS = 1 << TOKEN_BITS  # M must be < this (the sentinel holds M)
MAX_TOPK = 255  # the sentinel holds topk in 8 bits


@dataclasses.dataclass(frozen=True)
class SortInputs:
    """One sort's inputs, validated.  Arrays are NumPy, C-contiguous."""

    topk_ids: np.ndarray  # int32 [T, topk]
    topk_weights: np.ndarray  # float32 [T, topk]
    num_experts: int
    unit_size: int
    expert_mask: Optional[np.ndarray]  # int32 [E] of 0/1, or None
    num_local_tokens: Optional[int]  # M, or None for M = T
    invalid_ids: str = "reject"  # the policy the ids were checked under (oracle.invalid_ids)

    @property
    def tokens(self) -> int:
        return int(self.topk_ids.shape[0])

    @property
    def topk(self) -> int:
        return int(self.topk_ids.shape[1])

    @property
    def m(self) -> int:
        """Number of rows that count (M)."""
        return self.tokens if self.num_local_tokens is None else int(self.num_local_tokens)

    @property
    def max_num_tokens_padded(self) -> int:
        return max_num_tokens_padded(self.tokens, self.topk, self.num_experts, self.unit_size)

    @property
    def num_blocks(self) -> int:
        return -(-self.max_num_tokens_padded // self.unit_size)

    @property
    def sentinel(self) -> int:
        """``(topk << 24) | M`` as a signed int32 value (topk >= 128 wraps negative)."""
        return to_int32((self.topk << TOKEN_BITS) | self.m)


def to_int32(value: int) -> int:
    """The signed int32 holding the low 32 bits of ``value`` (packed ids are bit patterns)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def max_num_tokens_padded(tokens: int, topk: int, num_experts: int, unit_size: int) -> int:
    """Length of ``sorted_ids``: ``T*topk + E*unit_size - topk``."""
    return tokens * topk + num_experts * unit_size - topk


def _to_numpy(field: str, value, dtype: np.dtype) -> np.ndarray:
    """Return a NumPy view of ``value`` after checking dtype and contiguity."""
    if hasattr(value, "detach") and hasattr(value, "is_contiguous"):  # torch.Tensor
        tname = str(value.dtype).replace("torch.", "")
        if tname != np.dtype(dtype).name:
            raise ContractViolation(field, f"dtype is {tname}, the contract needs {np.dtype(dtype).name}")
        if not value.is_contiguous():
            raise ContractViolation(field, f"is not contiguous (strides {tuple(value.stride())})")
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray):
        raise ContractViolation(field, f"must be a NumPy array or torch tensor, got {type(value).__name__}")
    if value.dtype != dtype:
        raise ContractViolation(field, f"dtype is {value.dtype}, the contract needs {np.dtype(dtype).name}")
    if not value.flags["C_CONTIGUOUS"]:
        raise ContractViolation(field, f"is not C-contiguous (strides {value.strides})")
    return value


def _check_int(field: str, value, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ContractViolation(field, f"must be an int, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ContractViolation(field, f"= {value} is outside {bound}")
    return value


def local_tokens_value(num_local_tokens):
    """M from ``num_local_tokens``: an int is returned as it is; a NumPy array or
    torch tensor must hold one int32 element, which is read (on the host: a
    device tensor is copied).  Range checks are the caller's."""
    if not hasattr(num_local_tokens, "shape") or isinstance(num_local_tokens, np.generic):
        return num_local_tokens
    array = _to_numpy("num_local_tokens", num_local_tokens, np.dtype(np.int32))
    if array.size != 1:
        raise ContractViolation("num_local_tokens", f"must hold one element (M), got shape {array.shape}")
    return int(array.reshape(-1)[0])


def normalize_inputs(
    topk_ids,
    topk_weights,
    num_experts,
    unit_size=32,
    expert_mask=None,
    num_local_tokens=None,
    invalid_ids="reject",
) -> SortInputs:
    """Check every input rule of the contract and return :class:`SortInputs`.

    ``invalid_ids`` (:data:`oracle.invalid_ids.POLICIES`) says which invalid
    expert ids in rows ``< M`` are accepted: none (``"reject"``), ids outside
    ``[0, E)`` (``"drop"``) or any (``"unchecked"``); every other rule holds
    under each policy.
    ``num_local_tokens`` is M as an int or as a one-element int32 array or
    tensor (the device buffer graph-capture-safe kernels read M from); ``T`` =
    ``topk_ids.shape[0]`` is then the capacity, and ``0 <= M <= T``.
    """
    invalid_ids = check_policy(invalid_ids)
    ids = _to_numpy("topk_ids", topk_ids, np.dtype(np.int32))
    weights = _to_numpy("topk_weights", topk_weights, np.dtype(np.float32))
    if ids.ndim != 2:
        raise ContractViolation("topk_ids", f"must be 2-D [T, topk], got shape {ids.shape}")
    if weights.shape != ids.shape:
        raise ContractViolation(
            "topk_weights", f"shape {weights.shape} differs from topk_ids shape {ids.shape}"
        )
    tokens, topk = ids.shape
    num_experts = _check_int("num_experts", num_experts, 1)
    unit_size = _check_int("unit_size", unit_size, 1)
    if unit_size & (unit_size - 1):
        raise ContractViolation("unit_size", f"= {unit_size} is not a power of two")
    if not 1 <= topk <= MAX_TOPK:
        raise ContractViolation("topk", f"= {topk} (topk_ids.shape[1]) is outside [1, {MAX_TOPK}]")
    if topk > num_experts:
        raise ContractViolation(
            "topk", f"= {topk} exceeds num_experts={num_experts}; ids in a row must be distinct"
        )
    m = tokens
    if num_local_tokens is not None:
        m = _check_int("num_local_tokens", local_tokens_value(num_local_tokens), 0, tokens)
    if m >= MAX_TOKENS:
        field = "num_local_tokens" if num_local_tokens is not None else "T (topk_ids.shape[0])"
        raise ContractViolation(field, f"= {m} does not fit the 24-bit token field (must be < {MAX_TOKENS})")
    mask = None
    if expert_mask is not None:
        mask = _to_numpy("expert_mask", expert_mask, np.dtype(np.int32))
        if mask.shape != (num_experts,):
            raise ContractViolation(
                "expert_mask", f"shape {mask.shape} != (num_experts={num_experts},)"
            )
        bad = np.flatnonzero((mask != 0) & (mask != 1))
        if bad.size:
            raise ContractViolation(
                "expert_mask", f"expert_mask[{bad[0]}] = {mask[bad[0]]}; entries must be 0 or 1"
            )
    check_ids(ids, m, num_experts, invalid_ids)
    return SortInputs(ids, weights, num_experts, unit_size, mask, None if num_local_tokens is None else m,
                      invalid_ids)
