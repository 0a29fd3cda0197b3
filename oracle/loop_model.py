"""A second, independent model of MoE sorting written as plain Python loops.

It shares nothing with ``oracle.model`` but the input checks: it buckets every
(token, slot) pair by walking the rows, then lays the buckets out expert by
expert.  Property tests run both models on the same cases and require them to
agree bit-exactly; the ``loop-model`` backend exposes it to the harness.
It is slow (a Python loop per pair) and meant for T up to a few thousand.
Ids outside ``[0, E)`` are skipped like a masked expert's (what ``drop``
defines; ``reject`` refuses them first); a repeated id, which only the
``unchecked`` policy lets through (:func:`sort_loops_validated`), is bucketed
once per slot: memory-safe, its outputs are unspecified.
"""
from __future__ import annotations

import numpy as np

from .errors import ContractViolation
from .inputs import SortInputs, normalize_inputs
from .invalid_ids import MODEL_POLICIES, check_policy
from .result import SortResult


def moe_sorting_loops(
    topk_ids, topk_weights, num_experts, unit_size=32, expert_mask=None,
    num_local_tokens=None, *, min_one_block=False, invalid_ids="reject",
) -> SortResult:
    """Same contract and arguments as ``oracle.moe_sorting``."""
    inputs = normalize_inputs(
        topk_ids, topk_weights, num_experts, unit_size, expert_mask, num_local_tokens,
        check_policy(invalid_ids, MODEL_POLICIES),
    )
    return sort_loops_validated(inputs, min_one_block=min_one_block)


def sort_loops_validated(inputs: SortInputs, *, min_one_block: bool = False) -> SortResult:
    """:func:`moe_sorting_loops` on inputs already checked by ``normalize_inputs``, under
    any policy."""
    ids = inputs.topk_ids.tolist()
    weight_bits = inputs.topk_weights.view(np.uint32).tolist()
    E, unit, topk, m = inputs.num_experts, inputs.unit_size, inputs.topk, inputs.m
    mask = [1] * E if inputs.expert_mask is None else inputs.expert_mask.tolist()

    buckets = [[] for _ in range(E)]
    for token in range(m):
        for slot in range(topk):
            expert = ids[token][slot]
            if 0 <= expert < E and mask[expert]:
                buckets[expert].append(((slot << 24) | token, weight_bits[token][slot]))

    length = inputs.tokens * topk + E * unit - topk
    sentinel = (topk << 24) | m  # a uint32 bit pattern; wrapped to int32 below
    out_ids = [sentinel] * length
    out_bits = [0] * length
    out_blocks = [-1] * (-(-length // unit))
    cursor = 0
    local_id = 0
    for expert in range(E):
        if not mask[expert]:
            continue
        entries = buckets[expert]
        rows = len(entries)
        if rows % unit:
            rows += unit - rows % unit
        if rows == 0 and min_one_block:
            rows = unit
        if cursor + rows > length:
            raise ContractViolation("min_one_block", f"needs {cursor + rows} rows but sorted_ids holds {length}")
        for i, (packed, bits) in enumerate(entries):
            out_ids[cursor + i] = packed
            out_bits[cursor + i] = bits
        for block in range(cursor // unit, (cursor + rows) // unit):
            out_blocks[block] = local_id
        cursor += rows
        local_id += 1

    return SortResult(
        np.array(out_ids, dtype=np.int64).astype(np.int32),
        np.array(out_bits, dtype=np.uint32).view(np.float32),
        np.array(out_blocks, dtype=np.int32),
        np.array([cursor, m], dtype=np.int32),
    )
