"""Atomics: ``llvm.atomicrmw``, ``llvm.cmpxchg``, ``llvm.fence`` and the raw buffer atomics (``rocdl``).

Semantics and the order of an instruction's accesses are in
:mod:`kernels.emu.atomic_ops` and :mod:`kernels.emu.runtime.atomics`; the
sanitizer's view in :mod:`kernels.emu.atomic_memory`.  The ordering and
syncscope of each op are parsed (an unknown ordering is refused) and kept in
the op's :class:`~kernels.emu.atomic_ops.AtomicSpec`, which the generated code
passes to the runtime; under lockstep execution they change nothing.
"""
from __future__ import annotations

from ..atomic_ops import BINOPS, FLOAT_OPS, INT_OPS, ORDER_FREE, ORDERINGS, AtomicSpec
from .memory import _bounds, memory_layout
from .table import handles


def _ordering(g, op, field):
    value = op.attrs.get(field, 2)
    name = ORDERINGS.get(int(value)) if isinstance(value, int) else None
    if name is None:
        g.unsupported(op, f"{field}={value!r}: expected one of {sorted(ORDERINGS)} ({', '.join(ORDERINGS.values())})")
    return name


def _used(g, op) -> bool:
    """Whether any op of the function reads a result of ``op``."""
    uses = getattr(g, "_atomic_uses", None)
    if uses is None:
        uses = set()
        stack = [g.func.body]
        while stack:
            block = stack.pop()
            for o in block.ops:
                uses.update(o.operands)
                stack.extend(o.regions)
        g._atomic_uses = uses
    return any(r in uses for r in op.results)


def _layout(g, op, t, what):
    try:
        mdt, shape, _nb, lconv, sconv, es = memory_layout(g, t)
    except TypeError:
        g.unsupported(op, f"{what} of {t}")
    return mdt, shape, es, lconv, sconv


def _logged(g, op, name) -> bool:
    """Whether the schedule check logs the op's returned values: when they are read, or when the op's
    order changes what it leaves in memory."""
    return _used(g, op) or name not in ORDER_FREE


@handles("llvm.atomicrmw")
def atomicrmw(g, op, m):
    """Atomic read-modify-write (every LLVM binop but the saturating and IEEE-754-2019 ones): the old value."""
    code = op.attrs.get("bin_op")
    name = BINOPS.get(code) if isinstance(code, int) else None
    if name is None:
        g.unsupported(op, f"bin_op={code!r}")
    t = op.operand_types[1]
    el = t.elem if t.kind == "vector" else t
    if (el.kind == "float" and name not in FLOAT_OPS) or (el.kind != "float" and name not in INT_OPS) \
            or (t.kind == "vector" and name not in ("fadd", "fsub", "fmax", "fmin")):
        g.unsupported(op, f"atomicrmw {name} of {t}")
    mdt, shape, es, lconv, sconv = _layout(g, op, t, f"atomicrmw {name}")
    spec = g.const(AtomicSpec(name, _ordering(g, op, "ordering"), str(op.attrs.get("syncscope", ""))), "A")
    space = op.operand_types[0].addrspace
    lo, hi = _bounds(g, op.operands[0], space)
    g.emit(f"{g.res(op)} = rt.atomicrmw(X, {g.arg(op, 0)}, {g.arg(op, 1)}, {m}, {space}, {spec}, {mdt}, "
           f"{shape!r}, {es}, {lconv}, {sconv}, {lo}, {hi}, {g.info(op)}, {_logged(g, op, name)})")


@handles("llvm.cmpxchg")
def cmpxchg(g, op, m):
    """Atomic compare-and-exchange of an integer or pointer: (old value, success)."""
    t = op.operand_types[1]
    if t.kind != "int" and t.kind != "ptr":
        g.unsupported(op, f"cmpxchg of {t}")
    mdt, shape, es, _l, _s = _layout(g, op, t, "cmpxchg")
    spec = g.const(AtomicSpec("cmpxchg", _ordering(g, op, "success_ordering"), str(op.attrs.get("syncscope", "")),
                              _ordering(g, op, "failure_ordering")), "A")
    space = op.operand_types[0].addrspace
    lo, hi = _bounds(g, op.operands[0], space)
    g.emit(f"{g.res(op)} = rt.cmpxchg(X, {g.arg(op, 0)}, {g.arg(op, 1)}, {g.arg(op, 2)}, {m}, {space}, {spec}, "
           f"{mdt}, {es}, {lo}, {hi}, {g.info(op)}, True)")


@handles("llvm.fence", kind="hint", uniformity="effect")
def fence(g, op, m):
    """Memory fence: nothing to run (every access is visible at once under lockstep)."""
    _ordering(g, op, "ordering")


#: buffer atomic -> (atomicrmw operation, operand index of the value, whether it has a compare operand)
_BUFFER_ATOMICS = {"rocdl.raw.ptr.buffer.atomic.fadd": "fadd", "rocdl.raw.ptr.buffer.atomic.fmax": "fmax",
                   "rocdl.raw.ptr.buffer.atomic.smax": "max", "rocdl.raw.ptr.buffer.atomic.umin": "umin",
                   "rocdl.raw.ptr.buffer.atomic.cmpswap": "cmpxchg"}


@handles(*_BUFFER_ATOMICS)
def buffer_atomic(g, op, m):
    """Range-checked buffer atomic (fadd, fmax, smax, umin, cmpswap): the old value, 0 where dropped."""
    name = _BUFFER_ATOMICS[op.name]
    t = op.operand_types[0]
    mdt, shape, es, lconv, sconv = _layout(g, op, t, op.name)
    if name == "cmpxchg":
        val, cmp, rest = g.arg(op, 0), g.arg(op, 1), 2
    else:
        val, cmp, rest = g.arg(op, 0), "None", 1
    log = name == "cmpxchg" or _logged(g, op, name)
    g.emit(f"{g.res(op)} = rt.buffer_atomic(X, {name!r}, {val}, {cmp}, {g.arg(op, rest)}, {g.arg(op, rest + 1)}, "
           f"{g.arg(op, rest + 2)}, {m}, {mdt}, {shape!r}, {es}, {lconv}, {sconv}, {g.info(op)}, {log})")
