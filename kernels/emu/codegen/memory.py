"""Pointers and memory: addresses, ``getelementptr``, ``llvm.load`` / ``llvm.store``.

Global pointers are host addresses of the caller's tensors; LDS pointers are
byte offsets into the workgroup's LDS, and a flat pointer to LDS is
:data:`~kernels.emu.amdgpu.LDS_APERTURE` + offset.  Where an LDS pointer is
derived from an ``llvm.mlir.addressof`` of a known global, its accesses are
bounded by that allocation (``g.prov``), else by the workgroup's LDS.
"""
from __future__ import annotations

import numpy as np

from .. import runtime, semantics
from ..amdgpu import LDS_APERTURE, OFFSET_SPACES, AddressSpace
from ..mtypes import Ty, byte_size, field_offset, np_dtype
from .table import handles
from .uniformity import WORKGROUP
from .wide import held, is_wide

#: ``rawConstantIndices`` entry that stands for a dynamic index
_DYNAMIC_INDEX = -(2 ** 31)


@handles("llvm.mlir.addressof", uniformity="launch")
def addressof(g, op, m):
    """Address of an LDS global: its offset in the workgroup's LDS layout."""
    sym = op.attrs["global_name"]
    if sym not in g.lds_layout:
        g.unsupported(op, f"address of non-LDS global @{sym}")
    lo, hi = g.lds_layout[sym]
    g.prov[op.results[0]] = (lo, hi)
    g.define(op, g.const(np.int64(lo)))


@handles("llvm.addrspacecast", uniformity="operands")
def addrspacecast(g, op, m):
    """Between LDS and flat pointers: add or remove the LDS aperture; otherwise the same address."""
    s, t = op.operand_types[0], g.rtype(op)
    a = g.arg(op, 0)
    if op.operands[0] in g.prov:
        g.prov[op.results[0]] = g.prov[op.operands[0]]
    if s.addrspace == AddressSpace.LDS and t.addrspace == AddressSpace.FLAT:
        g.emit(f"{g.res(op)} = {a} + {g.const(LDS_APERTURE)}")
    elif s.addrspace == AddressSpace.FLAT and t.addrspace == AddressSpace.LDS:
        g.emit(f"{g.res(op)} = {a} - {g.const(LDS_APERTURE)}")
    else:
        g.emit(f"{g.res(op)} = {a}")


@handles("llvm.ptrtoint", uniformity="operands")
def ptrtoint(g, op, m):
    """A pointer's address as an integer."""
    g.emit(f"{g.res(op)} = {g.arg(op, 0)}.astype({g.dtype(g.rtype(op))})")


@handles("llvm.inttoptr", uniformity="operands")
def inttoptr(g, op, m):
    """An integer as a pointer's address."""
    g.emit(f"{g.res(op)} = {g.arg(op, 0)}.astype(np.int64)")


@handles("llvm.getelementptr", uniformity="operands")
def getelementptr(g, op, m):
    """Base address plus constant and dynamic offsets through arrays, vectors and structs."""
    raw = op.attrs.get("rawConstantIndices", [])
    cur = op.attrs.get("elem_type")
    if not isinstance(cur, Ty):
        g.unsupported(op, "getelementptr without elem_type")
    dyn = iter(op.operands[1:])
    terms = []
    const = 0
    for k, ci in enumerate(raw):
        if k == 0:
            size = byte_size(cur)
            if ci == _DYNAMIC_INDEX:
                terms.append((g.value(next(dyn)), size))
            else:
                const += ci * size
            continue
        if cur.kind == "struct":
            if ci == _DYNAMIC_INDEX:
                g.unsupported(op, "dynamic struct index")
            const += field_offset(cur, ci)
            cur = cur.fields[ci]
        elif cur.kind in ("array", "vector"):
            el = cur.elem
            size = byte_size(el)
            if ci == _DYNAMIC_INDEX:
                terms.append((g.value(next(dyn)), size))
            else:
                const += ci * size
            cur = el
        else:
            g.unsupported(op, f"GEP into {cur}")
    expr = g.arg(op, 0)
    for name, size in terms:
        expr += f" + {name}.astype(np.int64) * {size}"
    if const:
        expr += f" + {const}"
    if op.operands[0] in g.prov:
        g.prov[op.results[0]] = g.prov[op.operands[0]]
    g.emit(f"{g.res(op)} = np.int64({expr})" if not terms else f"{g.res(op)} = {expr}")


def memory_layout(g, t):
    """How a loaded or stored type sits in memory, as names and numbers for the runtime:
    (memory dtype, shape, bytes, load converter, store converter, element bytes);
    TypeError for a type memory cannot hold.  An ``i128`` is four 32-bit words
    (:mod:`.wide`), so a buffer access of one is range checked per dword."""
    if is_wide(t):
        dt, shape = held(t)
        return g.const(dt), shape, byte_size(t), None, None, 4
    el, shape = (t.elem, tuple(t.shape)) if t.kind == "vector" else (t, ())
    if el.kind == "float" and el.name == "bf16":
        return (g.const(np.uint16), shape, byte_size(t), g.const(semantics.bits_to_bf16),
                g.const(semantics.bf16_to_bits), byte_size(el))
    if el.kind == "ptr":
        if el.addrspace in OFFSET_SPACES:
            return g.const(np.int32), shape, byte_size(t), g.const(runtime.widen_offset), None, 4
        return g.const(np.int64), shape, byte_size(t), None, None, 8
    if el.kind not in ("int", "float"):
        raise TypeError(str(t))
    return g.const(np_dtype(el)), shape, byte_size(t), None, None, byte_size(el)


def _bounds(g, pointer, space):
    """``(lo, hi)`` expressions bounding an access through ``pointer`` (LDS only)."""
    if space == AddressSpace.LDS:
        lo, hi = g.prov.get(pointer, (0, None))
        return str(lo), (str(hi) if hi is not None else "X.lds.nbytes")
    return "0", "0"


def _access(g, op, value_type, pointer: int, what: str) -> str:
    """The runtime arguments after the mask of a load or store of ``value_type`` through
    operand ``pointer``: address space, memory layout, converter, bounds and op info."""
    space = op.operand_types[pointer].addrspace
    try:
        mdt, shape, nb, lconv, sconv, _es = memory_layout(g, value_type)
    except TypeError:
        g.unsupported(op, f"{what} of {value_type}")
    lo, hi = _bounds(g, op.operands[pointer], space)
    conv = lconv if what == "load" else sconv
    return f"{space}, {mdt}, {shape!r}, {nb}, {conv}, {lo}, {hi}, {g.info(op)}"


@handles("llvm.load", uniformity="load")
def load(g, op, m):
    """Load through a pointer of any address space (0 in inactive lanes)."""
    rest = _access(g, op, g.rtype(op), 0, "load")
    # an address uniform over each workgroup: read once per workgroup and wave, not per lane
    fn = "load_uniform" if g.kind == "kernel" and g.uniformity(op.operands[0]) <= WORKGROUP else "load"
    g.emit(f"{g.res(op)} = rt.{fn}(X, {g.arg(op, 0)}, {m}, {rest})")


@handles("llvm.store", uniformity="effect")
def store(g, op, m):
    """Store through a pointer of any address space (active lanes only)."""
    rest = _access(g, op, op.operand_types[0], 1, "store")
    g.emit(f"rt.store(X, {g.arg(op, 0)}, {g.arg(op, 1)}, {m}, {rest})")


@handles("llvm.intr.lifetime.start", "llvm.intr.lifetime.end", kind="hint", uniformity="effect")
def lifetime(g, op, m):
    """Lifetime markers of private allocations: nothing to run."""
