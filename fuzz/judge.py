"""Run one case on one backend and judge it: outputs against the golden model,
findings against the known-findings list.

Every run is judged in full, whatever the interpreter found: the outputs
are compared with the golden model whenever the launch returned, and every
finding (recorded by the interpreter, or the one a raised sanitizer error or
host-code exception stands for) is either matched by an entry of
``regressions/known_findings.toml`` or reported.  A case fails only on what
no entry explains: a new finding, an output mismatch no ``wrong-output``
entry covers, or a crash of the launch that is no kernel finding.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Optional

import kernels
import oracle
from cases import Case
from kernels.emu.errors import SanitizerError
from kernels.emu.findings import Finding, finding_from_error, finding_from_exception
from kernels.registry import get
from regressions import known_findings

from .signature import Signature, of_exception, of_finding, of_mismatch


@dataclasses.dataclass(frozen=True)
class Failure:
    """One thing a run got wrong that no known finding explains."""

    signature: Signature
    summary: str
    finding: Optional[dict] = None      # the new finding (Finding.to_dict()), for finding signatures


@dataclasses.dataclass
class Judgement:
    """Everything one launch told, sorted into known and new."""

    backend: str
    target: Optional[str]
    path: Optional[str]
    executed_on: str
    verdict: Optional[oracle.Verdict]      # None: the launch raised, no outputs to compare
    findings: list                          # every Finding of the launch
    known: dict                             # known-finding id -> how many findings/mismatches it matched
    new: list                               # Findings no entry matches
    unexplained: list                       # Mismatches no wrong-output entry covers
    crash: Optional[BaseException] = None   # a raise that is no kernel finding
    raised: Optional[BaseException] = None  # whatever the launch raised (a finding or a crash)

    @property
    def ok(self) -> bool:
        return not self.new and not self.unexplained and self.crash is None

    writer_note: str = ""                   # which store wrote the first unexplained mismatch

    @property
    def judged(self) -> bool:
        """The outputs were compared with the golden model."""
        return self.verdict is not None

    def failures(self) -> list:
        """One :class:`Failure` per new finding site, then one for the unexplained
        output mismatches, then the crash."""
        out = [Failure(of_finding(self.backend, f), f"[{self.backend} {self.target or ''}] new finding: "
                       f"{f.describe()}", f.to_dict()) for f in self.new]
        if self.unexplained:
            out.append(Failure(of_mismatch(self.backend, self.target, self.path, self.unexplained[0]),
                               _mismatch_summary(self)))
        if self.crash is not None:
            out.append(Failure(of_exception(self.backend, self.target, self.path, self.crash),
                               f"[{self.backend} {self.target or ''}] launch raised "
                               f"{type(self.crash).__name__}: {self.crash}"))
        return out

    @property
    def summary(self) -> str:
        fails = self.failures()
        if fails:
            more = f" (+{len(fails) - 1} more)" if len(fails) > 1 else ""
            return fails[0].summary + more
        known = f"; known: {', '.join(sorted(self.known))}" if self.known else ""
        return f"[{self.backend} {self.target or ''} path={self.path or '-'}] ok{known}"


def _mismatch_summary(j: Judgement) -> str:
    v = j.verdict
    first = j.unexplained[0]
    more = len(j.unexplained) - 1
    return (f"[{j.backend} path={j.path or '-'} {v.ordering}] {first.describe()}{j.writer_note}"
            + (f"; {more} more mismatch{'es' if more != 1 else ''}" if more > 0 else ""))


def judge_run(backend: str, expected, run_kwargs: dict, *, target=None, canary: bool = True,
              known=None) -> Judgement:
    """Launch ``kernels.run(backend, **run_kwargs, target=..., red_zone=...)`` and judge it.

    ``expected`` is the golden model's result for those inputs; ``known`` the
    :class:`~regressions.known_findings.KnownFindings` (default: the committed list).
    When the launch raises a known finding whose entry names a ``retry`` (an input the
    kernel refuses), the case runs again with that input replaced and the retry's
    outputs are judged.
    """
    b = get(backend)
    known = known or known_findings.default()
    result, crash, raised, findings = _launch(backend, b, run_kwargs, target, canary)
    if raised is not None and crash is None:
        entry = known.match(findings[-1], backend)
        if entry is not None and entry.retry:
            result, crash, _, more = _launch(backend, b, known_findings.RETRIES[entry.retry](run_kwargs), target,
                                             canary)
            findings += more
    verdict = None
    if result is not None:
        verdict = oracle.compare(expected, result, b.contract, canary=canary and not b.writes_past_extent)
    counts: dict = {}
    new = []
    for f in findings:
        entry = known.match(f, backend)
        if entry is None:
            new.append(f)
        else:
            counts[entry.id] = counts.get(entry.id, 0) + 1
    unexplained = []
    for m in (verdict.mismatches if verdict is not None else []):
        entry = known.match_mismatch(m, result, backend)
        if entry is None:
            unexplained.append(m)
        else:
            counts[entry.id] = counts.get(entry.id, 0) + 1
    return Judgement(backend, target, getattr(result, "path", None), b.executes_on(target), verdict, findings,
                     counts, new, unexplained, crash, raised, _writer_note(result, unexplained))


def _writer_note(result, mismatches) -> str:
    """``; written by <kernel> at <line>`` for the first mismatch of an element the
    interpreter tracked (empty when it tracked none)."""
    if result is None or not mismatches or not result.written_by:
        return ""
    m = mismatches[0]
    ids = result.written_by.get(m.output)
    if ids is None or m.index is None or m.index >= len(ids):
        return ""
    sid = int(ids[m.index])
    if sid < 0:
        return "; no kernel store wrote it"
    return f"; written by {result.writer_sites[sid]}"


def _launch(backend: str, b, run_kwargs: dict, target, canary: bool):
    """One launch: (result or None, crash or None, raised or None, findings).  A raise
    that is a kernel finding ends the list of findings."""
    try:
        result = kernels.run(backend, **run_kwargs, target=target, red_zone=16 if canary else 0)
        return result, None, None, list(result.findings)
    except Exception as exc:  # a crashing kernel is judged, never an error of the harness
        findings = list(getattr(exc, "findings", []))
        finding = _as_finding(exc, b)
        if finding is None:
            return None, exc, exc, findings
        return None, None, exc, findings + [finding]


def _as_finding(exc: BaseException, backend) -> Optional[Finding]:
    """The kernel finding a raise stands for: a sanitizer error (raise mode), or an
    exception from the backend's kernel source tree; None for anything else."""
    if isinstance(exc, SanitizerError):
        return finding_from_error(exc)
    return finding_from_exception(exc, backend.sources())


@dataclasses.dataclass
class Outcome:
    """The judgement of one (case, backend, target) run."""

    case: Case
    backend: str
    target: Optional[str]
    path: Optional[str]
    ok: bool
    failures: list                   # Failure, one per signature (empty when ok)
    summary: str
    seconds: float
    executed_on: str = ""
    judged: bool = True              # the outputs were compared with the golden model
    known: dict = dataclasses.field(default_factory=dict)     # known-finding id -> matches
    findings: list = dataclasses.field(default_factory=list)  # every Finding, as dicts

    @property
    def signatures(self) -> list:
        return [f.signature for f in self.failures]

    @property
    def signature(self) -> Optional[Signature]:
        """The first failure's signature (None when ok)."""
        return self.failures[0].signature if self.failures else None

    def failure(self, key: str) -> Failure:
        return next(f for f in self.failures if f.signature.key == key)


def run_case(case: Case, backend: str, target: Optional[str] = None, *, canary: bool = True,
             known=None) -> Outcome:
    """Materialize ``case``, run it on ``backend`` and judge it (:func:`judge_run`)."""
    ids, w, mask, local = case.materialize()
    expected = oracle.moe_sorting(ids, w, case.num_experts, case.unit_size, mask, local)
    start = time.perf_counter()
    j = judge_run(backend, expected, dict(topk_ids=ids, topk_weights=w, num_experts=case.num_experts,
                                          unit_size=case.unit_size, expert_mask=mask, num_local_tokens=local,
                                          moe_buf=case.moe_buf_array()),
                  target=target, canary=canary, known=known)
    elapsed = time.perf_counter() - start
    return Outcome(case, backend, target, j.path, j.ok, j.failures(), j.summary, elapsed,
                   j.executed_on, j.judged, dict(j.known), [f.to_dict() for f in j.findings])
