"""Per-op semantic tests of the ops ``test_ops.py`` / ``test_amd_ops.py`` leave out.

One small independent Python reference per op, corner cases written out:
the ``llvm`` spellings of integer and float ops, float min/max (NaN), remainder
and negation, the ``math`` ops, casts to unsigned, constants and undefined
values, aggregates, ``scf.execute_region`` / ``scf.index_switch``, thread and
block ids in three dimensions, ``mbcnt``, the barrier spellings and the hints
that must leave results alone.  Inputs run per lane and, where ``both`` is
used, also as wave-uniform scalars.
"""
import math
from fractions import Fraction

import numpy as np
import pytest

import kernels.emu as emu
from tests.emu.mlir_harness import run_lanes, run_module
from tests.emu.references import both, edge_values, u, wrap
from tests.emu.test_amd_ops import BARRIER_KERNEL

pytestmark = pytest.mark.interpreter
LANE = np.arange(64, dtype=np.int32)


def _tdiv(a, b):
    """Division truncating toward zero (C, LLVM ``sdiv``)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


# ------------------------------------------------------------ llvm spellings of integer ops
LLVM_INT = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "sdiv": _tdiv, "srem": lambda a, b: a - _tdiv(a, b) * b,
    "udiv": lambda a, b: u(a, 32) // u(b, 32), "urem": lambda a, b: u(a, 32) % u(b, 32),
    "shl": lambda a, s: a << (s % 32), "ashr": lambda a, s: a >> (s % 32),
    "lshr": lambda a, s: u(a, 32) >> (s % 32),
}


@pytest.mark.parametrize("name", sorted(LLVM_INT))
def test_llvm_integer_ops(name):
    a = edge_values("i32")
    b = edge_values("i32", draw=1)[::-1].copy()
    if name in ("shl", "ashr", "lshr"):
        b = (LANE % 40).astype(np.int32)
    b[b == 0] = 5
    both(f"%r = llvm.{name} %a0, %a1 : i32", ["i32", "i32"], "i32", [a, b],
         lambda x, y: wrap(LLVM_INT[name](x, y), 32))


@pytest.mark.parametrize("pred,fn", [("eq", lambda x, y: x == y), ("ne", lambda x, y: x != y),
                                     ("slt", lambda x, y: x < y), ("sge", lambda x, y: x >= y),
                                     ("ult", lambda x, y: u(x, 32) < u(y, 32)),
                                     ("ugt", lambda x, y: u(x, 32) > u(y, 32))])
def test_llvm_icmp(pred, fn):
    a, b = edge_values("i32"), edge_values("i32", draw=1)[::-1].copy()
    b[:8] = a[:8]
    got = run_lanes(f'%r = llvm.icmp "{pred}" %a0, %a1 : i32', ["i32", "i32"], "i1", [a, b])
    np.testing.assert_array_equal(got, [fn(int(x), int(y)) for x, y in zip(a, b)])


def test_llvm_select():
    c = LANE % 3 == 1
    got = run_lanes("%r = llvm.select %a0, %a1, %a2 : i1, i32", ["i1", "i32", "i32"], "i32", [c, LANE, -LANE])
    np.testing.assert_array_equal(got, [x if k else -x for k, x in zip(c, LANE)])


@pytest.mark.parametrize("body,src,dst,ref", [
    ("%r = llvm.sext %a0 : i8 to i32", "i8", "i32", lambda x: x),
    ("%r = llvm.zext %a0 : i8 to i32", "i8", "i32", lambda x: u(x, 8)),
    ("%r = llvm.trunc %a0 : i32 to i8", "i32", "i8", lambda x: wrap(x, 8)),
])
def test_llvm_integer_casts(body, src, dst, ref):
    both(body, [src], dst, [edge_values(src)], ref)


# ------------------------------------------------------------ floats
F32_VALUES = np.array([0.0, -0.0, 1.0, -1.5, 2.5, -7.25, 1e-3, 3.0e38, -3.0e38, 1e-40, np.inf, -np.inf,
                       np.nan, 0.1, 100.0, -0.5] * 4, np.float32)


def _f32_bits(x):
    return np.asarray(x, np.float32).view(np.uint32)


@pytest.mark.parametrize("name,fn", [("fadd", lambda a, b: a + b), ("fsub", lambda a, b: a - b),
                                     ("fmul", lambda a, b: a * b), ("fdiv", lambda a, b: a / b)])
def test_llvm_float_binary_rounds_once_to_f32(name, fn):
    a = F32_VALUES
    b = np.roll(F32_VALUES, 5)
    got = run_lanes(f"%r = llvm.{name} %a0, %a1 : f32", ["f32", "f32"], "f32", [a, b])
    with np.errstate(all="ignore"):
        exp = np.array([fn(float(x), float(y)) if not (y == 0 and name == "fdiv") else
                        np.float64(x) / np.float64(y) for x, y in zip(a, b)]).astype(np.float32)
    nan = np.isnan(exp)
    assert np.isnan(got[nan]).all()
    np.testing.assert_array_equal(_f32_bits(got[~nan]), _f32_bits(exp[~nan]))


def _ieee_extremum(pick):
    """``arith.maximumf`` / ``minimumf`` (IEEE 754-2019 maximum / minimum): NaN if either
    operand is NaN; -0.0 orders below +0.0."""
    def ref(a, b):
        if math.isnan(a) or math.isnan(b):
            return math.nan
        return pick((a, b), key=lambda x: (x, math.copysign(1, x)))
    return ref


def _num_extremum(pick):
    """``arith.maxnumf`` / ``minnumf`` (IEEE maxNum / minNum): a NaN operand yields the other."""
    def ref(a, b):
        if math.isnan(a):
            return b
        if math.isnan(b):
            return a
        return pick(a, b)
    return ref


MINMAX_A = np.array([1.0, np.nan, 2.0, np.nan, -np.inf, 5.0, -3.0, np.inf] * 8, np.float32)
MINMAX_B = np.array([np.nan, 1.0, 3.0, np.nan, 4.0, -np.inf, -3.5, 7.0] * 8, np.float32)


@pytest.mark.parametrize("name,ref", [("maximumf", _ieee_extremum(max)), ("minimumf", _ieee_extremum(min)),
                                      ("maxnumf", _num_extremum(max)), ("minnumf", _num_extremum(min))])
def test_float_min_max_and_nan(name, ref):
    got = run_lanes(f"%r = arith.{name} %a0, %a1 : f32", ["f32", "f32"], "f32", [MINMAX_A, MINMAX_B])
    exp = np.array([ref(float(a), float(b)) for a, b in zip(MINMAX_A, MINMAX_B)], np.float32)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(exp))
    np.testing.assert_array_equal(got[~np.isnan(exp)], exp[~np.isnan(exp)])


def test_maximumf_propagates_nan_where_maxnumf_ignores_it():
    a = np.full(64, np.nan, np.float32)
    b = np.full(64, 2.0, np.float32)
    assert np.isnan(run_lanes("%r = arith.maximumf %a0, %a1 : f32", ["f32", "f32"], "f32", [a, b])).all()
    assert (run_lanes("%r = arith.maxnumf %a0, %a1 : f32", ["f32", "f32"], "f32", [a, b]) == 2.0).all()
    assert np.isnan(run_lanes("%r = arith.minimumf %a0, %a1 : f32", ["f32", "f32"], "f32", [b, a])).all()
    assert (run_lanes("%r = arith.minnumf %a0, %a1 : f32", ["f32", "f32"], "f32", [b, a]) == 2.0).all()


def test_remf_takes_the_sign_of_the_dividend():
    a = np.array([7.5, -7.5, 7.5, -7.5, 1.0, 0.0, -0.0, 5.0, np.inf, 3.0, 1e30, -1e-3] * 6, np.float32)[:64]
    b = np.array([2.0, 2.0, -2.0, -2.0, 0.0, 3.0, 3.0, np.inf, 2.0, np.nan, 7.0, 1e-4] * 6, np.float32)[:64]
    got = run_lanes("%r = arith.remf %a0, %a1 : f32", ["f32", "f32"], "f32", [a, b])
    exp = []
    for x, y in zip(a, b):
        x, y = float(x), float(y)
        exp.append(math.nan if (math.isnan(y) or math.isinf(x) or y == 0) else math.fmod(x, y))
    exp = np.array(exp, np.float32)
    nan = np.isnan(exp)
    assert np.isnan(got[nan]).all()
    np.testing.assert_array_equal(_f32_bits(got[~nan]), _f32_bits(exp[~nan]))


def test_negf_flips_only_the_sign_bit():
    got = run_lanes("%r = arith.negf %a0 : f32", ["f32"], "f32", [F32_VALUES])
    np.testing.assert_array_equal(_f32_bits(got), _f32_bits(F32_VALUES) ^ np.uint32(0x80000000))


@pytest.mark.parametrize("name", ["fptoui", "llvm.fptoui"])
def test_float_to_unsigned_saturates(name):
    x = np.array([0.0, 1.5, 2.9, -1.0, -0.5, 4294967040.0, 5e9, np.inf, -np.inf, np.nan, 65535.0, 1e-30] * 6,
                 np.float32)[:64]
    op = name if name.startswith("llvm.") else f"arith.{name}"
    got = run_lanes(f"%r = {op} %a0 : f32 to i32", ["f32"], "i32", [x])
    exp = [0 if math.isnan(v) else min(max(int(v) if math.isfinite(v) else (1 << 40 if v > 0 else -1), 0),
                                       (1 << 32) - 1) for v in map(float, x)]
    np.testing.assert_array_equal(got.view(np.uint32), exp)


@pytest.mark.parametrize("body,ref", [
    ("%r = llvm.fptosi %a0 : f32 to i32", lambda v: 0 if math.isnan(v) else
     min(max(int(v) if math.isfinite(v) else (1 << 40) * (1 if v > 0 else -1), -2**31), 2**31 - 1)),
    ("%r = llvm.sitofp %a0 : i32 to f32", None), ("%r = llvm.uitofp %a0 : i32 to f32", None)])
def test_llvm_int_float_conversions(body, ref):
    if ref is not None:
        x = np.array([0.0, 1.5, -2.5, 3e9, -3e9, np.nan, np.inf, 7.0] * 8, np.float32)
        got = run_lanes(body, ["f32"], "i32", [x])
        np.testing.assert_array_equal(got, [ref(float(v)) for v in x])
        return
    i = edge_values("i32")
    got = run_lanes(body, ["i32"], "f32", [i])
    vals = [u(int(v), 32) if "uitofp" in body else int(v) for v in i]
    np.testing.assert_array_equal(got, np.array([float(Fraction(v)) for v in vals], np.float64).astype(np.float32))


def test_llvm_fpext_and_fptrunc():
    h = (np.arange(64, dtype=np.float32) * 0.37 - 9).astype(np.float16)
    np.testing.assert_array_equal(run_lanes("%r = llvm.fpext %a0 : f16 to f32", ["f16"], "f32", [h]),
                                  [float(v) for v in h])
    x = np.array([0.1, 65520.0, 1e-8, -2.5, 3.14159, 70000.0, -0.0, 1.0 / 3] * 8, np.float32)
    got = run_lanes("%r = llvm.fptrunc %a0 : f32 to f16", ["f32"], "f16", [x])
    with np.errstate(over="ignore"):
        exp = np.array([float(v) for v in x]).astype(np.float16)     # round to nearest even, overflow to inf
    np.testing.assert_array_equal(got.view(np.uint16), exp.view(np.uint16))


# ------------------------------------------------------------ math
def _ulps_apart(a, b):
    ia, ib = _f32_bits(a).astype(np.int64), _f32_bits(b).astype(np.int64)
    return np.abs(ia - ib)


MATH_IN = np.array([0.25, 1.0, 2.0, 10.0, 0.1, 3.5, 60.0, 1e-3] * 8, np.float32)


@pytest.mark.parametrize("name,fn,exact", [
    ("sqrt", math.sqrt, True), ("floor", math.floor, True), ("ceil", math.ceil, True),
    ("exp", math.exp, False), ("exp2", lambda v: 2.0 ** v, False), ("log", math.log, False),
    ("log2", math.log2, False), ("rsqrt", lambda v: 1.0 / math.sqrt(v), False)])
def test_math_unary(name, fn, exact):
    x = MATH_IN if name != "floor" and name != "ceil" else MATH_IN * np.float32(-1.7)
    got = run_lanes(f"%r = math.{name} %a0 : f32", ["f32"], "f32", [x])
    exp = np.array([fn(float(v)) for v in x], np.float64).astype(np.float32)
    if exact:   # correctly rounded in IEEE 754
        np.testing.assert_array_equal(got, exp)
    else:       # within one ulp of the correctly rounded value
        assert (_ulps_apart(got, exp) <= 1).all(), (got, exp)


def test_math_sqrt_of_negative_and_special_values():
    x = np.array([-1.0, -0.0, np.inf, np.nan] * 16, np.float32)
    got = run_lanes("%r = math.sqrt %a0 : f32", ["f32"], "f32", [x])
    assert np.isnan(got[0::4]).all() and np.isnan(got[3::4]).all()
    assert (_f32_bits(got[1::4]) == 0x80000000).all() and np.isinf(got[2::4]).all()


def test_math_rsqrt_of_zero_negative_and_special_values():
    x = np.array([0.0, -0.0, -4.0, np.inf, np.nan, 4.0] * 8, np.float32)
    got = run_lanes("%r = math.rsqrt %a0 : f32", ["f32"], "f32", [x])
    assert (got[0::6] == np.inf).all() and (got[1::6] == -np.inf).all()
    assert np.isnan(got[2::6]).all() and np.isnan(got[4::6]).all()
    assert (_f32_bits(got[3::6]) == 0).all() and (got[5::6] == np.float32(0.5)).all()


def test_math_fma_rounds_once():
    # a*b = 1 + 2^-11 + 2^-24: rounding it to f32 first loses 2^-24, fma keeps it
    a = np.full(64, 1 + 2.0 ** -12, np.float32)
    c = np.full(64, -(1 + 2.0 ** -11), np.float32)
    got = run_lanes("%r = math.fma %a0, %a1, %a2 : f32", ["f32", "f32", "f32"], "f32", [a, a, c])
    assert (got == np.float32(2.0 ** -24)).all()
    rng = np.random.default_rng(5)
    x, y, z = (rng.integers(-4096, 4096, 64).astype(np.float32) / np.float32(64) for _ in range(3))
    got = run_lanes("%r = math.fma %a0, %a1, %a2 : f32", ["f32", "f32", "f32"], "f32", [x, y, z])
    exp = [np.float32(float(Fraction(float(p)) * Fraction(float(q)) + Fraction(float(r)))) for p, q, r in zip(x, y, z)]
    np.testing.assert_array_equal(got, exp)


def test_math_abs():
    both("%r = math.absi %a0 : i32", ["i32"], "i32", [edge_values("i32")], lambda x: wrap(abs(x), 32))
    got = run_lanes("%r = math.absf %a0 : f32", ["f32"], "f32", [F32_VALUES])
    np.testing.assert_array_equal(_f32_bits(got), _f32_bits(F32_VALUES) & np.uint32(0x7FFFFFFF))


@pytest.mark.parametrize("t", ["i8", "i32", "i64"])
def test_math_ctpop(t):
    w = {"i8": 8, "i32": 32, "i64": 64}[t]
    both(f"%r = math.ctpop %a0 : {t}", [t], t, [edge_values(t)], lambda x: bin(u(x, w)).count("1"))


@pytest.mark.parametrize("expected", [0, 1])
def test_llvm_intr_expect_is_its_value(expected):
    vals = np.array([0, 1] * 32, np.int8).astype(bool)
    body = f"%e = arith.constant {'true' if expected else 'false'}\n%r = llvm.intr.expect %a0, %e : i1"
    np.testing.assert_array_equal(run_lanes(body, ["i1"], "i1", [vals]), vals)


# ------------------------------------------------------------ constants, undefined values, aggregates
def test_llvm_constant():
    both("%c = llvm.mlir.constant(-7 : i32) : i32\n%r = arith.muli %a0, %c : i32", ["i32"], "i32",
         [edge_values("i32")], lambda x: wrap(-7 * x, 32))


@pytest.mark.parametrize("op", ["llvm.mlir.undef", "llvm.mlir.poison", "llvm.mlir.zero", "ub.poison"])
def test_undefined_values_are_zero(op):
    """``llvm.mlir.zero`` is zero; undef and poison may be anything: the interpreter's choice is zero."""
    got = run_lanes(f"%z = {op} : i32\n%r = arith.xori %a0, %z : i32", ["i32"], "i32", [LANE * 3])
    np.testing.assert_array_equal(got, LANE * 3)


def test_struct_insertvalue_extractvalue():
    body = """
    %u = llvm.mlir.undef : !llvm.struct<(i32, i64)>
    %w = arith.extsi %a0 : i32 to i64
    %c = arith.constant 1000 : i64
    %w2 = arith.muli %w, %c : i64
    %s0 = llvm.insertvalue %a0, %u[0] : !llvm.struct<(i32, i64)>
    %s = llvm.insertvalue %w2, %s0[1] : !llvm.struct<(i32, i64)>
    %x = llvm.extractvalue %s[0] : !llvm.struct<(i32, i64)>
    %y = llvm.extractvalue %s[1] : !llvm.struct<(i32, i64)>
    %y32 = arith.trunci %y : i64 to i32
    %r = arith.addi %x, %y32 : i32"""
    both(body, ["i32"], "i32", [edge_values("i32")], lambda x: wrap(x + x * 1000, 32))


def test_ptrtoint_inttoptr_round_trip():
    body = """
    %i = llvm.ptrtoint %g0 : !llvm.ptr<1> to i64
    %c4 = arith.constant 4 : i64
    %d = arith.muli %ti, %c4 : i64
    %j = arith.subi %i, %d : i64
    %p = llvm.inttoptr %j : i64 to !llvm.ptr<1>
    %r = llvm.load %p : !llvm.ptr<1> -> i32"""
    got = run_lanes(body, ["i32"], "i32", [LANE + 50])
    np.testing.assert_array_equal(got, np.full(64, 50))        # every lane reads element 0


# ------------------------------------------------------------ vectors this MLIR no longer parses
def test_vector_splat_extractelement_insertelement():
    """Handlers kept for older FlyDSL lowerings, run through the ops that replaced them."""
    body = """
    %v = vector.broadcast %a0 : i32 to vector<4xi32>
    %c2 = arith.constant 2 : index
    %c7 = arith.constant 7 : i32
    %w = vector.insert %c7, %v [%c2] : i32 into vector<4xi32>
    %e2 = vector.extract %w[%c2] : i32 from vector<4xi32>
    %c1 = arith.constant 1 : index
    %e1 = vector.extract %w[%c1] : i32 from vector<4xi32>
    %r = arith.addi %e1, %e2 : i32"""
    renamed = {"vector.broadcast": "vector.splat", "vector.insert": "vector.insertelement",
               "vector.extract": "vector.extractelement"}
    got = run_lanes(body, ["i32"], "i32", [LANE], rename=renamed)
    np.testing.assert_array_equal(got, LANE + 7)


def test_vector_shape_cast_keeps_row_major_order():
    body = """
    %v0 = vector.broadcast %a0 : i32 to vector<4xi32>
    %c1 = arith.constant 1 : i32
    %c2 = arith.constant 2 : i32
    %a1 = arith.addi %a0, %c1 : i32
    %a2 = arith.addi %a0, %c2 : i32
    %v1 = vector.insert %a1, %v0 [1] : i32 into vector<4xi32>
    %v = vector.insert %a2, %v1 [2] : i32 into vector<4xi32>
    %m = vector.shape_cast %v : vector<4xi32> to vector<2x2xi32>
    %r = vector.extract %m[1, 0] : i32 from vector<2x2xi32>"""
    both(body, ["i32"], "i32", [edge_values("i32")], lambda x: wrap(x + 2, 32))


# ------------------------------------------------------------ structured control flow
def test_scf_execute_region_yields_its_value():
    body = """
    %r = scf.execute_region -> i32 {
      %x = arith.muli %a0, %a0 : i32
      scf.yield %x : i32
    }"""
    both(body, ["i32"], "i32", [edge_values("i32")], lambda x: wrap(x * x, 32))


SWITCH = """
    %i = arith.index_cast %a0 : i32 to index
    %r = scf.index_switch %i -> i32
    case 0 {
      %x = arith.constant 10 : i32
      scf.yield %x : i32
    }
    case 3 {
      %y = arith.constant 30 : i32
      scf.yield %y : i32
    }
    default {
      %z = arith.constant -1 : i32
      scf.yield %z : i32
    }"""


@pytest.mark.parametrize("selector,expected", [(0, 10), (3, 30), (1, -1), (-5, -1)])
def test_scf_index_switch_takes_the_matching_case(selector, expected):
    got = run_lanes(SWITCH, ["i32"], "i32", [np.full(64, selector, np.int32)])
    assert (got == expected).all()
    assert (run_lanes(SWITCH, ["i32"], "i32", [np.int32(selector)], uniform=True) == expected).all()


def test_scf_index_switch_on_a_divergent_selector_is_unsupported():
    with pytest.raises(emu.UnsupportedOpError, match="divergent scf.index_switch"):
        run_lanes(SWITCH, ["i32"], "i32", [LANE % 4])


# ------------------------------------------------------------ ids, lanes, barriers, hints
IDS_KERNEL = """
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%out: !llvm.ptr<1>) kernel {
      %tx = gpu.thread_id x
      %ty = gpu.thread_id y
      %tz = gpu.thread_id z
      %bx = gpu.block_id x
      %by = gpu.block_id y
      %bz = gpu.block_id z
      %dx = gpu.block_dim x
      %dy = gpu.block_dim y
      %gx = gpu.grid_dim x
      %gy = gpu.grid_dim y
      %gz = gpu.grid_dim z
      %wx = rocdl.workitem.id.x : i32
      %wy = rocdl.workitem.id.y : i32
      %wz = rocdl.workitem.id.z : i32
      %kx = rocdl.workgroup.id.x : i32
      %ky = rocdl.workgroup.id.y : i32
      %kz = rocdl.workgroup.id.z : i32
      %t1 = arith.muli %tz, %dy : index
      %t2 = arith.addi %t1, %ty : index
      %t3 = arith.muli %t2, %dx : index
      %tid = arith.addi %t3, %tx : index
      %b1 = arith.muli %bz, %gy : index
      %b2 = arith.addi %b1, %by : index
      %b3 = arith.muli %b2, %gx : index
      %bid = arith.addi %b3, %bx : index
      %c64 = arith.constant 64 : index
      %slot0 = arith.muli %bid, %c64 : index
      %slot = arith.addi %slot0, %tid : index
      %c8 = arith.constant 8 : index
      %row = arith.muli %slot, %c8 : index
      %i = arith.index_cast %row : index to i64
      %ti32 = arith.index_cast %tid : index to i32
      %gz32 = arith.index_cast %gz : index to i32
      %vals = vector.from_elements %wx, %wy, %wz, %kx, %ky, %kz, %ti32, %gz32 : vector<8xi32>
      %p = llvm.getelementptr %out[%i] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i32
      llvm.store %vals, %p : vector<8xi32>, !llvm.ptr<1>
      gpu.return
    }
  }
  func.func @host(%o: !llvm.ptr<1>) {
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %c8 = arith.constant 8 : index
    gpu.launch_func @kernels::@k blocks in (%c3, %c2, %c2) threads in (%c8, %c4, %c2) args(%o : !llvm.ptr<1>)
    return
  }
}
"""


def test_thread_and_block_ids_in_three_dimensions():
    out = np.full((12 * 64, 8), -1, np.int32)
    run_module(IDS_KERNEL, [np.int64(out.ctypes.data)], [out])
    exp = np.full_like(out, -1)
    for bz in range(2):
        for by in range(2):
            for bx in range(3):
                for tz in range(2):
                    for ty in range(4):
                        for tx in range(8):
                            tid = (tz * 4 + ty) * 8 + tx
                            slot = ((bz * 2 + by) * 3 + bx) * 64 + tid
                            exp[slot] = [tx, ty, tz, bx, by, bz, tid, 2]
    np.testing.assert_array_equal(out, exp)


def test_lane_id_is_the_lane_within_the_wave():
    got = run_lanes("%l = gpu.lane_id\n%r = arith.index_cast %l : index to i32", ["i32"], "i32",
                    [np.zeros(128, np.int32)])
    np.testing.assert_array_equal(got, np.arange(128) % 64)


def _mbcnt_ref(mask, base, lane, high):
    below = max(lane - 32, 0) if high else min(lane, 32)
    return base + bin(u(mask, 32) & ((1 << below) - 1)).count("1")


@pytest.mark.parametrize("mask", [-1, 0, 0x55555555, 0x80000001, 0x0000FFFF])
def test_mbcnt_counts_mask_bits_below_the_lane(mask):
    base = (LANE * 3).astype(np.int32)
    masks = np.full(64, mask & 0xFFFFFFFF, np.uint32).view(np.int32)
    lo = run_lanes("%r = rocdl.mbcnt.lo %a0, %a1 : (i32, i32) -> i32", ["i32", "i32"], "i32", [masks, base])
    hi = run_lanes("%r = rocdl.mbcnt.hi %a0, %a1 : (i32, i32) -> i32", ["i32", "i32"], "i32", [masks, base])
    np.testing.assert_array_equal(lo, [_mbcnt_ref(mask, int(b), k, False) for k, b in enumerate(base)])
    np.testing.assert_array_equal(hi, [_mbcnt_ref(mask, int(b), k, True) for k, b in enumerate(base)])


def test_mbcnt_pair_gives_the_lane_id():
    body = """
    %m = arith.constant -1 : i32
    %z = arith.constant 0 : i32
    %lo = rocdl.mbcnt.lo %m, %z : (i32, i32) -> i32
    %r = rocdl.mbcnt.hi %m, %lo : (i32, i32) -> i32"""
    np.testing.assert_array_equal(run_lanes(body, ["i32"], "i32", [np.zeros(128, np.int32)]), np.arange(128) % 64)


@pytest.mark.parametrize("barrier", ["rocdl.barrier", "rocdl.s.barrier"])
def test_rocdl_barriers_order_lds_exchange(barrier):
    out = np.zeros(128, np.int32)
    run_module(BARRIER_KERNEL.replace("BARRIER", barrier), [np.int64(out.ctypes.data)], [out])
    np.testing.assert_array_equal(out, 127 - np.arange(128))


HINTS = """
      rocdl.sched.barrier none
      rocdl.sched.group.barrier valu, 1, 0
      rocdl.s.waitcnt 0
      rocdl.s.setprio 1
      rocdl.s.barrier.signal id = -1
      %true = arith.constant true
      llvm.intr.assume %true : i1
      %priv = llvm.inttoptr %ti : i64 to !llvm.ptr<5>
      llvm.intr.lifetime.start %priv : !llvm.ptr<5>
      llvm.intr.lifetime.end %priv : !llvm.ptr<5>
      llvm.fence syncscope("workgroup") acq_rel
"""
HINT_OPS = {"rocdl.sched.barrier", "rocdl.sched.group.barrier", "rocdl.s.waitcnt", "rocdl.s.setprio",
            "rocdl.s.barrier.signal", "llvm.intr.assume", "llvm.intr.lifetime.start", "llvm.intr.lifetime.end",
            "llvm.fence"}


def test_hints_change_nothing_and_are_not_counted():
    text = BARRIER_KERNEL.replace("      BARRIER\n", HINTS + "      gpu.barrier\n")
    out = np.zeros(128, np.int32)
    emu.reset_stats()
    run_module(text, [np.int64(out.ctypes.data)], [out])
    np.testing.assert_array_equal(out, 127 - np.arange(128))
    counted = emu.stats()["ops_by_kind"]
    assert counted["gpu.barrier"] == 1 and not HINT_OPS & set(counted)


def test_maximumf_minimumf_order_signed_zeros():
    """IEEE 754-2019 maximum / minimum: -0.0 < +0.0, per lane and uniform."""
    a = np.resize(np.array([-0.0, 0.0], np.float32), 64)
    b = np.resize(np.array([0.0, -0.0], np.float32), 64)
    mx = run_lanes("%r = arith.maximumf %a0, %a1 : f32", ["f32", "f32"], "f32", [a, b])
    mn = run_lanes("%r = arith.minimumf %a0, %a1 : f32", ["f32", "f32"], "f32", [a, b])
    assert (_f32_bits(mx) == 0).all() and (_f32_bits(mn) == 0x80000000).all()
    for x, y in ((-0.0, 0.0), (0.0, -0.0), (-0.0, -0.0)):
        pair = [np.float32(x), np.float32(y)]
        umx = run_lanes("%r = arith.maximumf %a0, %a1 : f32", ["f32", "f32"], "f32", pair, uniform=True)
        umn = run_lanes("%r = arith.minimumf %a0, %a1 : f32", ["f32", "f32"], "f32", pair, uniform=True)
        assert np.signbit(umx).all() == (x == y == 0.0 and np.signbit(x) and np.signbit(y))
        assert np.signbit(umn).all()


def test_random_inputs_depend_on_the_test_not_on_what_ran_before(monkeypatch):
    from tests.emu.references import edge_values

    first = edge_values("i32")
    edge_values("i32", draw=5)                     # other draws in between change nothing
    assert (edge_values("i32") == first).all() and not (edge_values("i32", draw=1) == first).all()
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/emu/test_other.py::test_x (call)")
    assert not (edge_values("i32") == first).all()   # another test draws other values
