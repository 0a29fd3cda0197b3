"""The golden model of MoE sorting, its contract, and the comparator.

- :func:`moe_sorting` — the vectorized NumPy model (contract: CONTRACT.md).
- :func:`moe_sorting_loops` — an independent plain-loop model, for cross-checks.
- :func:`softmax_topk` — the gating front end for fused softmax+top-k+sort kernels.
- :func:`compare` — a structured :class:`Verdict` of a backend's outputs.
- :class:`ContractViolation` — raised for any input outside the contract.
"""
from .compare import Mismatch, Verdict, compare
from .errors import ContractViolation
from .gating import softmax, softmax_topk
from .inputs import MAX_TOKENS, MAX_TOPK, SortInputs, max_num_tokens_padded, normalize_inputs
from .loop_model import moe_sorting_loops
from .model import local_expert_ids, moe_sorting, sort_validated
from .result import SortResult, unpack_id

__all__ = [
    "ContractViolation", "MAX_TOKENS", "MAX_TOPK", "Mismatch", "SortInputs", "SortResult",
    "Verdict", "compare", "local_expert_ids", "max_num_tokens_padded", "moe_sorting",
    "moe_sorting_loops", "normalize_inputs", "softmax", "softmax_topk", "sort_validated",
    "unpack_id",
]
