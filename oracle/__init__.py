"""The golden model of MoE sorting, its contract, and the comparator.

- :func:`moe_sorting` — the vectorized NumPy model (contract: CONTRACT.md).
- :func:`moe_sorting_loops` — an independent plain-loop model, for cross-checks.
- :func:`softmax_topk` — the gating front end for fused softmax+top-k+sort kernels.
- :func:`compare` — a structured :class:`Verdict` of a backend's outputs.
- :func:`check_robustness` — the robustness clause's output checks, for any ids.
- :data:`INVALID_ID_POLICIES` — ``reject`` / ``drop`` / ``unchecked`` (``oracle.invalid_ids``).
- :class:`ContractViolation` — raised for any input outside the contract.
"""
from .compare import Mismatch, Verdict, compare, red_zone_writes
from .errors import ContractViolation
from .gating import degenerate_rows, softmax, softmax_topk
from .inputs import MAX_TOKENS, MAX_TOPK, SortInputs, max_num_tokens_padded, normalize_inputs
from .invalid_ids import POLICIES as INVALID_ID_POLICIES
from .invalid_ids import IdCensus, census, needed_policy
from .loop_model import moe_sorting_loops, sort_loops_validated
from .model import local_expert_ids, moe_sorting, sort_validated
from .result import SortResult, unpack_id
from .robustness import check_robustness

__all__ = [
    "ContractViolation", "INVALID_ID_POLICIES", "IdCensus", "MAX_TOKENS", "MAX_TOPK", "Mismatch", "SortInputs",
    "degenerate_rows",
    "SortResult", "Verdict", "census", "check_robustness", "compare", "local_expert_ids", "max_num_tokens_padded",
    "moe_sorting", "moe_sorting_loops", "needed_policy", "normalize_inputs", "red_zone_writes", "softmax",
    "softmax_topk", "sort_loops_validated", "sort_validated", "unpack_id",
]
