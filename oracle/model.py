"""The golden model of MoE sorting: vectorized NumPy, no Python loop over
tokens or experts.  The rules it implements, and why, are in CONTRACT.md.
"""
from __future__ import annotations

import numpy as np

from .errors import ContractViolation
from .inputs import TOKEN_BITS, SortInputs, normalize_inputs
from .invalid_ids import MODEL_POLICIES, check_policy
from .result import SortResult


def local_expert_ids(num_experts: int, expert_mask) -> np.ndarray:
    """Local id of every global expert (its id minus the masked experts below
    it); -1 for masked experts."""
    if expert_mask is None:
        return np.arange(num_experts, dtype=np.int32)
    enabled = expert_mask.astype(bool)
    local = np.cumsum(enabled, dtype=np.int64) - 1
    return np.where(enabled, local, -1).astype(np.int32)


def moe_sorting(
    topk_ids,
    topk_weights,
    num_experts,
    unit_size=32,
    expert_mask=None,
    num_local_tokens=None,
    *,
    min_one_block=False,
    invalid_ids="reject",
) -> SortResult:
    """Sort (token, slot) pairs by expert as the contract in CONTRACT.md says.

    Arguments follow aiter's ``moe_sorting_fwd``.  ``min_one_block=True``
    selects CK's variant in which every enabled expert takes at least one
    block even with no tokens (off by default).  ``invalid_ids="drop"``
    drops ids outside ``[0, E)`` in rows ``< M`` as a masked expert's are
    (CONTRACT.md, "Robustness"); the default ``"reject"`` refuses them.
    Raises ContractViolation for input outside the contract.
    """
    inputs = normalize_inputs(
        topk_ids, topk_weights, num_experts, unit_size, expert_mask, num_local_tokens,
        check_policy(invalid_ids, MODEL_POLICIES),
    )
    return sort_validated(inputs, min_one_block=min_one_block)


def kept_pairs(inputs: SortInputs) -> np.ndarray | None:
    """Flat indices (``token * topk + slot``) of the counted pairs that are sorted:
    those of enabled experts, and under ``drop`` those with an id in ``[0, E)``;
    None when every counted pair is kept."""
    experts = inputs.topk_ids[: inputs.m].reshape(-1)
    keep = None
    if inputs.invalid_ids != "reject":
        in_range = (experts >= 0) & (experts < inputs.num_experts)
        if not in_range.all():
            keep, experts = in_range, np.where(in_range, experts, 0)
    if inputs.expert_mask is not None:
        enabled = inputs.expert_mask.astype(bool)[experts]
        keep = enabled if keep is None else keep & enabled
    return None if keep is None else np.flatnonzero(keep)


def sort_validated(inputs: SortInputs, *, min_one_block: bool = False) -> SortResult:
    """:func:`moe_sorting` on inputs already checked by ``normalize_inputs`` (under
    ``reject`` or ``drop``: the model defines no outputs for ``unchecked``)."""
    check_policy(inputs.invalid_ids, MODEL_POLICIES)
    E, unit, k, m = inputs.num_experts, inputs.unit_size, inputs.topk, inputs.m
    length = inputs.max_num_tokens_padded
    sentinel = np.int32(inputs.sentinel)

    experts = inputs.topk_ids[:m].reshape(-1)
    weights = inputs.topk_weights[:m].reshape(-1)

    local = local_expert_ids(E, inputs.expert_mask)
    flat = kept_pairs(inputs)
    if flat is not None:
        experts = experts[flat]
    enabled = np.ones(E, dtype=bool) if inputs.expert_mask is None else inputs.expert_mask.astype(bool)

    # A stable sort by expert keeps (token, slot) order inside each expert;
    # 16-bit keys let NumPy use its O(n) radix sort.
    key_dtype = np.uint16 if E <= 0xFFFF else np.int32
    order = np.argsort(experts.astype(key_dtype), kind="stable")
    source = order if flat is None else flat[order]  # flat index of each sorted pair

    counts = np.bincount(experts, minlength=E).astype(np.int64)
    padded = -(-counts // unit) * unit
    if min_one_block:
        padded = np.where(enabled & (padded == 0), unit, padded)
    starts = np.cumsum(counts) - counts
    offsets = np.cumsum(padded) - padded
    total = int(padded.sum())
    if total > length:
        # Only CK's min_one_block variant can get here (T = 0 with every expert
        # enabled needs E*unit_size rows, the buffer has E*unit_size - topk).
        raise ContractViolation(
            "min_one_block",
            f"needs {total} rows but sorted_ids holds {length} (T={inputs.tokens})",
        )

    # Sorted pairs of expert e are contiguous: position = rank + (offset - start).
    position = np.arange(source.size, dtype=np.int64) + np.repeat(offsets - starts, counts)
    tokens, slots = np.divmod(source, k)

    sorted_ids = np.full(length, sentinel, dtype=np.int32)
    sorted_weights = np.zeros(length, dtype=np.float32)
    sorted_ids[position] = ((slots << TOKEN_BITS) | tokens).astype(np.int32)
    sorted_weights[position] = weights[source]

    sorted_expert_ids = np.full(inputs.num_blocks, -1, dtype=np.int32)
    blocks = np.repeat(local, padded // unit)
    sorted_expert_ids[: blocks.size] = blocks

    num_valid_ids = np.array([total, m], dtype=np.int32)
    return SortResult(sorted_ids, sorted_weights, sorted_expert_ids, num_valid_ids, int(sentinel))
