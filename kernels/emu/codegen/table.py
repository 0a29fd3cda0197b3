"""The interpreter's op table: every MLIR op it runs, and the handler that generates its code.

A handler is a function ``handler(g, op, m)``: ``g`` the
:class:`~kernels.emu.codegen.emitter.FunctionCodegen` of the function being
compiled, ``op`` the :class:`~kernels.emu.irload.Op`, ``m`` the name of the
active-lane mask in the generated code.  It emits Python lines for ``op``
through ``g``.  Handlers register with :func:`handles`, naming the ops they
implement; the family modules of this package (``scalar``, ``memory``,
``memref``, ``vector``, ``amd``, ``atomic``, ``control``, ``host``) are the only places that do.

Kinds of entries:

* ``op``: runs and is counted in the launch statistics;
* ``hint``: a scheduling or compiler hint that does nothing on the
  interpreter (not counted);
* ``terminator``: ends a region (``scf.yield`` ...); the region's caller
  reads its operands, the handler is never called (not counted).

Each entry also states how uniform its results are (:data:`UNIFORMITY`, read
by :mod:`.uniformity`); an op that states nothing is taken as varying per lane.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

KINDS = ("op", "hint", "terminator")

#: How uniform an op's results are, for the uniformity analysis (:mod:`.uniformity`):
#: ``operands`` -- a pure function of its operands: as uniform as the least uniform operand;
#: ``checked`` -- the same, but the op runs a sanitizer check (never hoisted);
#: ``launch`` -- the same in every lane of the launch (constants, grid and block sizes);
#: ``workgroup`` -- the same in every lane of a workgroup (block ids);
#: ``lane`` -- varying per lane (thread ids, cross-lane ops, and whatever states nothing);
#: ``load`` -- a load: the same in every lane of a workgroup when its address is, else per lane;
#: ``control`` -- structured control flow, analysed region by region;
#: ``effect`` -- no results (stores, barriers, launches).
UNIFORMITY = ("operands", "checked", "launch", "workgroup", "lane", "load", "control", "effect")


@dataclasses.dataclass(frozen=True)
class OpEntry:
    name: str
    handler: Callable
    family: str  # the module that registered it: scalar, memory, memref, vector, amd, control, host
    kind: str = "op"
    uniformity: str = "lane"   # one of UNIFORMITY

    @property
    def counted(self) -> bool:
        """Whether executing the op counts in the statistics (ops, lane-ops, profile)."""
        return self.kind == "op"

    @property
    def summary(self) -> str:
        """First line of the handler's docstring."""
        return (self.handler.__doc__ or "").strip().splitlines()[0] if self.handler.__doc__ else ""


#: op name -> entry; filled by :func:`handles` when the family modules are imported.
OPS: dict[str, OpEntry] = {}


def handles(*names: str, kind: str = "op", uniformity="lane"):
    """Register the decorated function as the handler of the ops ``names``; ``uniformity``
    (one of :data:`UNIFORMITY`, or a dict op name -> one of them) states how uniform the
    results are."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {KINDS}")
    rules = uniformity if isinstance(uniformity, dict) else {n: uniformity for n in names}
    for name in names:
        if rules.get(name) not in UNIFORMITY:
            raise ValueError(f"op {name}: uniformity={rules.get(name)!r}; expected one of {UNIFORMITY}")

    def register(handler):
        family = handler.__module__.rsplit(".", 1)[-1]
        for name in names:
            if name in OPS:
                raise ValueError(f"op {name} registered twice ({OPS[name].family} and {family})")
            OPS[name] = OpEntry(name, handler, family, kind, rules[name])
        return handler
    return register


def entries() -> list[OpEntry]:
    """Every registered op, by family then name."""
    return sorted(OPS.values(), key=lambda e: (e.family, e.name))
