"""Vectors (``vector`` dialect) and aggregates (``llvm.extractvalue`` / ``insertvalue``).

A vector value is an array with the vector's shape (uniform) or a leading
lane axis before it (per lane); code indexes vectors from the end.
Aggregates (structs, arrays) are tuples.
"""
from __future__ import annotations

import numpy as np

from ..mtypes import np_dtype
from .emitter import is_bf16
from .table import handles

#: ``static_position`` entry that stands for a dynamic position
_DYNAMIC_POSITION = -(2 ** 63)


@handles("llvm.extractvalue", uniformity="operands")
def extractvalue(g, op, m):
    """Field of an aggregate at a static index path."""
    g.emit(f"{g.res(op)} = {g.arg(op, 0)}" + "".join(f"[{int(p)}]" for p in op.attrs["position"]))


@handles("llvm.insertvalue", uniformity="operands")
def insertvalue(g, op, m):
    """An aggregate with one field (static index path) replaced."""
    pos = [int(p) for p in op.attrs["position"]]
    g.emit(f"{g.res(op)} = rt.insert({g.arg(op, 0)}, {pos!r}, {g.arg(op, 1)})")


@handles("vector.broadcast", "vector.splat", uniformity="operands")
def broadcast(g, op, m):
    """A scalar repeated into every element."""
    if op.operand_types[0].kind == "vector":
        g.unsupported(op, "vector-to-vector broadcast")
    g.emit(f"{g.res(op)} = rt.broadcast({g.arg(op, 0)}, {tuple(g.rtype(op).shape)!r})")


@handles("vector.extract", uniformity="operands")
def extract(g, op, m):
    """Element or sub-vector at static or dynamic positions."""
    dyn = iter(op.operands[1:])
    idx = [g.value(next(dyn)) if p == _DYNAMIC_POSITION or p < 0 else str(int(p))
           for p in op.attrs.get("static_position", [])]
    if any(not i.isdigit() for i in idx):
        g.emit(f"{g.res(op)} = rt.vextract_dyn({g.arg(op, 0)}, [{', '.join(idx)}], "
               f"{len(op.operand_types[0].shape)})")
    else:
        g.emit(f"{g.res(op)} = {g.arg(op, 0)}[..., {', '.join(idx)}]")


@handles("vector.extractelement", uniformity="operands")
def extractelement(g, op, m):
    """Element at a dynamic position (or the only element of a 0-d vector)."""
    if len(op.operands) > 1:
        g.emit(f"{g.res(op)} = rt.vextract_dyn({g.arg(op, 0)}, [{g.arg(op, 1)}], 1)")
    else:
        g.emit(f"{g.res(op)} = {g.arg(op, 0)}[..., 0]")


@handles("vector.insert", uniformity="operands")
def insert(g, op, m):
    """A vector with the element or sub-vector at a static position replaced."""
    pos = op.attrs.get("static_position", [])
    if any(p < 0 for p in pos):
        g.unsupported(op, "dynamic insert position")
    g.emit(f"{g.res(op)} = rt.vinsert({g.arg(op, 1)}, {g.arg(op, 0)}, {tuple(int(p) for p in pos)!r}, "
           f"{len(g.rtype(op).shape)})")


@handles("vector.insertelement", uniformity="operands")
def insertelement(g, op, m):
    """A 1-D vector with the element at a dynamic position replaced."""
    g.emit(f"{g.res(op)} = rt.vinsert_dyn({g.arg(op, 1)}, {g.arg(op, 0)}, {g.arg(op, 2)})")


@handles("vector.from_elements", uniformity="operands")
def from_elements(g, op, m):
    """A vector of the given elements."""
    t = g.rtype(op)
    els = ", ".join(g.arg(op, i) for i in range(len(op.operands)))
    g.emit(f"{g.res(op)} = rt.from_elements([{els}], {tuple(t.shape)!r}, {g.dtype(t)})")


@handles("vector.bitcast", uniformity="operands")
def bitcast(g, op, m):
    """The bits of a 1-D vector as another element type."""
    t, s = g.rtype(op), op.operand_types[0]
    sdt = np.uint16 if is_bf16(s) else np_dtype(s)
    a = f"S.bf16_to_bits({g.arg(op, 0)})" if is_bf16(s) else g.arg(op, 0)
    if is_bf16(t):
        g.emit(f"{g.res(op)} = S.bits_to_bf16(rt.vbitcast({a}, {g.const(sdt)}, np.uint16, {t.shape[-1]}))")
    else:
        g.emit(f"{g.res(op)} = rt.vbitcast({a}, {g.const(sdt)}, {g.dtype(t)}, {t.shape[-1]})")


@handles("vector.shape_cast", uniformity="operands")
def shape_cast(g, op, m):
    """The same elements in another shape."""
    t, s = g.rtype(op), op.operand_types[0]
    g.emit(f"{g.res(op)} = rt.reshape({g.arg(op, 0)}, {tuple(s.shape)!r}, {tuple(t.shape)!r})")


#: reduction kind -> NumPy reduction over the last axis
_REDUCTIONS = {"add": "sum", "mul": "prod", "maxsi": "max", "minsi": "min", "maxnumf": "max",
               "minnumf": "min", "maximumf": "max", "minimumf": "min", "and": "bitwise_and.reduce",
               "or": "bitwise_or.reduce", "xor": "bitwise_xor.reduce"}


@handles("vector.reduction", uniformity="operands")
def reduction(g, op, m):
    """Reduction of a vector's elements (add, mul, min/max, and/or/xor)."""
    kind = str(op.attrs.get("kind", "")).strip(">").split()[-1].split("<")[-1]
    fn = _REDUCTIONS.get(kind)
    if fn is None:
        g.unsupported(op, f"reduction kind {kind}")
    g.emit(f"{g.res(op)} = np.{fn}({g.arg(op, 0)}, axis=-1).astype({g.dtype(g.rtype(op))})")
