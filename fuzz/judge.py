"""Run one case on one backend and judge it: outputs against the golden model,
findings against the known-findings list, memory safety always.

Every run is judged in full, whatever the interpreter found: the outputs
are compared with the golden model whenever the launch returned, and every
finding (recorded by the interpreter, or the one a raised sanitizer error or
host-code exception stands for) is either matched by an entry of
``regressions/known_findings.toml`` or reported.  A case fails only on what
no entry explains: a new finding, an output mismatch no ``wrong-output``
entry covers, or a crash of the launch that is no kernel finding -- and on
any break of the robustness clause (CONTRACT.md, "Robustness"): a write
into a red zone (on every backend), a launch past its time limit -- and on a
launch that ran other kernels than the backend's declared dispatch gives
its M (:mod:`fuzz.dispatch`).

Invalid expert ids.  A run has a policy (``oracle.invalid_ids``): inputs
with valid ids run under ``reject``; a case that plants invalid ids runs
under the weakest policy its ids need that the backend declares
(:func:`choose_policy`: ``drop`` when it only holds ids outside ``[0, E)``
and the backend drops them, else ``unchecked``).  Under ``drop`` the golden
model (``invalid_ids="drop"``) defines every output and the run is judged as
any other.  Under ``unchecked`` there is no golden answer: the run is judged
on the clause alone -- red zones, ``num_valid_ids`` bounds, the token,
slot and expert indices the next GEMM takes from the outputs
(``oracle.check_robustness``), termination, and the interpreter's
memory-safety findings (``kernels.emu.findings.MEMORY_SAFETY_CHECKS``; an
access outside every argument is reported even with the sanitizer off).
Its other new findings (a race between the two slots of a repeated expert)
are kept as ``tolerated``: the clause leaves such outputs unspecified.
Memory-safety failures have signatures of their own class (``fuzz.signature``).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Optional

import kernels
import oracle
from cases import Case
from kernels.emu.errors import SanitizerError
from kernels.emu.findings import MEMORY_SAFETY_CHECKS, Finding, finding_from_error, finding_from_exception
from kernels.registry import get
from oracle.inputs import local_tokens_value
from regressions import known_findings

from .dispatch import dispatch_error, dispatch_source
from .signature import (
    Signature,
    of_dispatch,
    of_exception,
    of_finding,
    of_mismatch,
    of_safety_mismatch,
    of_timeout,
)
from .time_limit import CaseTimeout, time_limit

#: Red-zone elements behind every output when the judge checks canaries.
RED_ZONE = 16


@dataclasses.dataclass(frozen=True)
class Failure:
    """One thing a run got wrong that no known finding explains."""

    signature: Signature
    summary: str
    finding: Optional[dict] = None      # the new finding (Finding.to_dict()), for finding signatures


@dataclasses.dataclass(kw_only=True)
class Judgement:
    """Everything one launch told, sorted into known and new (built with keywords)."""

    backend: str
    target: Optional[str]
    path: Optional[str]
    executed_on: str
    verdict: Optional[oracle.Verdict]      # None: the launch raised, no outputs to compare
    findings: list                          # every Finding of the launch
    known_counts: dict                      # known-finding id -> how many findings/mismatches it matched
    new: list                               # Findings no entry matches
    unexplained: list                       # Mismatches no wrong-output entry covers
    crash: Optional[BaseException] = None   # a raise that is no kernel finding
    raised: Optional[BaseException] = None  # whatever the launch raised (a finding or a crash)
    writer_note: str = ""                   # which store wrote the first unexplained mismatch
    invalid_ids: str = "reject"             # the policy of the run (oracle.invalid_ids)
    unsafe: list = dataclasses.field(default_factory=list)      # robustness Mismatches (red zones, bounds)
    tolerated: list = dataclasses.field(default_factory=list)   # new non-memory findings of an unchecked run
    timed_out: Optional[float] = None       # the time limit the launch ran past (seconds)
    dispatch: Optional[tuple] = None        # (declared kernels, description) of a launch that ran others
    dispatch_source: Optional[str] = None   # where the declared dispatch came from (None: none checked)
    text_changed: dict = dataclasses.field(default_factory=dict)  # known-finding id -> (entry's line text,
                                                                  # the finding's) of a "line text changed" match

    @property
    def ok(self) -> bool:
        return (not self.new and not self.unexplained and self.crash is None and not self.unsafe
                and self.timed_out is None and self.dispatch is None)

    @property
    def judged(self) -> bool:
        """The outputs were compared with the golden model."""
        return self.verdict is not None

    def failures(self) -> list:
        """One :class:`Failure` per new finding site, one per robustness mismatch (red
        zone, bounds), one for a launch past its time limit, then one for the
        unexplained output mismatches, then a launch that took another path than the
        declared dispatch, then the crash."""
        out = [Failure(of_finding(self.backend, f), f"[{self.backend} {self.target or ''}] new finding: "
                       f"{f.describe()}", f.to_dict()) for f in self.new]
        for m in self.unsafe:
            out.append(Failure(of_safety_mismatch(self.backend, self.target, self.path, m),
                               f"[{self.backend} {self.target or ''} path={self.path or '-'} {self.invalid_ids}] "
                               f"memory safety: {m.describe()}"))
        if self.timed_out is not None:
            out.append(Failure(of_timeout(self.backend, self.target, self.path),
                               f"[{self.backend} {self.target or ''} {self.invalid_ids}] the launch did not "
                               f"terminate within {self.timed_out:g} s"))
        if self.unexplained:
            out.append(Failure(of_mismatch(self.backend, self.target, self.path, self.unexplained[0]),
                               _mismatch_summary(self)))
        if self.dispatch is not None:
            expected, described = self.dispatch
            out.append(Failure(of_dispatch(self.backend, self.target, self.path, expected),
                               f"[{self.backend} {self.target or ''}] dispatch: {described}"))
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
        matched = f"; known: {', '.join(sorted(self.known_counts))}" if self.known_counts else ""
        matched += "".join(f"; known (line text changed): {k}, entry `{old}`, now `{now}`"
                         for k, (old, now) in sorted(self.text_changed.items()))
        policy = "" if self.invalid_ids == "reject" else f" {self.invalid_ids}"
        tolerated = f"; tolerated: {len(self.tolerated)} finding(s) outside the clause" if self.tolerated else ""
        return f"[{self.backend} {self.target or ''} path={self.path or '-'}{policy}] ok{matched}{tolerated}"


def _mismatch_summary(j: Judgement) -> str:
    v = j.verdict
    first = j.unexplained[0]
    more = len(j.unexplained) - 1
    return (f"[{j.backend} path={j.path or '-'} {v.ordering}] {first.describe()}{j.writer_note}"
            + (f"; {more} more mismatch{'es' if more != 1 else ''}" if more > 0 else ""))


def choose_policy(found: oracle.IdCensus, backend) -> Optional[str]:
    """The policy a run of inputs with invalid ids ``found`` takes on ``backend`` (a
    :class:`~kernels.registry.Backend`): ``reject`` for valid ids, else the weakest
    policy the ids need among those the backend declares; None when it declares none
    that fits (hostile ids are never fed to such a backend)."""
    needed = oracle.needed_policy(found)
    if needed == "reject":
        return "reject"
    for policy in ("drop", "unchecked")[("drop", "unchecked").index(needed):]:
        if policy in backend.invalid_ids:
            return policy
    return None


def judge_run(backend: str, expected, run_kwargs: dict, *, target=None, canary: bool = True,
              known_list=None, invalid_ids: str = "reject", seconds: Optional[float] = None) -> Judgement:
    """Launch ``kernels.run(backend, **run_kwargs, target=..., red_zone=..., invalid_ids=...)`` and judge it.

    ``expected`` is the golden model's result for those inputs (None under
    ``invalid_ids="unchecked"``, where only memory safety is judged); ``known_list`` the
    :class:`~regressions.known_findings.KnownFindings` (default: the committed list);
    ``seconds`` a time limit on each launch (:mod:`fuzz.time_limit`; None: none).
    When the launch raises a known finding whose entry names a ``retry`` (an input the
    kernel refuses), the case runs again with that input replaced and the retry's
    outputs are judged.
    """
    b = get(backend)
    known_list = known_list or known_findings.default()
    if (expected is None) != (invalid_ids == "unchecked"):
        raise ValueError(f"invalid_ids={invalid_ids!r} with expected={'None' if expected is None else 'a result'}: "
                         "only an unchecked run has no golden answer")
    launch = dict(target=target, red_zone=RED_ZONE if canary else 0, invalid_ids=invalid_ids, seconds=seconds)
    result, crash, raised, findings, timed_out = _launch(backend, b, run_kwargs, **launch)
    if raised is not None and crash is None and timed_out is None:
        entry = known_list.match(findings[-1], backend)
        if entry is not None and entry.retry:
            result, crash, _, more, timed_out = _launch(backend, b, known_findings.RETRIES[entry.retry](run_kwargs),
                                                        **launch)
            findings += more
    verdict, unsafe = None, []
    if result is not None and expected is not None:
        verdict = oracle.compare(expected, result, b.contract, canary=canary and not b.writes_past_extent)
        if canary and b.writes_past_extent:
            unsafe += oracle.red_zone_writes(result)
    elif result is not None:
        inputs = oracle.normalize_inputs(**{k: run_kwargs.get(k, v) for k, v in _INPUT_ARGS.items()},
                                         invalid_ids="unchecked")
        unsafe += oracle.check_robustness(result, inputs)
    counts, changed, new, tolerated = sort_findings(findings, known_list, backend, invalid_ids)
    mismatches = verdict.mismatches if verdict is not None else []
    unexplained = _unexplained([m for m in mismatches if m.kind != "red_zone"], known_list, result, backend, counts)
    unsafe = _unexplained(unsafe + [m for m in mismatches if m.kind == "red_zone"], known_list, result, backend, counts)
    dispatch, source = (None, None) if result is None else _dispatch(b, result.path, run_kwargs, target)
    return Judgement(backend=backend, target=target, path=getattr(result, "path", None),
                     executed_on=b.executes_on(target), verdict=verdict, findings=findings, known_counts=counts, new=new,
                     unexplained=unexplained, crash=crash, raised=raised,
                     writer_note=_writer_note(result, unexplained), invalid_ids=invalid_ids, unsafe=unsafe,
                     tolerated=tolerated, timed_out=timed_out, dispatch=dispatch, dispatch_source=source,
                     text_changed=changed)


def sort_findings(findings, known_list, backend: str, invalid_ids: str = "reject") -> tuple:
    """``(known counts, line-text changes, new, tolerated)`` of a launch's ``findings`` on
    ``backend`` against the list ``known_list``: each finding an entry matches is counted under
    its id (a "line text changed" match also records both texts); under ``unchecked`` a
    finding outside the memory-safety checks is tolerated; every other finding is new."""
    counts: dict = {}
    changed: dict = {}
    new, tolerated = [], []
    for f in findings:
        found = known_list.match_detail(f, backend)
        entry = None if found is None else found.entry
        if found is not None and found.kind == known_findings.LINE_TEXT_CHANGED:
            changed.setdefault(entry.id, (found.entry_text, found.finding_text))
        if entry is not None:
            counts[entry.id] = counts.get(entry.id, 0) + 1
        elif invalid_ids == "unchecked" and f.check not in MEMORY_SAFETY_CHECKS:
            tolerated.append(f)
        else:
            new.append(f)
    return counts, changed, new, tolerated


def _dispatch(b, path, run_kwargs: dict, target):
    """The declared-dispatch check of one launch (:func:`fuzz.dispatch.dispatch_error`) and
    where that dispatch came from (None when nothing was checked)."""
    if path is None:
        return None, None
    ids = run_kwargs["topk_ids"]
    local = run_kwargs.get("num_local_tokens")
    m = ids.shape[0] if local is None else local_tokens_value(local)
    shape = (run_kwargs["num_experts"], ids.shape[1], run_kwargs.get("unit_size", _INPUT_ARGS["unit_size"]))
    return (dispatch_error(b, path, int(m), *shape, target, t=int(ids.shape[0])),
            dispatch_source(b, *shape, target))


#: ``kernels.run``'s input arguments with their defaults (``None``: required).
_INPUT_ARGS = {"topk_ids": None, "topk_weights": None, "num_experts": None, "unit_size": 32, "expert_mask": None,
               "num_local_tokens": None}


def _unexplained(mismatches: list, known_list, result, backend: str, counts: dict) -> list:
    """The ``mismatches`` no ``wrong-output`` entry covers; covered ones are counted in
    ``counts`` under their entry's id."""
    out = []
    for m in mismatches:
        entry = known_list.match_mismatch(m, result, backend)
        if entry is None:
            out.append(m)
        else:
            counts[entry.id] = counts.get(entry.id, 0) + 1
    return out


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


def _launch(backend: str, b, run_kwargs: dict, *, target, red_zone: int, invalid_ids: str, seconds):
    """One launch: (result or None, crash or None, raised or None, findings, the time limit
    it ran past or None).  A raise that is a kernel finding ends the list of findings."""
    try:
        with time_limit(seconds):
            result = kernels.run(backend, **run_kwargs, target=target, red_zone=red_zone, invalid_ids=invalid_ids)
        return result, None, None, list(result.findings), None
    except CaseTimeout as exc:
        return None, None, exc, list(getattr(exc, "findings", [])), exc.seconds
    except Exception as exc:  # a crashing kernel is judged, never an error of the harness
        findings = list(getattr(exc, "findings", []))
        finding = _as_finding(exc, b)
        if finding is None:
            return None, exc, exc, findings, None
        return None, None, exc, findings + [finding], None


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
    known_counts: dict = dataclasses.field(default_factory=dict)  # known-finding id -> matches
    findings: list = dataclasses.field(default_factory=list)  # every Finding, as dicts
    invalid_ids: str = "reject"      # the policy of the run (oracle.invalid_ids)
    tolerated: list = dataclasses.field(default_factory=list)  # "<check>@<chain>" of findings an unchecked
                                                               # run tolerated (outside the clause)
    dispatch_source: Optional[str] = None    # where the declared dispatch checked came from (None: none)
    text_changed: dict = dataclasses.field(default_factory=dict)  # Judgement.text_changed

    @property
    def signatures(self) -> list:
        return [f.signature for f in self.failures]

    @property
    def signature(self) -> Optional[Signature]:
        """The first failure's signature (None when ok)."""
        return self.failures[0].signature if self.failures else None

    def failure(self, key: str) -> Failure:
        return next(f for f in self.failures if f.signature.key == key)


def judge_inputs(backend: str, run_kwargs: dict, target: Optional[str] = None, *, canary: bool = True,
                 known_list=None, seconds: Optional[float] = None) -> Optional[Judgement]:
    """Judge a launch of ``run_kwargs`` (keyword arguments of ``kernels.run``) under the
    policy its ids need (:func:`choose_policy`); None when ``backend`` declares no
    policy that takes them."""
    ids, m = run_kwargs["topk_ids"], run_kwargs.get("num_local_tokens")
    found = oracle.census(ids, len(ids) if m is None else local_tokens_value(m), run_kwargs["num_experts"])
    policy = choose_policy(found, get(backend))
    if policy is None:
        return None
    expected = None
    if policy != "unchecked":
        model_args = {k: v for k, v in run_kwargs.items() if k != "moe_buf"}
        expected = oracle.moe_sorting(**model_args, invalid_ids=policy)
    return judge_run(backend, expected, run_kwargs, target=target, canary=canary, known_list=known_list, invalid_ids=policy,
                     seconds=seconds)


def case_kwargs(case: Case) -> dict:
    """``kernels.run`` keyword arguments of ``case``'s inputs (its ``moe_buf`` included)."""
    ids, w, mask, _ = case.materialize()
    return dict(topk_ids=ids, topk_weights=w, num_experts=case.num_experts, unit_size=case.unit_size,
                expert_mask=mask, num_local_tokens=case.run_num_local_tokens(), moe_buf=case.moe_buf_array())


def run_case(case: Case, backend: str, target: Optional[str] = None, *, canary: bool = True,
             known_list=None, seconds: Optional[float] = None) -> Outcome:
    """Materialize ``case``, run it on ``backend`` and judge it (:func:`judge_inputs`).
    A case with invalid ids ``backend`` declares no policy for is refused (ValueError):
    hostile input never reaches a backend by accident.  A ``cases.LogitsCase`` is judged by
    :func:`fuzz.judge_logits.run_logits_case` (a backend that takes logits)."""
    if getattr(case, "kind", "ids") == "logits":
        from .judge_logits import run_logits_case

        return run_logits_case(case, backend, target, known_list=known_list, seconds=seconds)
    start = time.perf_counter()
    j = judge_inputs(backend, case_kwargs(case), target, canary=canary, known_list=known_list, seconds=seconds)
    if j is None:
        raise ValueError(f"{case.name}: its ids need invalid_ids='drop' or 'unchecked'; backend {backend!r} "
                         f"supports {get(backend).invalid_ids}")
    elapsed = time.perf_counter() - start
    return Outcome(case, backend, target, j.path, j.ok, j.failures(), j.summary, elapsed,
                   j.executed_on, j.judged, dict(j.known_counts), [f.to_dict() for f in j.findings], j.invalid_ids,
                   [f"{f.check}@{f.chain}" for f in j.tolerated], j.dispatch_source, dict(j.text_changed))
