"""FlyDSL's top-k gating softmax kernel (``build_topk_gating_softmax_module``: logits ->
softmax -> top-k -> optional renormalization), checked against ``oracle.softmax_topk``.

Not a registry ``Backend`` (its input is logits and its output the top-k choice,
not a sort); two functions:

* :func:`run_gating` builds and launches the kernel from the FlyDSL checkout
  named by ``FLYDSL_ROOT`` on the CPU interpreter (target ``gfx942`` /
  ``gfx950``; host caches reset when the target changes, as for the sort) and
  returns its three outputs as NumPy arrays.
* :func:`check_gating` judges them, returning a :class:`GatingVerdict` whose
  problems each name the output, the kind of difference and the row.

What "agree" means (``oracle/CONTRACT.md``, gating section, with the
tolerances of :mod:`.flydsl_upstream_fused`):

* **ordinary rows**: ``topk_ids`` exactly the golden choice (ties to the lower
  expert id), ``topk_weights`` within ``WEIGHT_RTOL * |w| + WEIGHT_ATOL``;
* **near-tie rows** (:func:`~.flydsl_upstream_fused.near_tie_rows`): the
  kernel's choice is accepted when each slot's golden probability is within
  ``TIE_RTOL`` of that rank's; its weights are then judged against the golden
  probabilities of the experts it chose;
* **degenerate rows** (``oracle.degenerate_rows``: a NaN or ``+inf`` logit, or
  no finite logit): ``topk`` distinct ids in ``[0, E)``; weights unspecified;
* ``token_expert_indices[t, k] == k * T + t`` for every row (the kernel's
  stated layout).
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Optional

import numpy as np
import torch

import oracle

from . import flydsl_upstream
from .flydsl_upstream import GATING_MODULE, upstream_session
from .flydsl_upstream_fused import (
    LOGIT_DTYPES,
    WEIGHT_ATOL,
    WEIGHT_RTOL,
    accept_near_tie_choice,
    check_logits_and_target,
    near_tie_rows,
)

_POISON_IDS = -0x21524111          # 0xDEADBEEF as int32: an id no kernel writes on purpose
_POISON_WEIGHT = 7.25

#: Kinds of :class:`GatingProblem`.
PROBLEM_KINDS = ("ids-differ", "weights-outside-tolerance", "near-tie-choice", "degenerate-row-invalid-ids",
                 "token-expert-indices-differ")


def probe() -> Optional[str]:
    """None when the gating kernel can run here, else why not."""
    return flydsl_upstream.probe()


@dataclasses.dataclass
class GatingResult:
    topk_ids: np.ndarray              # int32 [T, topk]
    topk_weights: np.ndarray          # float32 [T, topk]
    token_expert_indices: np.ndarray  # int32 [T, topk]
    target: str


@dataclasses.dataclass(frozen=True)
class GatingProblem:
    output: str         # topk_ids, topk_weights or token_expert_indices
    kind: str           # one of PROBLEM_KINDS
    row: int
    detail: str

    def __str__(self):
        return f"{self.output} row {self.row}: {self.kind}: {self.detail}"


@dataclasses.dataclass
class GatingVerdict:
    problems: list
    near_tie_rows: list
    degenerate_rows: list

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def summary(self) -> str:
        state = "agrees" if self.ok else f"DISAGREES in {len(self.problems)} places"
        extra = (f"; near-tie rows {self.near_tie_rows}" if self.near_tie_rows else "") + \
                (f"; degenerate rows {self.degenerate_rows}" if self.degenerate_rows else "")
        return f"gating {state}{extra}" + "".join(f"\n  {p}" for p in self.problems[:8])


def run_gating(logits: torch.Tensor, topk: int, *, renormalize: bool = True, target: str = "gfx950",
               sanitize: bool = False, **emulate_options) -> GatingResult:
    """Build FlyDSL's gating kernel for ``logits``' E, ``topk``, dtype and ``renormalize`` and
    launch it on CPU tensors under the interpreter (``emulate_options`` go to
    ``kernels.emu.emulate``).  Outputs are poisoned first.  Raises
    whatever the builder raises (``ValueError`` for an E its layout does not support)."""
    reason = probe()
    if reason is not None:
        raise RuntimeError(f"FlyDSL's top-k gating softmax kernel is unavailable here: {reason}")
    check_logits_and_target(logits, target)
    T, E = logits.shape
    weights = torch.full((T, topk), _POISON_WEIGHT, dtype=torch.float32)
    ids = torch.full((T, topk), _POISON_IDS, dtype=torch.int32)
    tei = torch.full((T, topk), _POISON_IDS, dtype=torch.int32)
    with upstream_session(target, sanitize=sanitize, **emulate_options):
        gating = importlib.import_module(GATING_MODULE)
        launch = gating.build_topk_gating_softmax_module(E, topk, LOGIT_DTYPES[logits.dtype], renormalize)
        # the kernel stores ids through float32 views of int32 storage (its own convention)
        launch(logits.contiguous(), weights, ids.view(torch.float32), tei.view(torch.float32), T)
    return GatingResult(ids.numpy().copy(), weights.numpy().copy(), tei.numpy().copy(), target)


def _weights_problem(got, expected) -> Optional[str]:
    err = np.abs(got.astype(np.float64) - expected) - (WEIGHT_RTOL * np.abs(expected) + WEIGHT_ATOL)
    if (err <= 0).all():
        return None
    return f"{got.tolist()} vs golden {expected.tolist()}"


def check_gating(logits: torch.Tensor, topk: int, result: GatingResult, *, renormalize: bool = True) -> GatingVerdict:
    """Judge ``result`` against ``oracle.softmax_topk`` (module docstring)."""
    T, E = logits.shape
    gold_ids, gold_w = oracle.softmax_topk(logits, topk, renormalize)
    probs = oracle.softmax(logits)
    degenerate = oracle.degenerate_rows(logits)
    ties = set(near_tie_rows(logits, topk))
    problems = []
    for r in range(T):
        ids, w = result.topk_ids[r], result.topk_weights[r]
        if degenerate[r]:
            if (ids < 0).any() or (ids >= E).any() or len(set(ids.tolist())) != topk:
                problems.append(GatingProblem("topk_ids", "degenerate-row-invalid-ids", r,
                                              f"{ids.tolist()} are not {topk} distinct experts in [0, {E})"))
            continue
        expected_ids, expected_w = gold_ids[r], gold_w[r]
        if r in ties:
            accepted = accept_near_tie_choice(probs[r], ids, renormalize)
            if isinstance(accepted, str):
                problems.append(GatingProblem("topk_ids", "near-tie-choice", r, accepted))
                continue
            expected_ids, expected_w = accepted
        if not np.array_equal(ids, expected_ids):
            problems.append(GatingProblem("topk_ids", "ids-differ", r, f"{ids.tolist()} != {expected_ids.tolist()}"))
            continue
        why = _weights_problem(w, expected_w)
        if why:
            problems.append(GatingProblem("topk_weights", "weights-outside-tolerance", r, why))
    expected_tei = (np.arange(topk)[None, :] * T + np.arange(T)[:, None]).astype(np.int32)
    for r in np.flatnonzero((result.token_expert_indices != expected_tei).any(axis=1)):
        problems.append(GatingProblem("token_expert_indices", "token-expert-indices-differ", int(r),
                                      f"{result.token_expert_indices[r].tolist()} != {expected_tei[r].tolist()}"))
    return GatingVerdict(problems, sorted(ties), [int(r) for r in np.flatnonzero(degenerate)])
