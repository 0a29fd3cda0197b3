"""Atomic read-modify-write operations and the order their lanes apply in.

An atomic instruction applies its accesses one after another: each access
reads the value at its address, returns it (the value *before its own
update*) and writes ``op(old, operand)`` (``cmpxchg``: the new value when the
old one equals the compare value).  :func:`apply` computes every access's
returned value and the value it leaves, given the accesses in the order they
apply (the caller decides that order: :mod:`kernels.emu.atomic_memory`).

The binary operations are LLVM's ``atomicrmw`` ones (:data:`BINOPS`, by the
``bin_op`` enum of the MLIR ``llvm`` dialect); values are NumPy arrays of
the type's held dtype (integers signed, ``bf16`` as float32 rounded to bf16,
as :mod:`kernels.emu.semantics` holds them).  Documented choices where LLVM
leaves freedom:

* ``fmax`` / ``fmin`` are ``llvm.maxnum`` / ``minnum``: a NaN operand is
  ignored, two NaNs give a NaN, and ``-0.0`` orders below ``+0.0``.
* ``fadd`` / ``fsub`` round once per access, in the access order (so the
  result depends on that order, as on the hardware).
* ``uinc_wrap``: ``old >=u v ? 0 : old + 1``; ``udec_wrap``:
  ``old == 0 || old >u v ? v : old - 1`` (LLVM LangRef).

Orderings and syncscopes (:data:`ORDERINGS`) are parsed and kept with the
op; they do not change what the interpreter computes: the lanes of a
workgroup run in lockstep and every access is visible at once, so every
ordering is at least as strong as asked.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import semantics

#: ``bin_op`` enum value of ``llvm.atomicrmw`` -> operation name (LLVM LangRef spelling).
BINOPS = {0: "xchg", 1: "add", 2: "sub", 3: "and", 4: "nand", 5: "or", 6: "xor", 7: "max", 8: "min",
          9: "umax", 10: "umin", 11: "fadd", 12: "fsub", 13: "fmax", 14: "fmin", 15: "uinc_wrap",
          16: "udec_wrap"}
#: ``AtomicOrdering`` enum value -> name.
ORDERINGS = {0: "not_atomic", 1: "unordered", 2: "monotonic", 4: "acquire", 5: "release", 6: "acq_rel",
             7: "seq_cst"}
#: Operations on floating-point values; every other one is on integers.
FLOAT_OPS = frozenset({"fadd", "fsub", "fmax", "fmin", "xchg"})
INT_OPS = frozenset(BINOPS.values()) - {"fadd", "fsub", "fmax", "fmin"}
#: Operations whose accesses to one address combine associatively: their returned values
#: come from a prefix scan, the others apply one access per address at a time.
_SCANNED = {"add", "sub", "and", "or", "xor", "max", "min", "umax", "umin", "fmax", "fmin"}
#: Operations where the order of accesses to one address changes only what they return,
#: not the value left in memory (commutative and associative).
ORDER_FREE = frozenset(_SCANNED)


@dataclasses.dataclass(frozen=True)
class AtomicSpec:
    """An atomic op as written: its operation, ordering(s) and syncscope ("" for the system scope)."""

    op: str
    ordering: str
    syncscope: str = ""
    failure_ordering: str = ""      # cmpxchg only


def _u(x):
    return x.view(semantics.udt(x))


def _maxnum(a, b, lower):
    """``maxnum`` (``lower`` False) or ``minnum`` of float arrays: a NaN operand is ignored,
    -0.0 orders below +0.0."""
    with np.errstate(invalid="ignore"):
        take_b = (b < a) if lower else (b > a)
    tie = (a == b) & (np.signbit(a) != np.signbit(b))           # +0.0 against -0.0
    take_b |= tie & (np.signbit(b) if lower else np.signbit(a))
    take_b |= np.isnan(a)
    return np.where(take_b, b, a)


def combine(op: str, a, b, rounder=None):
    """``op(a, b)`` elementwise: the value an access leaves when it reads ``a`` with operand ``b``
    (``rounder`` rounds float results to the held type, for bf16)."""
    if op == "xchg":
        return b.copy()
    if op in ("add", "sub"):
        return a + b if op == "add" else a - b
    if op in ("and", "or", "xor", "nand"):
        r = {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor, "nand": np.bitwise_and}[op](a, b)
        return ~r if op == "nand" else r
    if op in ("max", "min"):
        return np.maximum(a, b) if op == "max" else np.minimum(a, b)
    if op in ("umax", "umin"):
        r = np.maximum(_u(a), _u(b)) if op == "umax" else np.minimum(_u(a), _u(b))
        return r.view(a.dtype)
    if op == "uinc_wrap":
        return np.where(_u(a) >= _u(b), np.zeros_like(a), a + np.ones_like(a))
    if op == "udec_wrap":
        return np.where((a == 0) | (_u(a) > _u(b)), b, a - np.ones_like(a))
    if op in ("fadd", "fsub"):
        r = a + b if op == "fadd" else a - b
        return rounder(r) if rounder is not None else r
    if op in ("fmax", "fmin"):
        return _maxnum(a, b, op == "fmin")
    raise ValueError(f"atomic op {op!r}: expected one of {sorted(BINOPS.values())} or cmpxchg")


def _cmpxchg(a, b, cmp):
    ok = _u(a) == _u(cmp)
    return np.where(ok, b, a), ok


def apply(op: str, keys, vals, cur, cmp=None, rounder=None):
    """The accesses of one atomic instruction, in the order they apply.

    ``keys`` (int64, one per access) name each access's address, ``vals`` its operand,
    ``cur`` the value its address held before the instruction (the same for accesses of one
    address), ``cmp`` the compare values of a ``cmpxchg`` (``op == "cmpxchg"``).  Returns
    ``(old, new, success)``: the value each access returns, the value it leaves (the last
    access to an address leaves the address's final value), and for ``cmpxchg`` whether it
    exchanged (else None)."""
    n = keys.shape[0]
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    head = np.ones(n, bool)
    if n > 1:
        head[1:] = sk[1:] != sk[:-1]
    if head.all():                                   # every address once: one step
        if op == "cmpxchg":
            new, ok = _cmpxchg(cur, vals, cmp)
            return cur.copy(), new, ok
        return cur.copy(), combine(op, cur, vals, rounder), None
    sv, sc = vals[order], cur[order]
    if op in _SCANNED:
        old_s, new_s = _scan(op, sv, sc, head)
        ok_s = None
    elif op == "xchg":
        new_s = sv.copy()
        old_s = np.where(head, sc, np.roll(sv, 1))
        ok_s = None
    else:
        old_s, new_s, ok_s = _serial(op, sv, sc, head, None if cmp is None else cmp[order], rounder)
    old, new = np.empty_like(old_s), np.empty_like(new_s)
    old[order], new[order] = old_s, new_s
    ok = None
    if ok_s is not None:
        ok = np.empty_like(ok_s)
        ok[order] = ok_s
    return old, new, ok


def _scan(op, sv, sc, head):
    """Old and new values of accesses sorted by address (``head`` marks each address's first)
    for an associative ``op``: a segmented inclusive scan of the operands (Hillis-Steele)."""
    seg = np.cumsum(head)
    step = "add" if op == "sub" else op
    inc = sv.copy()
    d = 1
    n = sv.shape[0]
    while d < n:
        same = seg[d:] == seg[:-d]
        if not same.any():
            break
        nxt = inc.copy()
        nxt[d:] = np.where(same, combine(step, inc[:-d], inc[d:]), inc[d:])
        inc = nxt
        d *= 2
    new = combine(op, sc, inc)
    old = np.where(head, sc, np.roll(new, 1))
    return old, new


def _serial(op, sv, sc, head, sc_cmp, rounder):
    """Old and new values of accesses sorted by address for a non-associative ``op``: round k
    applies the k-th access of every address at once."""
    seg_start = np.flatnonzero(head)
    pos = np.arange(sv.shape[0]) - np.repeat(seg_start, np.diff(np.append(seg_start, sv.shape[0])))
    old = np.empty_like(sc)
    new = np.empty_like(sc)
    ok = np.zeros(sv.shape[0], bool) if op == "cmpxchg" else None
    last = sc[head].copy()                          # the current value of each address
    seg = np.cumsum(head) - 1
    for k in range(int(pos.max()) + 1):
        at = np.flatnonzero(pos == k)
        s = seg[at]
        a = last[s]
        if op == "cmpxchg":
            r, hit = _cmpxchg(a, sv[at], sc_cmp[at])
            ok[at] = hit
        else:
            r = combine(op, a, sv[at], rounder)
        old[at] = a
        new[at] = r
        last[s] = r
    return old, new, ok
