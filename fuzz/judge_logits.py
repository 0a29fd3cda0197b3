"""Judge one launch of a backend that takes logits, as :mod:`fuzz.judge` judges a sort.

The outputs are judged by the gating contract of ``oracle/CONTRACT.md``
(near ties, degenerate rows, weight tolerance): a sort (``FusedResult``, of the
fused entry or the torch reference) by
``kernels.backends.flydsl_upstream_fused.check_fused``, a top-k choice
(``GatingResult``) by ``kernels.backends.flydsl_upstream_gating.check_gating``.
Each problem becomes an ``oracle.Mismatch`` (output, kind, the row in its
detail); a ``wrong-output`` entry of the known findings may cover it.  A case
the contract leaves inconclusive (near-tie or degenerate rows under an expert
mask: the kernel's choice cannot be read back) is not judged
(``Judgement.judged`` False) and fails only on findings.  The interpreter's
findings, a crash, a launch past its time limit and a launch that ran other
kernels than the backend's declared dispatch gives its M (:mod:`fuzz.dispatch`)
are judged as for a sort, into the same :class:`~fuzz.judge.Judgement`,
signatures and summaries.  There are no red zones: the launch allocates its own
outputs.
"""
from __future__ import annotations

import time
from typing import Optional

import oracle
from kernels.registry import get
from regressions import known_findings

from .dispatch import dispatch_error, dispatch_source
from .judge import Judgement, Outcome, _as_finding, _unexplained, sort_findings
from .time_limit import CaseTimeout, time_limit

#: The ``ordering`` of a logits verdict: the contract it is judged by.
ORDERING = "gating-contract"


def _mismatches(problems) -> list:
    out = []
    for p in problems:
        row = getattr(p, "row", None)
        out.append(oracle.Mismatch(output=p.output, kind=p.kind, token=row,
                                   detail=(f"row {row}: " if row is not None else "") + p.detail))
    return out


def verdict_of(run, inputs, backend: str) -> Optional[oracle.Verdict]:
    """The gating-contract verdict of ``run`` (a ``RouterRun``) for ``inputs`` (a
    ``cases.RouterInputs``); None when the contract leaves the case inconclusive."""
    from kernels.backends.flydsl_upstream_fused import FusedResult, check_fused
    from kernels.backends.flydsl_upstream_gating import check_gating

    logits = inputs.logits()
    if isinstance(run.result, FusedResult):
        v = check_fused(logits, inputs.topk, run.result, unit_size=inputs.unit_size, expert_mask=inputs.expert_mask,
                        renormalize=inputs.renormalize, num_local_tokens=inputs.num_local_tokens)
        if not v.checked:
            return None
        problems = v.problems
    else:
        problems = check_gating(logits, inputs.topk, run.result, renormalize=inputs.renormalize).problems
    return oracle.Verdict(_mismatches(problems), ORDERING, run.path, backend)


def judge_router(backend: str, inputs, target=None, *, known_list=None, seconds: Optional[float] = None) -> Judgement:
    """Launch ``backend`` (``takes == "logits"``) on ``inputs`` and judge it (module docstring)."""
    b = get(backend)
    if b.takes != "logits":
        raise ValueError(f"backend={backend!r} takes {b.takes}, not logits")
    reason = b.probe()
    if reason is not None:
        raise RuntimeError(f"backend={backend!r} is unavailable here: {reason}")
    known_list = known_list or known_findings.default()
    run, crash, raised, findings, timed_out = None, None, None, [], None
    try:
        with time_limit(seconds):
            run = b.launch(inputs, target)
        findings = list(run.findings)
    except CaseTimeout as exc:
        raised, findings, timed_out = exc, list(getattr(exc, "findings", [])), exc.seconds
    except Exception as exc:  # a crashing kernel is judged, never an error of the harness
        raised, findings = exc, list(getattr(exc, "findings", []))
        finding = _as_finding(exc, b)
        if finding is None:
            crash = exc
        else:
            findings.append(finding)
    verdict = None if run is None else verdict_of(run, inputs, backend)
    counts, changed, new, _ = sort_findings(findings, known_list, backend)
    result = None if run is None else run.result
    unexplained = _unexplained([] if verdict is None else verdict.mismatches, known_list, result, backend, counts)
    path = None if run is None else run.path
    dispatch = None if path is None else dispatch_error(b, path, inputs.m, inputs.num_experts, inputs.topk,
                                                        inputs.unit_size, target)
    source = None if path is None else dispatch_source(b, inputs.num_experts, inputs.topk, inputs.unit_size, target)
    return Judgement(backend=backend, target=target, path=path, executed_on=b.executes_on(target), verdict=verdict,
                     findings=findings, known_counts=counts, new=new, unexplained=unexplained, crash=crash, raised=raised,
                     timed_out=timed_out, dispatch=dispatch, dispatch_source=source, text_changed=changed)


def run_logits_case(case, backend: str, target=None, *, known_list=None, seconds: Optional[float] = None) -> Outcome:
    """Rebuild ``case`` (a ``cases.LogitsCase``), run it on ``backend`` and judge it."""
    start = time.perf_counter()
    j = judge_router(backend, case.inputs(), target, known_list=known_list, seconds=seconds)
    return Outcome(case, backend, target, j.path, j.ok, j.failures(), j.summary, time.perf_counter() - start,
                   j.executed_on, j.judged, dict(j.known_counts), [f.to_dict() for f in j.findings], j.invalid_ids, [])
