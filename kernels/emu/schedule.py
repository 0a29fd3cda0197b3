"""Interleaved waves: schedules, and the scheduler that runs a batch of workgroups' waves under one.

In the interleaved mode (``Options.schedule``) every wave of a workgroup runs
its own copy of the kernel's generated code as a generator (the code generator's
``interleave`` variant, :mod:`.codegen`): it pauses before every memory access
(LDS, global, buffer), every atomic and every barrier, and the scheduler decides
which wave takes the next *step* -- it resumes that wave, which performs the
access it paused before and runs its wave-private arithmetic up to its next
pause.  A wave pausing at a barrier is blocked until every wave of the workgroup
that has not finished has reached a barrier; then the barrier runs once for all
of them (:func:`~kernels.emu.runtime.barrier`, with the union of their lane
masks, so a barrier some lanes or waves never reach is still reported) and they
all go on.  Each wave runs on the workgroup's own context with the mask of its
own lanes, so lane and wave numbers, LDS, shadows and findings are the
workgroup's: only the order of the waves' accesses differs from lockstep.
Workgroups are batched as in lockstep (:mod:`.simt`): wave ``w`` of every
workgroup of the batch is one generator (its lanes in all of them), so the
workgroups of a batch follow the same schedule, and a barrier releases a
workgroup's waves when every wave slot has reached a barrier or finished
(:func:`~kernels.emu.runtime.barrier` checks each workgroup's lanes and starts
the epochs of those with lanes there).  Workgroups whose waves take different
branches around a barrier therefore wait for each other a little more than the
hardware would: every interleaving run is one the hardware can run.

Cross-lane ops (DPP, ``ds_bpermute``, ``readlane`` / ``readfirstlane``,
``ballot``, ``gpu.shuffle``, ``mbcnt``) read only lanes of the wave that runs
them and involve no memory, so they never pause: all lanes of a wave take
them together, and their results are the lockstep results in every schedule.

A :class:`Schedule` is a small value that prints and parses
(``rr:seed=1``, ``pct:seed=17:depth=3:steps=120``) so that a schedule that
shows a bug can be replayed exactly:

* ``rr`` -- round robin: one step per ready wave in turn, starting at wave
  ``seed mod waves``;
* ``pct`` -- probabilistic concurrency testing: the waves get distinct random
  priorities and the ready wave of highest priority runs; at ``depth - 1``
  random steps among the first ``steps`` of a batch the wave that just
  ran drops below every other.  Priorities and change points are drawn per
  batch from ``(seed, kernel name, first workgroup of the batch)``, so a schedule string
  replays the same interleaving in any process and any order of runs.
"""
from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from . import runtime

#: Schedule kinds and what their parameters mean.
KINDS = ("rr", "pct")
_FIELDS = ("seed", "depth", "steps")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """One interleaving policy: ``kind`` (``"rr"`` or ``"pct"``), ``seed``, and for PCT the
    ``depth`` (number of priority change points + 1) and ``steps`` (the horizon the change
    points are drawn from: about a batch's step count)."""

    kind: str = "rr"
    seed: int = 0
    depth: int = 3
    steps: int = 100

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"schedule kind={self.kind!r}; expected one of {KINDS}")
        for name, low in (("seed", 0), ("depth", 1), ("steps", 1)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
                raise ValueError(f"schedule {name}={v!r}; expected an integer >= {low}")

    def __str__(self) -> str:
        if self.kind == "rr":
            return f"rr:seed={self.seed}"
        return f"pct:seed={self.seed}:depth={self.depth}:steps={self.steps}"

    @classmethod
    def parse(cls, text: str) -> "Schedule":
        """The schedule ``text`` spells (what :meth:`__str__` prints; omitted fields take their
        defaults); ValueError naming the part that is wrong."""
        kind, *parts = str(text).strip().split(":")
        fields = {}
        for part in parts:
            name, eq, value = part.partition("=")
            if not eq or name not in _FIELDS:
                raise ValueError(f"schedule {text!r}: part {part!r} is not one of "
                                 f"{', '.join(f + '=N' for f in _FIELDS)}")
            try:
                fields[name] = int(value)
            except ValueError:
                raise ValueError(f"schedule {text!r}: {name}={value!r} is not an integer") from None
        if kind == "rr" and set(fields) - {"seed"}:
            raise ValueError(f"schedule {text!r}: rr takes only seed=N")
        return cls(kind, **fields)


def _stream(schedule: Schedule, kname: str, wg: int) -> np.random.Generator:
    return np.random.default_rng([schedule.seed, zlib.crc32(kname.encode()), wg])


class _Policy:
    """Which ready wave runs next."""

    def __init__(self, schedule: Schedule, nwaves: int, kname: str, wg: int):
        self.kind = schedule.kind
        self.last = schedule.seed % nwaves - 1 if self.kind == "rr" else -1
        if self.kind == "pct":
            rng = _stream(schedule, kname, wg)
            self.priority = list(rng.permutation(nwaves) + schedule.depth)
            k = min(schedule.depth - 1, schedule.steps)
            points = rng.choice(schedule.steps, size=k, replace=False) if k else []
            self.changes = {int(p): schedule.depth - 1 - i for i, p in enumerate(sorted(points))}

    def pick(self, ready: list) -> int:
        if self.kind == "rr":
            n = len(ready)
            self.last = next((w for w in (self.last + 1 + j for j in range(n)) if ready[w % n]), 0) % n
            return self.last
        return max((w for w, r in enumerate(ready) if r), key=self.priority.__getitem__)

    def ran(self, wave: int, step: int) -> None:
        if self.kind == "pct" and step in self.changes:
            self.priority[wave] = self.changes[step]


def run_batch(X, fn, args, pre, schedule: Schedule, kname: str) -> int:
    """Run one batch of workgroups (context ``X``) of the interleaved kernel ``fn`` under
    ``schedule``: one generator per wave slot with live lanes; returns the number of steps taken."""
    waves = [(X.m0 & (X.wave_lane == w)) for w in range(X.Lp // X.W)]
    gens = [fn(X, m, args, pre) for m in waves if m.any()]
    n = len(gens)
    at_barrier = [None] * n         # the Arrival a blocked wave paused at
    done = [False] * n

    def advance(w):
        try:
            paused = next(gens[w])
        except StopIteration:
            done[w] = True
            return
        if isinstance(paused, runtime.Arrival):
            at_barrier[w] = paused

    for w in range(n):              # each wave's private prologue, up to its first pause
        advance(w)
    policy = _Policy(schedule, n, kname, X.wg)
    step = 0
    while True:
        ready = [not done[w] and at_barrier[w] is None for w in range(n)]
        if not any(ready):
            arrived = [a for a in at_barrier if a is not None]
            if not arrived:
                return step
            mask = arrived[0].mask
            for a in arrived[1:]:
                mask = mask | a.mask
            runtime.barrier(X, mask, arrived[0].info)
            at_barrier = [None] * n
            continue
        w = policy.pick(ready)
        advance(w)
        policy.ran(w, step)
        step += 1
