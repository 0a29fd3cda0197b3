"""Scalar and elementwise ops: ``arith``, ``math``, and their ``llvm`` spellings.

Semantics live in :mod:`kernels.emu.semantics` (integers wrap in their
declared width, ``i1`` arithmetic is mod 2, floats round in their declared
width, bf16 is float32 rounded after every op); the handlers here pick the
NumPy expression.  Each op works on uniform scalars and lane arrays alike.
"""
from __future__ import annotations

import numpy as np

from .. import semantics
from ..mtypes import np_dtype, udtype
from .emitter import elem, held_as_tuple, is_bf16, rank, round_if_bf16
from .table import handles
from .wide import held

# ---------------------------------------------------------------- constants


@handles("arith.constant", "llvm.mlir.constant", uniformity="launch")
def constant(g, op, m):
    """A constant of integer, float or dense vector type."""
    t = g.rtype(op)
    val = op.attrs["value"]
    if isinstance(val, np.ndarray):
        c = val.astype(np_dtype(t))
    elif t.kind == "int":
        dt = np_dtype(t)
        if t.width == 1:
            c = np.bool_(bool(val))
        else:
            w = t.width
            iv = ((int(val) + (1 << (w - 1))) % (1 << w)) - (1 << (w - 1))
            c = dt(iv)
            g.consts[op.results[0]] = iv
    elif t.kind == "float":
        c = np_dtype(t)(float(val))
        if is_bf16(t):
            c = semantics.round_bf16(c)
    else:
        g.unsupported(op, f"constant of type {t}")
    g.define(op, g.const(c))


def _zero(g, t, op):
    if t.kind == "struct":
        return tuple(_zero(g, f, op) for f in t.fields)
    if t.kind == "array":
        return tuple(_zero(g, t.elem, op) for _ in range(t.count))
    if t.kind == "vector":
        return np.zeros(t.shape, np_dtype(t))
    if t.kind in ("int", "float", "ptr"):
        return np_dtype(t)(0)
    g.unsupported(op, f"undef of type {t}")


@handles("llvm.mlir.undef", "llvm.mlir.poison", "llvm.mlir.zero", "ub.poison", uniformity="launch")
def zero_value(g, op, m):
    """Undefined, poison and zero values: all zero bits (aggregates field by field)."""
    g.define(op, g.const(_zero(g, g.rtype(op), op)))


# ---------------------------------------------------------------- integer arithmetic

#: (op names, Python operator, operator on i1): wrapping two's complement; i1 is mod 2.
_INT_BINARY = [
    (("arith.addi", "llvm.add"), "+", "^"),
    (("arith.subi", "llvm.sub"), "-", "^"),
    (("arith.muli", "llvm.mul"), "*", "&"),
    (("arith.andi", "llvm.and"), "&", "&"),
    (("arith.ori", "llvm.or"), "|", "|"),
    (("arith.xori", "llvm.xor"), "^", "^"),
]
_INT_OPERATOR = {name: (sym, sym_i1) for names, sym, sym_i1 in _INT_BINARY for name in names}


@handles(*_INT_OPERATOR, uniformity="operands")
def int_binary(g, op, m):
    """Integer add, sub, mul, and, or, xor."""
    sym, sym_i1 = _INT_OPERATOR[op.name]
    g.emit(f"{g.res(op)} = {g.arg(op, 0)} {sym_i1 if elem(g.rtype(op)).width == 1 else sym} {g.arg(op, 1)}")


#: op name -> (function of :mod:`kernels.emu.semantics`, whether a zero divisor is UB)
_INT_FUNCTION = {
    "arith.divsi": ("divsi", True), "llvm.sdiv": ("divsi", True),
    "arith.divui": ("divui", True), "llvm.udiv": ("divui", True),
    "arith.remsi": ("remsi", True), "llvm.srem": ("remsi", True),
    "arith.remui": ("remui", True), "llvm.urem": ("remui", True),
    "arith.floordivsi": ("floordivsi", True),
    "arith.ceildivsi": ("ceildivsi", True),
    "arith.ceildivui": ("ceildivui", True),
    "arith.maxsi": ("maxsi", False), "arith.minsi": ("minsi", False),
    "arith.maxui": ("maxui", False), "arith.minui": ("minui", False),
}


@handles(*_INT_FUNCTION, uniformity={n: "checked" if z else "operands" for n, (_f, z) in _INT_FUNCTION.items()})
def int_function(g, op, m):
    """Integer division, remainder, min and max; division by zero is reported by the sanitizer."""
    fn, checks_zero = _INT_FUNCTION[op.name]
    if checks_zero:
        guard = "if X.sanitize: " if g.kind == "kernel" else ""
        g.emit(f"{guard}rt.check_div(X, {g.arg(op, 1)}, {m}, {g.info(op)})")
    g.emit(f"{g.res(op)} = S.{fn}({g.arg(op, 0)}, {g.arg(op, 1)})")


#: op name -> function of :mod:`kernels.emu.semantics`
_SHIFTS = {"arith.shli": "shl", "llvm.shl": "shl", "arith.shrui": "shrui", "llvm.lshr": "shrui",
           "arith.shrsi": "shrsi", "llvm.ashr": "shrsi"}


@handles(*_SHIFTS, uniformity="operands")
def shift(g, op, m):
    """Shifts; an amount >= the width is taken modulo the width (as the ISA does)."""
    fn = _SHIFTS[op.name]
    t = g.rtype(op)
    e = elem(t)
    a = g.arg(op, 0)
    if e.width == 1:
        g.emit(f"{g.res(op)} = {a}")
        return
    amt = g.consts.get(op.operands[1])
    if amt is not None and t.kind != "vector":
        k = amt % e.width
        if fn == "shl":
            g.emit(f"{g.res(op)} = {a} << {g.const(np_dtype(t)(k))}")
        elif fn == "shrsi":
            g.emit(f"{g.res(op)} = {a} >> {g.const(np_dtype(t)(k))}")
        else:
            g.emit(f"{g.res(op)} = (S.as_u({a}) >> {g.const(udtype(t)(k))}).astype({g.dtype(t)})")
        return
    g.emit(f"{g.res(op)} = S.{fn}({a}, {g.arg(op, 1)}, {e.width})")


# ---------------------------------------------------------------- floating point

#: op name -> Python operator
_FLOAT_OPERATOR = {"arith.addf": "+", "llvm.fadd": "+", "arith.subf": "-", "llvm.fsub": "-",
                   "arith.mulf": "*", "llvm.fmul": "*", "arith.divf": "/", "llvm.fdiv": "/"}


@handles(*_FLOAT_OPERATOR, uniformity="operands")
def float_binary(g, op, m):
    """Float add, sub, mul, div in the declared width."""
    g.emit(f"{g.res(op)} = " + round_if_bf16(g.rtype(op), f"{g.arg(op, 0)} {_FLOAT_OPERATOR[op.name]} {g.arg(op, 1)}"))


@handles("arith.remf", uniformity="operands")
def remf(g, op, m):
    """Float remainder with the sign of the dividend (C ``fmod``)."""
    g.emit(f"{g.res(op)} = " + round_if_bf16(g.rtype(op), f"np.fmod({g.arg(op, 0)}, {g.arg(op, 1)})"))


@handles("arith.negf", uniformity="operands")
def negf(g, op, m):
    """Float negation (flips the sign bit, also of zeros and NaNs)."""
    g.emit(f"{g.res(op)} = -{g.arg(op, 0)}")


#: op name -> function: ``maximumf``/``minimumf`` propagate NaN and order -0.0 below +0.0
#: (:func:`kernels.emu.semantics.maximumf`), ``maxnumf``/``minnumf`` return the other operand
#: when one is NaN.
_FLOAT_MINMAX = {"arith.maximumf": "S.maximumf", "arith.minimumf": "S.minimumf",
                 "arith.maxnumf": "np.fmax", "arith.minnumf": "np.fmin"}


@handles(*_FLOAT_MINMAX, uniformity="operands")
def float_minmax(g, op, m):
    """Float min and max (NaN-propagating or NaN-ignoring, per op)."""
    g.emit(f"{g.res(op)} = {_FLOAT_MINMAX[op.name]}({g.arg(op, 0)}, {g.arg(op, 1)}).astype({g.dtype(g.rtype(op))})")


# ---------------------------------------------------------------- comparisons and select

def _cmpi(g, op, pred):
    a, b = g.arg(op, 0), g.arg(op, 1)
    sym = {0: "==", 1: "!=", 2: "<", 3: "<=", 4: ">", 5: ">="}.get(pred)
    if sym:
        g.emit(f"{g.res(op)} = {a} {sym} {b}")
    else:
        g.emit(f"{g.res(op)} = S.cmpi({pred}, {a}, {b})")


@handles("arith.cmpi", uniformity="operands")
def cmpi(g, op, m):
    """Integer comparison (signed predicates compare as stored, unsigned reinterpret)."""
    pred = op.attrs["predicate"]
    if isinstance(pred, str):
        pred = semantics.CMPI_NAMES[pred.split()[-1].strip(">")]
    _cmpi(g, op, int(pred))


@handles("llvm.icmp", uniformity="operands")
def icmp(g, op, m):
    """``llvm.icmp``, whose predicate attribute is a name (``"slt"``) or a number."""
    pred = op.attrs.get("predicate")
    names = semantics.CMPI_NAMES
    pred = names[pred] if isinstance(pred, str) and pred in names else names.get(str(pred).strip('"'), pred)
    _cmpi(g, op, int(pred))


@handles("arith.cmpf", uniformity="operands")
def cmpf(g, op, m):
    """Float comparison, ordered and unordered predicates."""
    g.emit(f"{g.res(op)} = S.cmpf({int(op.attrs['predicate'])}, {g.arg(op, 0)}, {g.arg(op, 1)})")


@handles("arith.select", "llvm.select", uniformity="operands")
def select(g, op, m):
    """Select by a scalar, per-lane or vector condition; also of structs and buffer descriptors."""
    t = g.rtype(op)
    c, a, b = g.arg(op, 0), g.arg(op, 1), g.arg(op, 2)
    if t.kind == "vector" and op.operand_types[0].kind != "vector":
        g.emit(f"{g.res(op)} = rt.selv({c}, {a}, {b}, {rank(t)})")
    elif held_as_tuple(t):
        g.emit(f"{g.res(op)} = ({a} if {c} else {b}) if _nd({c}) == 0 else rt.merge_any({c}, {a}, {b})")
    else:
        g.emit(f"{g.res(op)} = rt.sel({c}, {a}, {b})")


# ---------------------------------------------------------------- casts

def _astype(g, op, expr=None):
    g.emit(f"{g.res(op)} = {expr or g.arg(op, 0)}.astype({g.dtype(g.rtype(op))})")


@handles("arith.extsi", "llvm.sext", uniformity="operands")
def extsi(g, op, m):
    """Sign extension (an ``i1`` true becomes -1)."""
    if elem(op.operand_types[0]).width == 1:
        g.emit(f"{g.res(op)} = rt.ext_i1_signed({g.arg(op, 0)}, {g.dtype(g.rtype(op))})")
    else:
        _astype(g, op)


@handles("arith.extui", "llvm.zext", uniformity="operands")
def extui(g, op, m):
    """Zero extension."""
    if elem(op.operand_types[0]).width == 1:
        _astype(g, op)
    else:
        _astype(g, op, f"S.as_u({g.arg(op, 0)})")


@handles("arith.trunci", "llvm.trunc", uniformity="operands")
def trunci(g, op, m):
    """Truncation to the low bits."""
    if elem(g.rtype(op)).width == 1:
        g.emit(f"{g.res(op)} = ({g.arg(op, 0)} & 1).astype(np.bool_)")
    else:
        _astype(g, op)


@handles("arith.index_cast", uniformity="operands")
def index_cast(g, op, m):
    """Signed cast between ``index`` and an integer type."""
    t, s = g.rtype(op), op.operand_types[0]
    if s.kind == "int" and s.width == 1:
        g.emit(f"{g.res(op)} = rt.ext_i1_signed({g.arg(op, 0)}, {g.dtype(t)})")
    else:
        _astype(g, op)


@handles("arith.index_castui", uniformity="operands")
def index_castui(g, op, m):
    """Unsigned cast between ``index`` and an integer type."""
    t, s = g.rtype(op), op.operand_types[0]
    if s.width > t.width or s.width == 1:
        _astype(g, op)
    else:
        _astype(g, op, f"S.as_u({g.arg(op, 0)})")


@handles("arith.sitofp", "llvm.sitofp", "arith.uitofp", "llvm.uitofp", uniformity="operands")
def int_to_float(g, op, m):
    """Signed / unsigned integer to float, rounded to the declared width."""
    t = g.rtype(op)
    unsigned = op.name.endswith("uitofp")
    g.emit(f"{g.res(op)} = " + round_if_bf16(t, f"S.int_to_fp({g.arg(op, 0)}, {g.dtype(t)}, {unsigned})"))


@handles("arith.fptosi", "llvm.fptosi", "arith.fptoui", "llvm.fptoui", uniformity="operands")
def float_to_int(g, op, m):
    """Float to signed / unsigned integer: out of range saturates, NaN gives 0 (as ``v_cvt_*``)."""
    unsigned = op.name.endswith("fptoui")
    g.emit(f"{g.res(op)} = S.fp_to_int({g.arg(op, 0)}, {g.dtype(g.rtype(op))}, {unsigned})")


@handles("arith.extf", "llvm.fpext", uniformity="operands")
def extf(g, op, m):
    """Float widening (exact)."""
    _astype(g, op)


@handles("arith.truncf", "llvm.fptrunc", uniformity="operands")
def truncf(g, op, m):
    """Float narrowing, round to nearest even."""
    if is_bf16(g.rtype(op)):
        g.emit(f"{g.res(op)} = S.round_bf16({g.arg(op, 0)})")
    else:
        _astype(g, op)


def _bits(g, t, expr):
    """(expression of ``expr``'s bits, name of their dtype) for a value of type ``t``."""
    if is_bf16(t):
        return f"S.bf16_to_bits({expr})", g.const(np.uint16)
    return expr, g.const(held(t)[0])


@handles("arith.bitcast", "llvm.bitcast", uniformity="operands")
def bitcast(g, op, m):
    """Reinterpret the bits (little-endian element order between scalars and vectors)."""
    t, s = g.rtype(op), op.operand_types[0]
    a, sdt = _bits(g, s, g.arg(op, 0))
    t_dt, t_shape = held(t)  # i128 is held as four 32-bit words (.wide)
    s_shape = held(s)[1]
    ddt = g.const(np.uint16) if is_bf16(t) else None
    if t_shape != s_shape:  # e.g. llvm.bitcast i64 -> vector<2xf32>: the lane axis must stay apart
        expr = f"rt.shaped_bitcast({a}, {sdt}, {len(s_shape)}, {ddt or g.const(t_dt)}, {t_shape!r})"
    else:
        expr = f"S.bitcast({a}, {sdt}, {'np.uint16' if ddt else g.const(t_dt)})"
    g.emit(f"{g.res(op)} = " + (f"S.bits_to_bf16({expr})" if ddt else expr))


# ---------------------------------------------------------------- math

@handles("math.absi", "math.absf", uniformity="operands")
def absolute(g, op, m):
    """Absolute value (integers wrap: ``abs(INT_MIN) == INT_MIN``)."""
    g.emit(f"{g.res(op)} = np.abs({g.arg(op, 0)})")


#: op name -> NumPy function
_MATH_UNARY = {"math.sqrt": "sqrt", "math.exp": "exp", "math.exp2": "exp2", "math.log": "log",
               "math.log2": "log2", "math.floor": "floor", "math.ceil": "ceil"}


@handles(*_MATH_UNARY, uniformity="operands")
def math_unary(g, op, m):
    """sqrt, exp, exp2, log, log2, floor, ceil, rounded to the declared width."""
    t = g.rtype(op)
    g.emit(f"{g.res(op)} = " + round_if_bf16(t, f"np.{_MATH_UNARY[op.name]}({g.arg(op, 0)}).astype({g.dtype(t)})"))


@handles("math.rsqrt", uniformity="operands")
def rsqrt(g, op, m):
    """Reciprocal square root ``1 / sqrt(x)``, computed in float64 and rounded once to the declared width
    (the hardware's ``v_rsq`` is within one ulp of that; negative inputs give NaN, +-0 give +-inf)."""
    t = g.rtype(op)
    with_f64 = f"(1.0 / np.sqrt(np.asarray({g.arg(op, 0)}, np.float64))).astype({g.dtype(t)})"
    g.emit(f"with np.errstate(divide='ignore', invalid='ignore'): {g.res(op)} = " + round_if_bf16(t, with_f64))


@handles("math.fma", uniformity="operands")
def fma(g, op, m):
    """Fused multiply-add: ``a * b + c`` computed in float64, rounded once to the declared width."""
    a, b, c = (g.arg(op, i) for i in range(3))
    g.emit(f"{g.res(op)} = (np.asarray({a}, np.float64) * {b} + {c}).astype({g.dtype(g.rtype(op))})")


@handles("math.ctpop", uniformity="operands")
def ctpop(g, op, m):
    """Population count of the bits as unsigned."""
    g.emit(f"{g.res(op)} = np.bitwise_count(S.as_u({g.arg(op, 0)})).astype({g.dtype(g.rtype(op))})")


@handles("llvm.intr.expect", uniformity="operands")
def expect(g, op, m):
    """A branch-probability hint on a value (``llvm.intr.expect``, as FlyDSL's attention kernels emit it):
    the value itself."""
    g.emit(f"{g.res(op)} = {g.arg(op, 0)}")


@handles("llvm.intr.assume", kind="hint", uniformity="effect")
def assume(g, op, m):
    """A compiler assumption: nothing to run."""
