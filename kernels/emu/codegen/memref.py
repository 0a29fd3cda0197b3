"""The ``memref`` dialect over LDS: what FlyDSL's legacy ``SmemAllocator`` / ``SmemPtr`` emit.

A memref value is held as the LDS byte offset of its element ``[0, ..., 0]``
(a view's layout offset is folded into it), so ``memref.load`` /
``memref.store`` at ``[i, j, ...]`` access byte ``base + (i*s0 + j*s1 + ...) *
element bytes`` through the ordinary LDS path: uninitialized reads, races and
the schedule check work as for ``llvm.load`` / ``llvm.store``.  The byte access
is bounded by the ``memref.global`` the view was derived from; on top of
that each view is an allocation of its own for the sanitizer: an index past
its shape is an ``lds-view-out-of-bounds`` finding naming the view and its
shape.  A one-dimensional view at a known byte offset (the usual ``SmemPtr``
view) that lies wholly inside its global is checked once, as the ``llvm``
path checks an allocation: its constant offset is folded into the address
and its byte range bounds the LDS access
(:class:`~kernels.emu.runtime.views.ViewAccess`); any other view has its
indices checked first (:func:`~kernels.emu.runtime.views.view_check`).

Only static shapes and static strides are supported, and only workgroup
(LDS) memrefs; anything else is an :class:`~kernels.emu.errors.UnsupportedOpError`
when the kernel is prepared.
"""
from __future__ import annotations

import numpy as np

from ..amdgpu import AddressSpace
from ..mtypes import byte_size
from ..runtime.views import ViewAccess
from .memory import memory_layout
from .table import handles
from .uniformity import WORKGROUP


def _views(g) -> dict:
    """value id -> description of the view it holds (name and type), per generated function."""
    return g.__dict__.setdefault("memref_views", {})


def _offsets(g) -> dict:
    """value id -> LDS byte offset of element 0 of the memref it holds, where known when generating."""
    return g.__dict__.setdefault("memref_offsets", {})


def _static_lds(g, op, t, what):
    if t.kind != "memref" or t.addrspace != AddressSpace.LDS:
        g.unsupported(op, f"{what} of {t} (only workgroup memrefs are supported)")
    if any(d < 0 for d in t.shape) or any(s is None for s in t.strides):
        g.unsupported(op, f"{what} of {t} (dynamic sizes or strides)")


def _derive(g, op, src: int, res: int, what: str):
    """``res`` is a view derived from ``src``: same bounding global, a name saying how."""
    if src in g.prov:
        g.prov[res] = g.prov[src]
    if src in _offsets(g):
        _offsets(g)[res] = _offsets(g)[src]
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
    _offsets(g)[op.results[0]] = lo
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
    if shift is not None and op.operands[0] in _offsets(g):
        _offsets(g)[op.results[0]] = _offsets(g)[op.operands[0]] + shift
    _views(g)[op.results[0]] = f"{t.name} at {at} of {src.split(':')[0]} (memref.view at {op.loc})"
    g.emit(f"{g.res(op)} = {g.arg(op, 0)} + np.int64({g.arg(op, 1)})")


@handles("memref.cast", uniformity="operands")
def cast(g, op, m):
    """Another type (layout spelled out) for the same memory: the same offset."""
    _static_lds(g, op, g.rtype(op), op.name)
    _derive(g, op, op.operands[0], op.results[0], op.name)
    g.emit(f"{g.res(op)} = {g.arg(op, 0)}")


def _address(g, op, mref: int, indices: list, base: str) -> str:
    """Expression of the LDS byte offset of element ``indices`` of memref operand ``mref``,
    whose element 0 is at ``base``."""
    t = op.operand_types[mref]
    es = byte_size(t.elem)
    terms = [base] if base != "np.int64(0)" else []
    for vid, stride in zip(indices, t.strides):
        c = g.consts.get(vid)
        if c is not None:
            if c * stride:
                terms.append(f"np.int64({c * stride * es})")
        else:
            terms.append(f"{g.value(vid)}.astype(np.int64) * {stride * es}" if stride * es != 1
                         else f"{g.value(vid)}.astype(np.int64)")
    return " + ".join(terms) if terms else "np.int64(0)"


#: How many lines back an address computed earlier is looked for.
_REUSE_LINES = 256


def _reuse(g, op, key, expr: str) -> str:
    """Name of the address ``expr`` (of ``key``: memref and index value ids): the name an earlier
    access of the same element computed, where that line's block is still open and encloses this
    one (this line and every line since are indented at least as deep) and at most
    ``_REUSE_LINES`` back, else a new one computed here."""
    memo = g.__dict__.setdefault("memref_addresses", {})
    prior = memo.get(key)
    if prior is not None:
        name, at, indent = prior
        since = g.lines[at:]
        if (4 * g.depth >= indent and len(since) <= _REUSE_LINES
                and all(len(x) - len(x.lstrip(" ")) >= indent for x in since)):
            return name
    name = f"_ma{op.idx}"
    g.emit(f"{name} = {expr}")
    memo[key] = (name, len(g.lines), 4 * g.depth)
    return name


def _inside_global(g, vid, t):
    """``(lo, hi, step)`` of a one-dimensional view ``vid`` of type ``t`` at a known byte offset whose
    bytes ``[lo, hi)`` all lie inside its root global (``step``: the bytes from one element to the
    next), else None."""
    lo, bounds = _offsets(g).get(vid), g.prov.get(vid)
    if lo is None or bounds is None or bounds[1] is None or len(t.shape) != 1 or t.strides[0] < 1:
        return None
    es = byte_size(t.elem)
    step = t.strides[0] * es
    hi = lo + (t.shape[0] - 1) * step + es if t.shape[0] else lo
    return (lo, hi, step) if bounds[0] <= lo and hi <= bounds[1] else None


def _checked_access(g, op, mref: int, indices: list, m: str) -> tuple:
    """Emit the access's address and return ``(name holding it, lo, hi, op info)`` for the LDS
    path: a one-dimensional view inside its global is bounded by its own byte range (one check,
    :class:`ViewAccess`); any other view has its indices checked against its shape (under the
    sanitizer) and the bytes are bounded by its root global."""
    t = op.operand_types[mref]
    _static_lds(g, op, t, op.name)
    vid = op.operands[mref]
    view_name = _views(g).get(vid, f"{t.name}")
    key = (vid,) + tuple(indices)
    inside = _inside_global(g, vid, t)
    if inside is not None:
        lo, hi, step = inside
        a = _reuse(g, op, key, _address(g, op, mref, indices, f"np.int64({lo})"))
        info = g.const(ViewAccess(op.name, op.loc, view_name, t.shape[0], lo, step), "O")
        return a, str(lo), str(hi), info
    a = _reuse(g, op, key, _address(g, op, mref, indices, g.arg(op, mref)))
    idx = ", ".join(g.value(v) for v in indices) + ("," if len(indices) == 1 else "")
    g.emit(f"if X.sanitize: rt.view_check(X, {m}, ({idx}), {tuple(t.shape)!r}, {a}, "
           f"{g.const(view_name)}, {g.info(op)})")
    lo, hi = g.prov.get(vid, (0, None))
    return a, str(lo), (str(hi) if hi is not None else "X.lds.nbytes"), g.info(op)


def _layout(g, op, t, what):
    try:
        mdt, shape, nb, lconv, sconv, _es = memory_layout(g, t)
    except TypeError:
        g.unsupported(op, f"{what} of {t}")
    return mdt, shape, nb, (lconv if what == "load" else sconv)


@handles("memref.load", uniformity="load")
def load(g, op, m):
    """Load of one element of an LDS memref, its indices checked against the view's shape."""
    a, lo, hi, info = _checked_access(g, op, 0, op.operands[1:], m)
    mdt, shape, nb, conv = _layout(g, op, g.rtype(op), "load")
    fn = "load_uniform" if g.kind == "kernel" and all(g.uniformity(v) <= WORKGROUP for v in op.operands) else "load"
    g.emit(f"{g.res(op)} = rt.{fn}(X, {a}, {m}, {int(AddressSpace.LDS)}, {mdt}, {shape!r}, {nb}, {conv}, "
           f"{lo}, {hi}, {info})")


@handles("memref.store", uniformity="effect")
def store(g, op, m):
    """Store of one element of an LDS memref, its indices checked against the view's shape."""
    a, lo, hi, info = _checked_access(g, op, 1, op.operands[2:], m)
    mdt, shape, nb, conv = _layout(g, op, op.operand_types[0], "store")
    g.emit(f"rt.store(X, {g.arg(op, 0)}, {a}, {m}, {int(AddressSpace.LDS)}, {mdt}, {shape!r}, {nb}, {conv}, "
           f"{lo}, {hi}, {info})")
