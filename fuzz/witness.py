"""Race witnesses: a schedule of interleaved waves under which a case's outputs are wrong.

The race checks report a race wherever one exists on the path run, whatever
the schedule; a *witness* shows what the race does.  :func:`search` runs a
case under interleaved schedules (:mod:`kernels.emu.schedule`) and stops at
the first whose run differs from the expected result:

1. ``rr:seed=0`` (round robin), which also measures the batches' step
   counts (the horizon of PCT's change points);
2. PCT schedules ``pct:seed=S:depth=D:steps=K`` for seeds ``S = seed,
   seed + 1, ...`` with depths cycling through 1, 2, 3 (depth 1: the waves in
   random priority order between barriers; each extra depth one change point).

Lockstep runs first (``run(None)``).  A case whose lockstep outputs already
differ from the golden model (a known wrong output) has a bug no schedule is
needed for; a schedule is then a witness when its differences are not the
lockstep run's (new ones, or some of the lockstep run's gone), and only that
change is reported.  A run is given as ``run(schedule) -> differences`` (empty when it agrees);
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
    its ``differences`` (beyond the lockstep run's), how many schedules ran (``tried``),
    the PCT horizon used (``steps``), the wall time, whether it stopped at its time
    budget, and the differences of the lockstep run from the expected result (``lockstep``)."""

    witness: Optional[Schedule]
    differences: list
    tried: int
    steps: int
    seconds: float
    out_of_time: bool = False
    lockstep: list = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        if self.witness is not None:
            beyond = " beyond the lockstep run's" if self.lockstep else ""
            return (f"witness after {self.tried} schedule(s) ({self.seconds:.1f} s): {self.witness}; "
                    f"{len(self.differences)} difference(s){beyond}")
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

    def beyond_lockstep(diff: list) -> list:
        return [d for d in diff if d not in lockstep] + [f"not under this schedule: {d}" for d in lockstep
                                                          if d not in diff]

    def found(schedule, diff, tried, steps):
        return SearchResult(schedule, diff, tried, steps, time.perf_counter() - start, lockstep=lockstep)

    mark = len(STATS.records)
    first = Schedule("rr", 0)
    diff = beyond_lockstep(run(first))
    steps = _steps_since(mark)
    tried = 1
    if diff:
        return found(first, diff, tried, steps)
    for schedule in pct_schedules(seed, steps):
        if tried >= schedules:
            break
        if budget is not None and time.perf_counter() - start > budget:
            return SearchResult(None, [], tried, steps, time.perf_counter() - start, True, lockstep)
        diff = beyond_lockstep(run(schedule))
        tried += 1
        if diff:
            return found(schedule, diff, tried, steps)
    return found(None, [], tried, steps)


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
