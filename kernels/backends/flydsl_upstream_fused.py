"""FlyDSL's fused ``moe_softmax_sort_flydsl`` (logits -> softmax -> top-k -> sort), checked
against the golden gating front end ``oracle.softmax_topk`` + ``oracle.moe_sorting``.

Not a registry ``Backend`` (its input is logits, not ids and weights); two functions:

* :func:`run_fused` launches the entry point from the FlyDSL checkout named by
  ``FLYDSL_ROOT`` on the CPU interpreter (target ``gfx942`` / ``gfx950``, with
  upstream's host caches reset when the target changes:
  :func:`kernels.backends.flydsl_upstream.use_target`) and returns its outputs
  as NumPy arrays.
* :func:`check_fused` judges those outputs, returning a :class:`FusedVerdict`.

What "agree" means (the contract of ``oracle/CONTRACT.md``, gating section):

* **ids exactly**: ``sorted_ids`` and ``sorted_expert_ids`` up to the valid
  length, and ``num_valid_ids``, bit for bit, against ``moe_sorting`` of the
  golden ``softmax_topk`` choice (ties to the lower expert id) -- except rows
  with a **near-tie**: two of the ``topk + 1`` most probable experts whose
  logits differ but whose golden probabilities differ by at most
  ``TIE_RTOL`` (relative).  The kernel computes ``exp`` with its own
  instructions, so such rows may legitimately pick or order differently.
  For them the kernel's own choice is read back from its output and accepted
  when each slot's golden probability is within ``TIE_RTOL`` of the golden
  probability of that rank; the expected sort is then built with that choice.
  Without a mask this is always possible; with a mask (dropped slots cannot
  be read back) a case with near-tie rows is *inconclusive* (``checked`` False).
  Exactly equal logits are not near-ties: they give equal probabilities in
  any implementation, so the lower-id rule is checked exactly.
* **degenerate rows** (``oracle.degenerate_rows``: a NaN or ``+inf`` logit, or
  no finite logit; rows < M): the kernel's choice for such a row is read back
  from its output and must be ``topk`` pairs of that token with distinct
  experts in ``[0, E)`` (a :class:`FusedProblem` of kind
  ``DEGENERATE_ROW_PAIRS`` otherwise); its weights are not judged.  The
  expected sort is then built with the pairs the kernel did sort for it (the
  missing ones dropped), so every other row is still judged exactly.  With a
  mask the choice cannot be read back: such a case is inconclusive.
* **every token placed**: a token below M (its row not degenerate) with no
  pair at all in the sort is a :class:`FusedProblem` of kind
  ``TOKEN_WITHOUT_PAIRS`` naming its row (mask-free cases, where the sort can
  be read back); the expected sort then drops that token, so the other rows
  are still judged exactly.
* **weights within tolerance**: ``|w - w_ref| <= WEIGHT_RTOL * |w_ref| + WEIGHT_ATOL``
  for valid entries; padding weights must be exactly ``+0.0``.
* ``moe_buf`` all zero afterwards.

Tolerance rationale: the kernel computes ``exp2((x - max) * log2(e))`` with
fast-math, sums in butterfly order, multiplies by a reciprocal (and, with
``renormalize``, by ``1 / max(sum, 1e-20)``); each step costs a few f32 ulps
(~1e-7 relative) and rounding the exponent costs ``|x - max| * 2^-24``
relative, below 1e-5 for logit spreads up to ~100.  ``TIE_RTOL`` is four
times the weight tolerance, so two weights each off by the tolerance cannot
swap ranks unnoticed.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import torch

import oracle

from . import flydsl_upstream
from .flydsl_upstream import TARGETS, upstream_session

WEIGHT_RTOL = 1e-5
WEIGHT_ATOL = 1e-9
TIE_RTOL = 4e-5
LOGIT_DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
_POISON = 0x7EADBEEF


def probe() -> Optional[str]:
    """None when the fused entry point can run here, else why not."""
    return flydsl_upstream.probe()


@dataclasses.dataclass
class FusedResult:
    sorted_ids: np.ndarray
    sorted_weights: np.ndarray
    sorted_expert_ids: np.ndarray
    num_valid_ids: np.ndarray
    moe_buf_zeroed: bool
    path: Optional[str]  # kernels of the last launcher call (the sort; the fallback's gating kernel precedes it)
    target: str


#: Kind of the :class:`FusedProblem` for a degenerate row whose token is not sorted as
#: ``topk`` pairs with distinct experts in ``[0, E)``.
DEGENERATE_ROW_PAIRS = "degenerate-row-pairs"
#: A token below M with no pair at all in the sort (its row not degenerate).
TOKEN_WITHOUT_PAIRS = "token-without-pairs"
#: Problems of one row; the other outputs are still compared, that row's expected pairs adjusted.
ROW_PROBLEMS = (DEGENERATE_ROW_PAIRS, TOKEN_WITHOUT_PAIRS)


@dataclasses.dataclass(frozen=True)
class FusedProblem:
    output: str          # sorted_ids, sorted_expert_ids, sorted_weights, num_valid_ids or moe_buf
    kind: str            # e.g. "differ", "outside-tolerance", DEGENERATE_ROW_PAIRS
    detail: str
    row: Optional[int] = None   # the token, for problems of one row

    def __str__(self):
        return f"{self.output}: {self.kind}: {self.detail}"


@dataclasses.dataclass
class FusedVerdict:
    ok: bool
    checked: bool  # False: inconclusive (near-tie or degenerate rows that could not be read back)
    problems: list  # of FusedProblem
    near_tie_rows: list
    degenerate_rows: list = dataclasses.field(default_factory=list)

    @property
    def summary(self) -> str:
        state = "agrees" if self.ok else ("INCONCLUSIVE" if not self.checked else "DISAGREES")
        ties = f"; near-tie rows {self.near_tie_rows}" if self.near_tie_rows else ""
        ties += f"; degenerate rows {self.degenerate_rows}" if self.degenerate_rows else ""
        return f"fused {state}{ties}" + "".join(f"\n  {p}" for p in self.problems[:8])


def _logits_f32(logits: torch.Tensor) -> np.ndarray:
    return logits.detach().float().cpu().numpy()


def run_fused(logits: torch.Tensor, topk: int, *, unit_size: int = 32, expert_mask=None,
              renormalize: bool = True, num_local_tokens: Optional[int] = None,
              target: str = "gfx950", sanitize: bool = False, **emulate_options) -> FusedResult:
    """Launch ``moe_softmax_sort_flydsl`` on CPU tensors under the interpreter.

    ``logits``: torch [T, E], float32 / float16 / bfloat16.  ``num_local_tokens``: None,
    an int or a one-element int32 tensor.  ``emulate_options`` go to
    ``kernels.emu.emulate`` (``findings="record"``, say).  Outputs are
    allocated to the contract's lengths and poisoned first.  Raises whatever
    the entry point raises (e.g. ``ValueError`` for an E its gating layout
    does not support).
    """
    from .. import emu

    reason = probe()
    if reason is not None:
        raise RuntimeError(f"moe_softmax_sort_flydsl is unavailable here: {reason}")
    check_logits_and_target(logits, target)
    T, E = logits.shape
    P = oracle.max_num_tokens_padded(T, topk, E, unit_size)
    nblk = -(-P // unit_size)
    poison = int(np.uint32(_POISON).view(np.int32))
    sids = torch.full((P,), poison, dtype=torch.int32)
    sw = torch.full((P,), poison, dtype=torch.int32)
    se = torch.full((nblk,), poison, dtype=torch.int32)
    nv = torch.full((2,), poison, dtype=torch.int32)
    moe_buf = torch.full((max(T, 1), 8), 1.5)
    mask = None if expert_mask is None else torch.as_tensor(np.ascontiguousarray(expert_mask, np.int32))
    with upstream_session(target, sanitize=sanitize, **emulate_options) as sorting:
        sorting.moe_softmax_sort_flydsl(
            logits.contiguous(), sids, sw.view(torch.float32), se, nv, moe_buf, E, topk,
            LOGIT_DTYPES[logits.dtype], unit_size, mask, renormalize, num_local_tokens)
        path = emu.last_path()
    return FusedResult(sids.numpy().copy(), sw.view(torch.float32).numpy().copy(), se.numpy().copy(),
                       nv.numpy().copy(), bool((moe_buf == 0).all()), path, target)


def near_tie_rows(logits: torch.Tensor, topk: int, num_local_tokens: Optional[int] = None,
                  tol: float = TIE_RTOL) -> list:
    """Rows (< M) where two of the experts that compete for the ``topk`` slots have
    different logits but golden probabilities within ``tol`` (relative) of each other.  The
    competitors are the ``topk + 1`` most probable experts and every other expert whose
    golden probability lies within ``tol`` of the ``(topk + 1)``-th: logits a few ulps apart
    can round to one float32 probability, so an equal probability does not make the choice
    exact when the logits differ."""
    x = _logits_f32(logits)
    M = x.shape[0] if num_local_tokens is None else num_local_tokens
    probs = oracle.softmax(logits)
    rows = []
    for r in range(M):
        order = np.argsort(-probs[r], kind="stable")
        edge = probs[r][order[min(topk, order.size - 1)]]
        order = order[: max(topk + 1, int((probs[r] >= edge - tol * np.abs(edge)).sum()))]
        p, xs = probs[r][order], x[r][order]
        gap = np.abs(p[:-1] - p[1:]) <= tol * np.abs(p[:-1])
        if (gap & (xs[:-1] != xs[1:])).any():
            rows.append(r)
    return rows


def check_logits_and_target(logits: torch.Tensor, target: str) -> None:
    """Raise ``ValueError`` naming the field and value unless ``target`` is one FlyDSL's
    gating front end builds for and ``logits`` is a 2-D float32/float16/bfloat16 tensor."""
    if target not in TARGETS:
        raise ValueError(f"target={target!r}; expected one of {TARGETS}")
    if logits.dtype not in LOGIT_DTYPES or logits.dim() != 2:
        raise ValueError(f"logits must be a 2-D float32/float16/bfloat16 tensor, got {logits.dtype} {tuple(logits.shape)}")


def accept_near_tie_choice(probs_row: np.ndarray, row: np.ndarray, renormalize: bool):
    """A kernel's choice ``row`` (expert ids, one per slot) for a near-tie row whose golden
    probabilities are ``probs_row``: ``(ids, expected weights)`` when each slot's golden
    probability is within ``TIE_RTOL`` of the golden probability of its rank, else why not."""
    topk, E = row.shape[0], probs_row.shape[0]
    if (row < 0).any() or (row >= E).any() or len(set(row.tolist())) != topk:
        return f"the kernel's ids {row.tolist()} are not {topk} distinct experts in [0, {E})"
    ranked = np.sort(probs_row)[::-1][:topk]
    got = probs_row[row]
    if (np.abs(got - ranked) > TIE_RTOL * ranked).any():
        return f"the kernel chose {row.tolist()} (p={got.tolist()}), golden ranks p={ranked.tolist()}"
    w = got.astype(np.float32)
    return row.astype(np.int32), ((w / w.sum(dtype=np.float32)).astype(np.float32) if renormalize else w)


def _read_back_ids(result: FusedResult, M: int, topk: int, unit_size: int, problems: list):
    """The kernel's [M, topk] expert choice, from its sorted output (no mask); -1 where absent."""
    ids = np.full((M, topk), -1, np.int64)
    n = int(result.num_valid_ids[0])
    if not 0 <= n <= result.sorted_ids.size or n % unit_size:
        problems.append(FusedProblem("num_valid_ids", "invalid-length", f"num_valid_ids[0]={n} is not a valid padded length"))
        return ids
    for pos in range(n):
        v = int(np.uint32(result.sorted_ids[pos]))
        token, slot = v & 0xFFFFFF, v >> 24
        if token < M and slot < topk:
            expert = int(result.sorted_expert_ids[pos // unit_size])
            if ids[token, slot] != -1:
                problems.append(FusedProblem("sorted_ids", "pair-twice", f"(token {token}, slot {slot}) appears twice"))
            ids[token, slot] = expert
    return ids


def degenerate_row_problem(row: np.ndarray, E: int) -> Optional[str]:
    """Why a degenerate row's read-back choice ``row`` (-1 where a slot has no pair) breaks
    the contract's clause (``topk`` distinct experts in ``[0, E)``), or None."""
    present = row[row >= 0]
    if present.size == row.size and (present < E).all() and np.unique(present).size == row.size:
        return None
    return (f"{present.size} of {row.size} slots sorted (experts {row.tolist()}, -1 = no pair); "
            f"expected {row.size} distinct experts in [0, {E})")


def _kept_once(row: np.ndarray, E: int) -> np.ndarray:
    """``row`` with ids outside ``[0, E)`` and repeats of an earlier slot's id set to -1."""
    out, seen = np.full_like(row, -1), set()
    for slot, e in enumerate(row.tolist()):
        if 0 <= e < E and e not in seen:
            out[slot] = e
            seen.add(e)
    return out


def _choices(logits, topk, result, unit_size, expert_mask, renormalize, M, problems):
    """Golden ids and weights, with the kernel's own choice read back for near-tie and
    degenerate rows; ``(ids, weights, near-tie rows, degenerate rows, conclusive)``."""
    E = logits.shape[1]
    gold_ids, gold_w = oracle.softmax_topk(logits, topk, renormalize)
    degenerate = [int(r) for r in np.flatnonzero(oracle.degenerate_rows(logits)[:M])]
    ties = [r for r in near_tie_rows(logits, topk, M) if r not in degenerate]
    if not ties and not degenerate:
        return gold_ids, gold_w, ties, degenerate, True
    if expert_mask is not None:
        problems.append(FusedProblem("sorted_ids", "inconclusive", "near-tie or degenerate rows with an expert mask: "
                                     "cannot read back the kernel's choice"))
        return gold_ids, gold_w, ties, degenerate, False
    kernel_ids = _read_back_ids(result, M, topk, unit_size, problems)
    probs = oracle.softmax(logits)
    for r in ties:
        accepted = accept_near_tie_choice(probs[r], kernel_ids[r], renormalize)
        if isinstance(accepted, str):
            problems.append(FusedProblem("sorted_ids", "near-tie-choice", f"near-tie row {r}: {accepted}"))
            continue
        gold_ids[r], gold_w[r] = accepted
    for r in degenerate:
        why = degenerate_row_problem(kernel_ids[r], E)
        if why:
            problems.append(FusedProblem("sorted_ids", DEGENERATE_ROW_PAIRS, f"degenerate row {r}: {why}", r))
        gold_ids[r] = _kept_once(kernel_ids[r], E)   # the expected sort holds the kernel's valid pairs
        gold_w[r] = np.float32(np.nan)
    return gold_ids, gold_w, ties, degenerate, True


def _tokens_without_pairs(result, M, topk, unit_size, gold_ids, degenerate, problems) -> None:
    """A token below M that the sort holds no pair of (and whose row is not degenerate) is a
    problem of its own (:data:`TOKEN_WITHOUT_PAIRS`, its row named); it is then expected as
    dropped, so the other outputs are compared as if its row chose no expert."""
    kernel_ids = _read_back_ids(result, M, topk, unit_size, [])
    for r in np.flatnonzero((kernel_ids < 0).all(axis=1)):
        if int(r) in degenerate or (gold_ids[r] < 0).all():
            continue
        problems.append(FusedProblem("sorted_ids", TOKEN_WITHOUT_PAIRS, f"token {int(r)} has no pair in the sort",
                                     int(r)))
        gold_ids[r] = -1


def check_fused(logits: torch.Tensor, topk: int, result: FusedResult, *, unit_size: int = 32,
                expert_mask=None, renormalize: bool = True,
                num_local_tokens: Optional[int] = None) -> FusedVerdict:
    """Judge ``result`` against ``softmax_topk`` + ``moe_sorting`` (module docstring)."""
    T, E = logits.shape
    M = T if num_local_tokens is None else num_local_tokens
    problems: list = []
    gold_ids, gold_w, ties, degenerate, conclusive = _choices(
        logits, topk, result, unit_size, expert_mask, renormalize, M, problems)
    if not conclusive:
        return FusedVerdict(False, False, problems, ties, degenerate)
    if any(p.kind not in ROW_PROBLEMS for p in problems):
        return FusedVerdict(False, True, problems, ties, degenerate)
    if expert_mask is None:
        _tokens_without_pairs(result, M, topk, unit_size, gold_ids, degenerate, problems)
    gold_ids = np.ascontiguousarray(gold_ids, np.int32)
    dropped = (gold_ids[:M] < 0).any()
    expected = oracle.moe_sorting(gold_ids, np.ascontiguousarray(gold_w, np.float32), E, unit_size, expert_mask,
                                  num_local_tokens, invalid_ids="drop" if dropped else "reject")
    n = int(expected.num_valid_ids[0])
    if not np.array_equal(result.num_valid_ids, expected.num_valid_ids):
        problems.append(FusedProblem("num_valid_ids", "differ",
                                     f"{result.num_valid_ids.tolist()} != {expected.num_valid_ids.tolist()}"))
        n = min(n, int(result.num_valid_ids[0]) if 0 <= result.num_valid_ids[0] <= n else n)
    bad = np.nonzero(result.sorted_ids[:n] != expected.sorted_ids[:n])[0]
    if bad.size:
        i = int(bad[0])
        problems.append(FusedProblem("sorted_ids", "differ", f"differ at {bad.size} positions, first {i}: "
                                     f"{int(np.uint32(result.sorted_ids[i])):#x} != "
                                     f"{int(np.uint32(expected.sorted_ids[i])):#x}"))
    nb = n // unit_size
    badb = np.nonzero(result.sorted_expert_ids[:nb] != expected.sorted_expert_ids[:nb])[0]
    if badb.size:
        problems.append(FusedProblem("sorted_expert_ids", "differ", f"differ at blocks {badb[:8].tolist()}"))
    problems += _weight_problems(result, expected, n, topk, M, degenerate)
    if not result.moe_buf_zeroed:
        problems.append(FusedProblem("moe_buf", "not-zeroed", "moe_buf was not zeroed"))
    return FusedVerdict(not problems, True, problems, ties, degenerate)


def _weight_problems(result: FusedResult, expected, n: int, topk: int, M: int, degenerate: list) -> list:
    """Padding weights exactly +0.0; other weights within tolerance, except a degenerate row's."""
    problems = []
    sentinel = np.int32(np.uint32((topk << 24) | M).view(np.int32)) if n else None
    is_pad = expected.sorted_ids[:n] == sentinel
    w, w_ref = result.sorted_weights[:n], expected.sorted_weights[:n]
    pad_bits = w[is_pad].view(np.uint32)
    if pad_bits.size and pad_bits.any():
        problems.append(FusedProblem("sorted_weights", "padding-not-zero",
                                     f"padding weights are not +0.0 at {int((pad_bits != 0).sum())} positions"))
    tokens = expected.sorted_ids[:n].view(np.uint32) & 0xFFFFFF
    judged = ~is_pad & ~np.isin(tokens, degenerate)
    err = np.abs(w[judged].astype(np.float64) - w_ref[judged]) - (WEIGHT_RTOL * np.abs(w_ref[judged]) + WEIGHT_ATOL)
    if err.size and not (err <= 0).all():
        i = int(np.nonzero(~(err <= 0))[0][0])
        problems.append(FusedProblem("sorted_weights", "outside-tolerance",
                                     f"weights outside tolerance at {int((~(err <= 0)).sum())} positions, first: "
                                     f"{float(w[judged][i])!r} vs {float(w_ref[judged][i])!r}"))
    return problems
