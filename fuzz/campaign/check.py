"""Run one case on one backend and judge it against the golden model."""
from __future__ import annotations

import dataclasses
import time
from typing import Optional

import kernels
import oracle
from cases import Case
from kernels.registry import get

from .signature import Signature, of_exception, of_verdict


@dataclasses.dataclass
class Outcome:
    """The judgement of one (case, backend, target) run."""

    case: Case
    backend: str
    target: Optional[str]
    path: Optional[str]
    ok: bool
    signature: Optional[Signature]
    summary: str
    seconds: float
    executed_on: str = ""


def run_case(case: Case, backend: str, target: Optional[str] = None, *, canary: bool = True) -> Outcome:
    """Materialize ``case``, run it on ``backend`` and compare with the golden model.

    A launch that raises is a failure with a ``crash:<Exception>`` signature,
    never an error of the harness itself.
    """
    b = get(backend)
    ids, w, mask, local = case.materialize()
    expected = oracle.moe_sorting(ids, w, case.num_experts, case.unit_size, mask, local)
    start = time.perf_counter()
    try:
        result = kernels.run(backend, ids, w, case.num_experts, case.unit_size, mask, local,
                             target=target, moe_buf=case.moe_buf_array(), red_zone=16 if canary else 0)
    except Exception as exc:  # a crashing kernel is a finding, not a harness error
        elapsed = time.perf_counter() - start
        sig = of_exception(backend, target, None, exc)
        return Outcome(case, backend, target, None, False, sig,
                       f"[{backend} {target or ''}] launch raised {type(exc).__name__}: {exc}", elapsed)
    elapsed = time.perf_counter() - start
    verdict = oracle.compare(expected, result, b.contract, canary=canary and not b.writes_past_extent)
    sig = None if verdict.ok else of_verdict(backend, target, verdict)
    return Outcome(case, backend, target, result.path, verdict.ok, sig, verdict.summary, elapsed,
                   result.executed_on)
