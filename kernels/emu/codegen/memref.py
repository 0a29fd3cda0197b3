"""The ``memref`` dialect over LDS: what FlyDSL's legacy ``SmemAllocator`` / ``SmemPtr`` emit.

A memref value is held as the LDS byte offset of its element ``[0, ..., 0]``
(a view's layout offset is folded into it), so ``memref.load`` /
``memref.store`` at ``[i, j, ...]`` access byte ``base + (i*s0 + j*s1 + ...) *
element bytes`` through the ordinary LDS path: uninitialized reads, races and
the schedule check work as for ``llvm.load`` / ``llvm.store``.  The byte access
is bounded by the ``memref.global`` the view was derived from; on top of
that each view is an allocation of its own for the sanitizer: an index past
its shape is an ``lds-view-out-of-bounds`` finding naming the view and its
shape (:func:`~kernels.emu.runtime.views.view_check`).

Only static shapes and static strides are supported, and only workgroup
(LDS) memrefs; anything else is an :class:`~kernels.emu.errors.UnsupportedOpError`
when the kernel is prepared.
"""
from __future__ import annotations

import numpy as np

from ..amdgpu import AddressSpace
from ..mtypes import byte_size
from .memory import memory_layout
from .table import handles
from .uniformity import WORKGROUP


def _views(g) -> dict:
    """value id -> description of the view it holds (name and type), per generated function."""
    return g.__dict__.setdefault("memref_views", {})


def _static_lds(g, op, t, what):
    if t.kind != "memref" or t.addrspace != AddressSpace.LDS:
        g.unsupported(op, f"{what} of {t} (only workgroup memrefs are supported)")
    if any(d < 0 for d in t.shape) or any(s is None for s in t.strides):
        g.unsupported(op, f"{what} of {t} (dynamic sizes or strides)")


def _derive(g, op, src: int, res: int, what: str):
    """``res`` is a view derived from ``src``: same bounding global, a name saying how."""
    if src in g.prov:
        g.prov[res] = g.prov[src]
    _views(g)[res] = f"{what} of {_views(g).get(src, 'a memref')}"


def _const_or_none(g, vid):
    return g.consts.get(vid)


@handles("memref.get_global", uniformity="launch")
def get_global(g, op, m):
    """A workgroup ``memref.global``: its offset in the workgroup's LDS layout."""
    sym = op.attrs["name"]
    t = g.rtype(op)
    _static_lds(g, op, t, "memref.get_global")
    if sym not in g.lds_layout:
        g.unsupported(op, f"memref of non-LDS global @{sym}")
    lo, hi = g.lds_layout[sym]
    g.prov[op.results[0]] = (lo, hi)
    _views(g)[op.results[0]] = f"@{sym}: {t.name}"
    g.define(op, g.const(np.int64(lo)))


@handles("memref.view", uniformity="operands")
def view(g, op, m):
    """A typed view of an ``i8`` buffer at a byte shift: the buffer's offset plus the shift."""
    t = g.rtype(op)
    if len(op.operands) > 2:
        g.unsupported(op, "view with dynamic sizes")
    _static_lds(g, op, t, "memref.view")
    shift = _const_or_none(g, op.operands[1])
    at = f"byte {shift}" if shift is not None else "a dynamic byte offset"
    src = _views(g).get(op.operands[0], "a memref")
    if op.operands[0] in g.prov:
        g.prov[op.results[0]] = g.prov[op.operands[0]]
    _views(g)[op.results[0]] = f"{t.name} at {at} of {src.split(':')[0]} (memref.view at {op.loc})"
    g.emit(f"{g.res(op)} = {g.arg(op, 0)} + np.int64({g.arg(op, 1)})")


@handles("memref.cast", uniformity="operands")
def cast(g, op, m):
    """Another type (layout spelled out) for the same memory: the same offset."""
    _static_lds(g, op, g.rtype(op), op.name)
    _derive(g, op, op.operands[0], op.results[0], op.name)
    g.emit(f"{g.res(op)} = {g.arg(op, 0)}")


def _address(g, op, mref: int, indices: list) -> str:
    """Expression of the LDS byte offset of element ``indices`` of memref operand ``mref``."""
    t = op.operand_types[mref]
    es = byte_size(t.elem)
    terms = [g.arg(op, mref)]
    for k, (vid, stride) in enumerate(zip(indices, t.strides)):
        c = g.consts.get(vid)
        if c is not None:
            if c * stride:
                terms.append(f"np.int64({c * stride * es})")
        else:
            terms.append(f"{g.value(vid)}.astype(np.int64) * {stride * es}" if stride * es != 1
                         else f"{g.value(vid)}.astype(np.int64)")
    return " + ".join(terms)


def _checked_address(g, op, mref: int, indices: list, m: str) -> str:
    """Emit the access's address (and, under the sanitizer, the check of its indices against
    the view's shape); return the name holding the address."""
    t = op.operand_types[mref]
    _static_lds(g, op, t, op.name)
    a = f"_ma{op.idx}"
    g.emit(f"{a} = {_address(g, op, mref, indices)}")
    view_name = _views(g).get(op.operands[mref], f"{t.name}")
    idx = ", ".join(g.value(v) for v in indices) + ("," if len(indices) == 1 else "")
    g.emit(f"if X.sanitize: rt.view_check(X, {m}, ({idx}), {tuple(t.shape)!r}, {a}, "
           f"{g.const(view_name)}, {g.info(op)})")
    return a


def _bounds(g, mref_vid) -> tuple:
    lo, hi = g.prov.get(mref_vid, (0, None))
    return str(lo), (str(hi) if hi is not None else "X.lds.nbytes")


def _layout(g, op, t, what):
    try:
        mdt, shape, nb, lconv, sconv, _es = memory_layout(g, t)
    except TypeError:
        g.unsupported(op, f"{what} of {t}")
    return mdt, shape, nb, (lconv if what == "load" else sconv)


@handles("memref.load", uniformity="load")
def load(g, op, m):
    """Load of one element of an LDS memref, its indices checked against the view's shape."""
    a = _checked_address(g, op, 0, op.operands[1:], m)
    mdt, shape, nb, conv = _layout(g, op, g.rtype(op), "load")
    lo, hi = _bounds(g, op.operands[0])
    fn = "load_uniform" if g.kind == "kernel" and all(g.uniformity(v) <= WORKGROUP for v in op.operands) else "load"
    g.emit(f"{g.res(op)} = rt.{fn}(X, {a}, {m}, {int(AddressSpace.LDS)}, {mdt}, {shape!r}, {nb}, {conv}, "
           f"{lo}, {hi}, {g.info(op)})")


@handles("memref.store", uniformity="effect")
def store(g, op, m):
    """Store of one element of an LDS memref, its indices checked against the view's shape."""
    a = _checked_address(g, op, 1, op.operands[2:], m)
    mdt, shape, nb, conv = _layout(g, op, op.operand_types[0], "store")
    lo, hi = _bounds(g, op.operands[1])
    g.emit(f"rt.store(X, {g.arg(op, 0)}, {a}, {m}, {int(AddressSpace.LDS)}, {mdt}, {shape!r}, {nb}, {conv}, "
           f"{lo}, {hi}, {g.info(op)})")
