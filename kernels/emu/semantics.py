"""Integer and float semantics of the ``arith`` / ``math`` ops, on NumPy values.

Values are NumPy scalars (wave-uniform) or arrays (one element per lane; vector
values add trailing dims).  Integers are held in the *signed* NumPy dtype of
their width (``i1`` as ``bool``); unsigned ops reinterpret.  Overflow wraps
(two's complement), as ``arith`` defines for ops without ``nsw``/``nuw``.

Documented decisions where ``arith`` says poison / UB:

* shifts by an amount >= the bit width are poison in ``arith``; we return what
  the AMD shift instructions give for a non-constant amount: the amount is
  taken modulo the bit width (``v_lshlrev_b32`` reads 5 bits, ``_b64`` 6 bits).
* integer division / remainder by zero is immediate UB: the sanitizer reports
  it for active lanes (:class:`UndefinedBehaviorError`); without the
  sanitizer the result is 0.  ``INT_MIN / -1`` wraps to ``INT_MIN``.
* ``fptosi``/``fptoui`` out of range (poison) saturate, NaN gives 0, as
  ``v_cvt_i32_f32`` does.
* ``bf16`` is held as float32 rounded to nearest-even bf16 after every op that
  computes (arithmetic, conversions, ``truncf``: a NaN comes out quiet); ops
  that move bits (loads, stores, bitcasts, vector element moves, ``select``)
  keep every pattern, signalling NaNs included (:func:`bf16_to_bits`).
"""
from __future__ import annotations

import numpy as np

from .arrays import ndim

_U = {np.dtype(np.int8): np.uint8, np.dtype(np.int16): np.uint16,
      np.dtype(np.int32): np.uint32, np.dtype(np.int64): np.uint64,
      np.dtype(np.bool_): np.bool_}


def udt(x):
    return _U[np.asarray(x).dtype] if not isinstance(x, np.generic) else _U[x.dtype]


def as_u(x):
    return np.asarray(x).astype(udt(x)) if not isinstance(x, np.generic) else x.astype(udt(x))


def from_u(x, dt):
    return x.astype(dt)


# ---------------------------------------------------------------- bf16
def round_bf16(x):
    """Round float32 values to bf16 precision (nearest-even), NaN kept quiet."""
    a = np.asarray(x, dtype=np.float32)
    b = a.view(np.uint32) if a.ndim else np.array(a, dtype=np.float32).reshape(1).view(np.uint32)
    lsb = (b >> np.uint32(16)) & np.uint32(1)
    r = (b + np.uint32(0x7FFF) + lsb) & np.uint32(0xFFFF0000)
    nan = np.isnan(a.reshape(b.shape))
    r = np.where(nan, (b | np.uint32(0x00400000)) & np.uint32(0xFFFF0000), r).astype(np.uint32)
    out = r.view(np.float32)
    if a.ndim == 0:
        return np.float32(out[0])
    return out


def bf16_to_bits(x):
    """The 16 bits of held bf16 values, unchanged: a held value is float32 whose low 16
    bits are zero, so its top half is the bf16 (signalling NaNs stay signalling, as
    plain moves keep them).  A float32 with low bits set is rounded first (``round_bf16``)."""
    a = np.asarray(x, dtype=np.float32)
    b = a.view(np.uint32) if a.ndim else a.reshape(1).view(np.uint32)
    exact = (b & np.uint32(0xFFFF)) == 0
    if not exact.all():
        b = np.where(exact, b, np.asarray(round_bf16(a)).reshape(b.shape).view(np.uint32))
    out = (b >> np.uint32(16)).astype(np.uint16)
    return out if a.ndim else out[0]


def bits_to_bf16(b):
    b = np.asarray(b).astype(np.uint32) << np.uint32(16)
    return b.view(np.float32)


# ---------------------------------------------------------------- integers
def shl(a, b, width):
    s = as_u(b) % np.uint64(width) if width > 1 else b
    return (as_u(a) << s.astype(udt(a))).astype(np.asarray(a).dtype) if width > 1 else a & ~b


def shrui(a, b, width):
    s = as_u(b) % np.uint64(width)
    return (as_u(a) >> s.astype(udt(a))).astype(np.asarray(a).dtype)


def shrsi(a, b, width):
    s = as_u(b) % np.uint64(width)
    return (a >> s.astype(np.asarray(a).dtype))


def _safe_div(b):
    """The divisor with 1 where it is 0 (a nonzero scalar as a 0-d array of its dtype)."""
    if ndim(b) == 0 and b != 0:
        return np.asarray(b)
    return np.where(b == 0, np.ones_like(b), b)


def _zero_on_div0(q, b, rt):
    """``q`` with 0 where the divisor ``b`` is 0, as dtype ``rt`` (a lane array ``q`` divided
    by a nonzero scalar is ``q`` itself, converted)."""
    if ndim(b) == 0 and b != 0 and isinstance(q, np.ndarray) and q.ndim:
        return q.astype(rt)
    return np.where(b == 0, np.zeros_like(q), q).astype(rt)


def divsi(a, b):
    b1 = _safe_div(b)
    q = np.floor_divide(a, b1)
    r = a - q * b1
    q = q + ((r != 0) & ((a < 0) != (b1 < 0))).astype(q.dtype)
    return _zero_on_div0(q, b, np.result_type(a, b))


def remsi(a, b):
    b1 = _safe_div(b)
    r = np.fmod(a, b1)
    return _zero_on_div0(r, b, np.result_type(a, b))


def divui(a, b):
    ua, ub = as_u(a), as_u(b)
    q = ua // _safe_div(ub)
    return _zero_on_div0(q, ub, np.result_type(a, b))


def remui(a, b):
    ua, ub = as_u(a), as_u(b)
    r = ua % _safe_div(ub)
    return _zero_on_div0(r, ub, np.result_type(a, b))


def floordivsi(a, b):
    b1 = _safe_div(b)
    q = np.floor_divide(a, b1)
    return _zero_on_div0(q, b, np.result_type(a, b))


def ceildivsi(a, b):
    b1 = _safe_div(b)
    q = np.floor_divide(a, b1)
    q = q + (a - q * b1 != 0).astype(q.dtype)
    return _zero_on_div0(q, b, np.result_type(a, b))


def ceildivui(a, b):
    ua, ub = as_u(a), as_u(b)
    ub1 = _safe_div(ub)
    q = ua // ub1
    q = q + (ua % ub1 != 0).astype(q.dtype)
    return _zero_on_div0(q, ub, np.result_type(a, b))


def cmpi(pred, a, b):
    if pred == 0:
        return a == b
    if pred == 1:
        return a != b
    if pred == 2:
        return a < b
    if pred == 3:
        return a <= b
    if pred == 4:
        return a > b
    if pred == 5:
        return a >= b
    ua, ub = as_u(a), as_u(b)
    if pred == 6:
        return ua < ub
    if pred == 7:
        return ua <= ub
    if pred == 8:
        return ua > ub
    if pred == 9:
        return ua >= ub
    raise ValueError(f"bad cmpi predicate {pred}")


CMPI_NAMES = {"eq": 0, "ne": 1, "slt": 2, "sle": 3, "sgt": 4, "sge": 5, "ult": 6, "ule": 7, "ugt": 8, "uge": 9}


def cmpf(pred, a, b):
    unord = np.isnan(a) | np.isnan(b)
    if pred == 0:
        return np.zeros(np.broadcast(a, b).shape, bool) if np.ndim(a) or np.ndim(b) else np.bool_(False)
    if pred == 15:
        return np.ones(np.broadcast(a, b).shape, bool) if np.ndim(a) or np.ndim(b) else np.bool_(True)
    base = {1: a == b, 2: a > b, 3: a >= b, 4: a < b, 5: a <= b, 6: a != b, 7: ~unord,
            8: a == b, 9: a > b, 10: a >= b, 11: a < b, 12: a <= b, 13: a != b, 14: unord}[pred]
    if pred in (1, 2, 3, 4, 5, 6):
        return base & ~unord
    if pred in (8, 9, 10, 11, 12, 13):
        return base | unord
    return base


def maxsi(a, b):
    return np.maximum(a, b)


def minsi(a, b):
    return np.minimum(a, b)


def maximumf(a, b):
    """IEEE 754-2019 ``maximum``: NaN if either is NaN, and -0.0 orders below +0.0
    (``np.maximum`` returns either zero when they compare equal)."""
    return np.where(a == b, np.where(np.signbit(a), b, a), np.maximum(a, b))


def minimumf(a, b):
    """IEEE 754-2019 ``minimum``: NaN if either is NaN, and -0.0 orders below +0.0."""
    return np.where(a == b, np.where(np.signbit(a), a, b), np.minimum(a, b))


def maxui(a, b):
    return np.where(as_u(a) >= as_u(b), a, b)


def minui(a, b):
    return np.where(as_u(a) <= as_u(b), a, b)


def fp_to_int(x, dt, unsigned):
    info = np.iinfo(np.dtype(dt) if not unsigned else np.dtype(_U[np.dtype(dt)]))
    x = np.asarray(x, dtype=np.float64)
    y = np.where(np.isnan(x), 0.0, np.clip(np.trunc(x), info.min, info.max))
    if unsigned:
        r = y.astype(np.dtype(_U[np.dtype(dt)])).astype(dt)
    else:
        r = y.astype(dt)
    return r if r.ndim else dt(r)


def int_to_fp(x, fdt, unsigned):
    if unsigned:
        x = as_u(x)
    r = np.asarray(x).astype(np.float64).astype(fdt) if np.asarray(x).dtype.itemsize == 8 else np.asarray(x).astype(fdt)
    return r if r.ndim else fdt(r)


def bitcast(x, src_dt, dst_dt):
    a = np.ascontiguousarray(np.asarray(x, dtype=src_dt))
    return a.view(dst_dt) if a.ndim else a.reshape(1).view(dst_dt)[0]
