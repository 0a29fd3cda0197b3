"""Golden gating front end for fused softmax + top-k + sort kernels.

``softmax_topk(logits, topk, renormalize=False)`` returns ``(topk_ids int32
[T, topk], topk_weights float32 [T, topk])``: softmax over the expert axis in
float32 arithmetic (inputs f32, f16 or bf16 are widened exactly first), then
the ``topk`` largest probabilities per row, largest first; ties go to the
lower expert id.  With ``renormalize`` the chosen weights are divided by
their row sum (in float32).  Feed the result to ``oracle.moe_sorting``.

Non-finite logits (``oracle/CONTRACT.md``, "Non-finite logits"):

* ``-inf`` is an ordinary logit with probability exactly 0: a row with at
  least one finite logit and no NaN or ``+inf`` is judged like any other (its
  ``-inf`` experts come after every finite one, in ascending id order, with
  weight ``+0.0``).
* A row with a NaN logit, a ``+inf`` logit, or no finite logit is
  *degenerate* (:func:`degenerate_rows`): its softmax is undefined.  A kernel
  must still give ``topk`` distinct ids in ``[0, num_experts)`` for it (the
  sort indexes memory with them) and leave every other row as it would be
  without it; its weights are unspecified (NaN allowed).  ``softmax_topk``
  answers such a row with ids ``0 .. topk-1`` and NaN weights, one acceptable
  answer among many.
"""
from __future__ import annotations

import numpy as np

from .errors import ContractViolation


def _as_float32(logits) -> np.ndarray:
    if hasattr(logits, "detach"):  # torch tensor, any of f32 / f16 / bf16
        name = str(logits.dtype).replace("torch.", "")
        if name not in ("float32", "float16", "bfloat16"):
            raise ContractViolation("logits", f"dtype is {name}; expected float32, float16 or bfloat16")
        return logits.detach().float().cpu().numpy()
    arr = np.asarray(logits)
    if arr.dtype not in (np.float32, np.float16):
        raise ContractViolation("logits", f"dtype is {arr.dtype}; expected float32 or float16 (bfloat16 as a torch tensor)")
    return arr.astype(np.float32)


def softmax(logits) -> np.ndarray:
    """Row-wise softmax in float32 (max-subtracted); NaN throughout a degenerate row."""
    x = _as_float32(logits)
    if x.ndim != 2:
        raise ContractViolation("logits", f"must be 2-D [T, E], got shape {x.shape}")
    with np.errstate(invalid="ignore"):      # degenerate rows: inf - inf and 0 / 0 give NaN
        shifted = x - x.max(axis=1, keepdims=True) if x.shape[1] else x
        e = np.exp(shifted, dtype=np.float32)
        return (e / e.sum(axis=1, keepdims=True, dtype=np.float32)).astype(np.float32)


def degenerate_rows(logits) -> np.ndarray:
    """Boolean mask of the rows whose softmax is undefined: a NaN or ``+inf`` logit, or
    no finite logit (see the module docstring for what the contract asks of them)."""
    x = _as_float32(logits)
    if x.ndim != 2:
        raise ContractViolation("logits", f"must be 2-D [T, E], got shape {x.shape}")
    return np.isnan(x).any(axis=1) | np.isposinf(x).any(axis=1) | ~np.isfinite(x).any(axis=1)


def softmax_topk(logits, topk: int, renormalize: bool = False):
    """Softmax, then top-k with lower-id tie-break; see the module docstring."""
    probs = softmax(logits)
    num_experts = probs.shape[1]
    if not 1 <= topk <= num_experts:
        raise ContractViolation("topk", f"= {topk} is outside [1, num_experts={num_experts}]")
    # A stable sort of -p keeps ascending expert id among equal probabilities.
    order = np.argsort(-probs, axis=1, kind="stable")[:, :topk]
    weights = np.take_along_axis(probs, order, axis=1)
    if renormalize:
        with np.errstate(invalid="ignore"):  # degenerate rows stay NaN
            weights = (weights / weights.sum(axis=1, keepdims=True, dtype=np.float32)).astype(np.float32)
    return order.astype(np.int32), np.ascontiguousarray(weights, dtype=np.float32)
