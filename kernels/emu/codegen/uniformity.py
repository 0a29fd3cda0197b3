"""Uniformity analysis: which SSA values of a kernel are the same in every lane.

The GPU compiler's divergence analysis keeps such values in scalar registers;
the interpreter uses the same facts to compute them once instead of once per
lane (:mod:`.emitter`).  Each value gets one of three classes, ordered:

* :data:`LAUNCH` -- the same in every lane of the launch: constants, kernel
  arguments, grid and block sizes, and pure ops of those;
* :data:`WORKGROUP` -- the same in every lane of a workgroup: block ids,
  loads from workgroup-uniform addresses, pure ops of those;
* :data:`LANE` -- may differ between lanes: thread and lane ids, cross-lane
  ops, loads from per-lane addresses, and anything the op table says nothing
  about.

Rules (the op table's ``uniformity`` of each op, :data:`~.table.UNIFORMITY`):
a pure op is as uniform as its least uniform operand; a load is
workgroup-uniform when its address is (memory may differ between
workgroups), else per lane.  Structured control flow joins the classes that
meet: the results of ``scf.if`` / ``scf.index_switch`` are no more uniform
than the condition or selector, ``scf.for``'s induction variable is as
uniform as its bounds and its carried values no more uniform than the
bounds (a trip count that differs per lane or per workgroup makes them
differ too), and ``scf.while``'s values no more uniform than its condition.
Loops are solved to a fixed point.  Values inside a divergent region keep
their own class: a uniform op computes the same value in every lane where it
runs.
"""
from __future__ import annotations

from .table import OPS

LAUNCH, WORKGROUP, LANE = 0, 1, 2
#: Class names, by class.
NAMES = ("launch", "workgroup", "lane")
_FIXED = {"launch": LAUNCH, "workgroup": WORKGROUP, "lane": LANE}


class Uniformity:
    """The class of every value of one function (``classes``: value id -> class)."""

    def __init__(self, func):
        self.classes = {a: LAUNCH for a in func.body.args}
        self._changed = True
        while self._changed:
            self._changed = False
            self._block(func.body)

    def of(self, vid) -> int:
        """Class of value ``vid`` (values the analysis never saw are per lane)."""
        return self.classes.get(vid, LANE)

    def join(self, vids, floor=LAUNCH) -> int:
        c = floor
        for v in vids:
            c = max(c, self.of(v))
        return c

    # -- propagation
    def _set(self, vid, c):
        old = self.classes.get(vid)
        if old is None or c > old:
            self.classes[vid] = c if old is None else max(c, old)
            self._changed = True

    def _block(self, block):
        for op in block.ops:
            self._op(op)

    @staticmethod
    def _yields(region):
        term = region.ops[-1] if region.ops else None
        if term is None or OPS.get(term.name) is None or OPS[term.name].kind != "terminator":
            return []
        return list(term.operands)

    def _op(self, op):
        entry = OPS.get(op.name)
        rule = entry.uniformity if entry is not None else "lane"
        if rule == "control":
            return self._control(op)
        if rule in _FIXED:
            c = _FIXED[rule]
        elif rule == "load":
            c = WORKGROUP if self.join(op.operands) <= WORKGROUP else LANE
        elif rule in ("operands", "checked"):
            c = self.join(op.operands)
        else:                                   # effect: results (if any) are not described
            c = LANE
        for r in op.results:
            self._set(r, c)

    def _control(self, op):
        name = op.name
        if name == "scf.for":
            body = op.regions[0]
            bounds = self.join(op.operands[:3])
            self._set(body.args[0], bounds)
            inits = op.operands[3:]
            for i, a in enumerate(body.args[1:]):
                self._set(a, max(bounds, self.of(inits[i])))
            self._block(body)
            ys = self._yields(body)
            for i, a in enumerate(body.args[1:]):
                if i < len(ys):
                    self._set(a, self.of(ys[i]))
            for i, r in enumerate(op.results):
                self._set(r, self.of(body.args[1 + i]))
        elif name == "scf.while":
            before, after = op.regions
            for i, a in enumerate(before.args):
                self._set(a, self.of(op.operands[i]))
            self._block(before)
            cond_term = before.ops[-1]
            cond = self.of(cond_term.operands[0])
            fwd = cond_term.operands[1:]
            for i, a in enumerate(after.args):
                self._set(a, max(cond, self.of(fwd[i])))
            for i, r in enumerate(op.results):
                self._set(r, max(cond, self.of(fwd[i])))
            self._block(after)
            ys = self._yields(after)
            for i, a in enumerate(before.args):
                if i < len(ys):
                    self._set(a, max(cond, self.of(ys[i])))
        elif name in ("scf.if", "scf.index_switch"):
            c = self.of(op.operands[0])
            results = [c] * len(op.results)
            for region in op.regions:
                self._block(region)
                for i, y in enumerate(self._yields(region)[:len(results)]):
                    results[i] = max(results[i], self.of(y))
            for r, rc in zip(op.results, results):
                self._set(r, rc)
        else:                                   # scf.execute_region and any other region op
            results = [LAUNCH] * len(op.results)
            for region in op.regions:
                for a in region.args:
                    self._set(a, LANE)
                self._block(region)
                for i, y in enumerate(self._yields(region)[:len(results)]):
                    results[i] = max(results[i], self.of(y))
            for r, rc in zip(op.results, results):
                self._set(r, rc)
