"""Race witnesses: a schedule of interleaved waves under which a case's outputs are wrong.

The race checks report a race wherever one exists on the path run, whatever
the schedule; a *witness* shows what the race does.  :func:`search` runs a
case under interleaved schedules (:mod:`kernels.emu.schedule`) and stops at
the first whose run differs from the expected result:

1. ``rr:seed=0`` (round robin), which also measures the workgroups' step
   counts (the horizon of PCT's change points);
2. PCT schedules ``pct:seed=S:depth=D:steps=K`` for seeds ``S = seed,
   seed + 1, ...`` with depths cycling through 1, 2, 3 (depth 1: the waves in
   random priority order between barriers; each extra depth one change point).

Lockstep runs first (``run(None)``): a case that differs already in lockstep
has a bug no schedule is needed for, and the search stops there.  A run is
given as ``run(schedule) -> differences`` (empty when it agrees);
:func:`fixture_runner` builds one for a fixture on a backend, judged against the
golden model (every output mismatch, and a launch that raised).  Every
schedule prints as a string that :meth:`~kernels.emu.schedule.Schedule.parse`
reads back, so ``--replay`` reruns a witness exactly.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Iterator, Optional

from kernels.emu.schedule import Schedule
from kernels.emu.stats import STATS

#: PCT depths the search cycles through.
DEPTHS = (1, 2, 3)


@dataclasses.dataclass
class SearchResult:
    """What a search found: ``witness`` (the first schedule whose run differed, or None),
    its ``differences``, how many schedules ran (``tried``), the PCT horizon used
    (``steps``), the wall time, whether it stopped at its time budget, and the
    differences of the lockstep run (``lockstep``; when there are any no schedule ran)."""

    witness: Optional[Schedule]
    differences: list
    tried: int
    steps: int
    seconds: float
    out_of_time: bool = False
    lockstep: list = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        if self.lockstep:
            return f"the lockstep run already differs ({len(self.lockstep)} difference(s)): no schedule tried"
        if self.witness is not None:
            return (f"witness after {self.tried} schedule(s) ({self.seconds:.1f} s): {self.witness}; "
                    f"{len(self.differences)} difference(s)")
        why = f" (time budget reached after {self.seconds:.1f} s)" if self.out_of_time else f" ({self.seconds:.1f} s)"
        return f"no witness in {self.tried} schedules{why}"


def pct_schedules(seed: int, steps: int) -> Iterator[Schedule]:
    """PCT schedules for seeds ``seed, seed + 1, ...``, depths cycling through :data:`DEPTHS`."""
    i = 0
    while True:
        yield Schedule("pct", seed + i, DEPTHS[i % len(DEPTHS)], max(steps, 1))
        i += 1


def _steps_since(mark: int) -> int:
    return max((r.schedule_steps for r in STATS.records[mark:]), default=0)


def search(run: Callable[[Optional[Schedule]], list], schedules: int, seed: int = 0,
           budget: Optional[float] = None) -> SearchResult:
    """Run ``run`` in lockstep, then under up to ``schedules`` interleaved schedules (round robin first, then PCT
    with seeds from ``seed``), stopping at the first with differences or when ``budget``
    seconds have passed."""
    if schedules < 1:
        raise ValueError(f"schedules={schedules!r}; expected at least 1")
    start = time.perf_counter()
    lockstep = run(None)
    if lockstep:
        return SearchResult(None, [], 0, 0, time.perf_counter() - start, lockstep=lockstep)
    mark = len(STATS.records)
    first = Schedule("rr", 0)
    diff = run(first)
    steps = _steps_since(mark)
    tried = 1
    if diff:
        return SearchResult(first, diff, tried, steps, time.perf_counter() - start)
    for schedule in pct_schedules(seed, steps):
        if tried >= schedules:
            break
        if budget is not None and time.perf_counter() - start > budget:
            return SearchResult(None, [], tried, steps, time.perf_counter() - start, out_of_time=True)
        diff = run(schedule)
        tried += 1
        if diff:
            return SearchResult(schedule, diff, tried, steps, time.perf_counter() - start)
    return SearchResult(None, [], tried, steps, time.perf_counter() - start)


def fixture_runner(fixture, backend: str, target: Optional[str] = None) -> Callable[[Optional[Schedule]], list]:
    """``run(schedule)`` (None: lockstep) for a fixture (of ids or of logits) on a backend of the
    CPU interpreter that takes its input: the fixture's inputs judged against the golden model
    with the interpreter in the interleaved mode; its differences are the output mismatches
    (as described by :meth:`oracle.Mismatch.describe`; past the first twenty, a line of the
    counts per output and kind) and, when the launch raised, what it raised."""
    import kernels.emu as emu

    if fixture.takes == "logits":
        from .judge_logits import judge_router

        def judge():
            return judge_router(backend, fixture.inputs, target)
    else:
        from .judge import judge_inputs

        kwargs = dict(fixture.run_args(), moe_buf=fixture.moe_buf())

        def judge():
            j = judge_inputs(backend, kwargs, target, canary=False)
            if j is None:
                raise ValueError(f"backend {backend!r} takes no policy for the ids of {fixture.name}")
            return j

    def run(schedule: Optional[Schedule]) -> list:
        with emu.interpreter_options(schedule=schedule):
            j = judge()
        out = [m.describe() for m in (j.verdict.mismatches if j.verdict is not None else [])]
        if out and len(out) < sum(j.verdict.total_counts.values()):      # compare() lists the first few
            out.append("in all: " + ", ".join(f"{n} {key}" for key, n in sorted(j.verdict.total_counts.items())))
        if j.raised is not None:
            out.append(f"the launch raised {type(j.raised).__name__}: {j.raised}")
        return out

    return run
