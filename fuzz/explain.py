"""The region of a finding: re-run it around its minimal case and record where it triggers.

Shrinking gives the smallest input that shows a finding; a write-up of that
input describes the input, not the bug.  :func:`explore` re-runs the case
with one thing changed at a time:

- ``T``: 0, 1, the case's T, and both sides of every path boundary of the
  backend (as its own dispatch decides, per target);
- ``mask``: expert mask off, and on (half the experts);
- ``M < T``: ``num_local_tokens`` below T on the oneshot side and past it;
- ``target``: every target of the backend (each variant runs on all);
- ``E`` and ``topk``: one below and above the case's values, twice E, and a
  production value (E = 257, topk = 9);
- for a case with invalid ids (``Case.hostile_ids``): ``ids``, every kind of
  invalid id in the case's place (what a router would have to send), and
  ``rows``, the rows they are planted in.

Each run is judged (:func:`fuzz.judge.run_case`) and counts as *triggering*
when the tracked failure shows: a known finding's id among its matched
entries, or a new failure with the same signature (target and path aside).
The :class:`Region` holds every run and a one-paragraph statement of where
the finding triggers and where it does not.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from cases import HOSTILE_KINDS, HOSTILE_ROWS, Case
from kernels.registry import get
from regressions.regions import describe

from .judge import Outcome, run_case


@dataclasses.dataclass
class Probe:
    axis: str          # "T", "mask", "M<T", "E", "topk", and for invalid ids "ids", "rows"
    value: str         # the axis value, as shown
    case: Case
    target: Optional[str]
    triggers: bool
    path: Optional[str]
    judged: bool


@dataclasses.dataclass
class Region:
    finding: str       # a known-finding id, or a signature key
    backend: str
    base: Case
    probes: list

    def by_axis(self) -> dict:
        """axis -> value -> {target: triggers}."""
        out: dict = {}
        for p in self.probes:
            out.setdefault(p.axis, {}).setdefault(p.value, {})[p.target or "-"] = p.triggers
        return out

    def summary(self) -> str:
        """Where it triggers, axis by axis, in words."""
        return describe(self.by_axis())

    def to_dict(self) -> dict:
        return {
            "finding": self.finding, "backend": self.backend, "base": self.base.to_dict(),
            "summary": self.summary(),
            "axes": {axis: {v: t for v, t in values.items()} for axis, values in self.by_axis().items()},
            "command": f"python -m fuzz explain FIXTURE --backend {self.backend}",
        }


def triggers_for(finding: str) -> Callable[[Outcome], bool]:
    """The test a run must pass to count as showing ``finding`` (an entry id or a signature key)."""
    if "/" not in finding:
        return lambda o: finding in o.known_counts
    backend, _target, _path, output, kind = finding.split("/", 4)
    return lambda o: any((s.backend, s.output, s.kind) == (backend, output, kind) for s in o.signatures)


def _clip(case: Case, **changes) -> Optional[Case]:
    """``case`` with ``changes``, topk and M clipped to fit; None when no case fits (a
    repeated id needs topk >= 2)."""
    topk = min(changes.get("topk", case.topk), changes.get("num_experts", case.num_experts))
    local = changes.get("num_local_tokens", case.num_local_tokens)
    tokens = changes.get("tokens", case.tokens)
    if local is not None and local > tokens:
        local = tokens
    try:
        return dataclasses.replace(case, **dict(changes, topk=topk, num_local_tokens=local))
    except ValueError:
        return None


def variants(base: Case, boundaries: tuple) -> list:
    """``[(axis, value, case)]``: the case with one thing changed at a time."""
    out = []
    tokens = sorted({0, 1, base.tokens} | {t for b in boundaries for t in (b - 1, b) if t >= 0})
    for t in tokens:
        out.append(("T", str(t), _clip(base, tokens=t)))
    masked = base.mask_mode != "none"
    out.append(("mask", "on" if masked else "off", base))
    out.append(("mask", "off" if masked else "on",
                _clip(base, mask_mode="none") if masked else _clip(base, mask_mode="ratio", mask_ratio=0.5)))
    small = [b - 1 for b in boundaries if b > 1][:1] or [1]
    for m in small + [small[0] + 1]:
        out.append(("M<T", f"M={m},T={m + 7}", _clip(base, tokens=m + 7, num_local_tokens=m)))
    E = base.num_experts
    for e in sorted({max(1, E - 1), E, E + 1, 2 * E, 257}):
        out.append(("E", str(e), _clip(base, num_experts=e)))
    k = base.topk
    for kk in sorted({max(1, k - 1), k, k + 1, 9}):
        if kk <= base.num_experts:
            out.append(("topk", str(kk), _clip(base, topk=kk)))
    if base.hostile:
        for kind in HOSTILE_KINDS[1:]:
            out.append(("ids", kind, _clip(base, hostile_ids=kind)))
        for rows in HOSTILE_ROWS:
            out.append(("rows", rows, _clip(base, hostile_rows=rows)))
    return [v for v in out if v[2] is not None]


def explore(base: Case, finding: str, backend: str, *, progress=None) -> Region:
    """Run the variants of ``base`` on every target of ``backend``; record which show ``finding``."""
    b = get(backend)
    shows = triggers_for(finding)
    boundaries = set()
    if b.path_boundaries is not None:
        for t in b.targets:
            boundaries.update(b.path_boundaries(base.num_experts, base.topk, base.unit_size, t))
    probes = []
    plan = [(axis, value, case, t) for axis, value, case in variants(base, tuple(sorted(boundaries)))
            for t in b.targets]
    for i, (axis, value, case, t) in enumerate(plan):
        o = run_case(case, backend, t)
        probes.append(Probe(axis, value, case, t, shows(o), o.path, o.judged))
        if progress:
            progress(i + 1, len(plan), axis, value, t, probes[-1].triggers)
    return Region(finding, backend, base, probes)
