"""Per-op semantic tests, written from the MLIR dialect definitions (arith, scf, gpu)
and the AMD ISA documents (DPP, ds_bpermute, buffer resources), not from any kernel.

Each op runs in hand-written MLIR on the interpreter (tests/emu/mlir_harness.py),
both with per-lane operands and with wave-uniform operands, against a Python
reference computed with unbounded integers / float64.
"""
import numpy as np
import pytest

import kernels.emu as emu
from tests.emu.mlir_harness import run_lanes
from tests.emu.references import DT, FVALS, W, bf16_round, both, edge_values, floats, u, wrap

pytestmark = pytest.mark.interpreter


# ------------------------------------------------------------ integer arithmetic (wrap)
@pytest.mark.parametrize("t", ["i8", "i16", "i32", "i64"])
@pytest.mark.parametrize("op,fn", [
    ("addi", lambda a, b: a + b), ("subi", lambda a, b: a - b), ("muli", lambda a, b: a * b),
    ("andi", lambda a, b: a & b), ("ori", lambda a, b: a | b), ("xori", lambda a, b: a ^ b)])
def test_int_binary_wraps(t, op, fn):
    a, b = edge_values(t), edge_values(t, draw=1)[::-1].copy()
    both(f"%r = arith.{op} %a0, %a1 : {t}", [t, t], t, [a, b], lambda x, y: wrap(fn(x, y), W[t]))


@pytest.mark.parametrize("op,fn", [
    ("addi", lambda a, b: a ^ b), ("subi", lambda a, b: a ^ b), ("muli", lambda a, b: a & b),
    ("andi", lambda a, b: a & b), ("ori", lambda a, b: a | b), ("xori", lambda a, b: a ^ b)])
def test_i1_arithmetic_is_mod2(op, fn):
    a = np.array([0, 0, 1, 1] * 16, bool)
    b = np.array([0, 1, 0, 1] * 16, bool)
    got = run_lanes(f"%r = arith.{op} %a0, %a1 : i1", ["i1", "i1"], "i1", [a, b])
    np.testing.assert_array_equal(got, np.array([bool(fn(int(x), int(y))) for x, y in zip(a, b)]))


def _tdiv(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


@pytest.mark.parametrize("t", ["i8", "i32", "i64"])
@pytest.mark.parametrize("op,fn", [
    ("divsi", lambda a, b, w: wrap(_tdiv(a, b), w)),
    ("remsi", lambda a, b, w: wrap(a - _tdiv(a, b) * b, w)),
    ("divui", lambda a, b, w: wrap(u(a, w) // u(b, w), w)),
    ("remui", lambda a, b, w: wrap(u(a, w) % u(b, w), w)),
    ("floordivsi", lambda a, b, w: wrap(a // b, w)),
    ("ceildivsi", lambda a, b, w: wrap(-((-a) // b), w)),
    ("ceildivui", lambda a, b, w: wrap(-((-u(a, w)) // u(b, w)), w))])
def test_division_as_arith_defines(t, op, fn):
    a = edge_values(t)
    b = edge_values(t, draw=1)[::-1].copy()
    b[b == 0] = 3
    both(f"%r = arith.{op} %a0, %a1 : {t}", [t, t], t, [a, b], lambda x, y: fn(x, y, W[t]))


@pytest.mark.parametrize("op", ["divsi", "remsi", "divui", "remui", "floordivsi", "ceildivsi", "ceildivui"])
def test_division_by_one_scalar_matches_the_same_divisor_in_every_lane(op):
    from kernels.emu import semantics

    fn = getattr(semantics, op)
    for t in ("i8", "i32", "i64"):
        a = edge_values(t)
        for d in (0, 1, -1, 3, int(a.min())):
            b = DT[t](d)
            with np.errstate(all="ignore"):              # as launches run: INT_MIN / -1 wraps
                got, want = fn(a, b), fn(a, np.full(a.shape, b))
            assert got.dtype == want.dtype and np.array_equal(got, want)


def test_division_by_zero_in_active_lane_is_reported():
    a = np.arange(64, dtype=np.int32)
    b = np.ones(64, np.int32)
    b[5] = 0
    with pytest.raises(emu.UndefinedBehaviorError, match="division"):
        run_lanes("%r = arith.divsi %a0, %a1 : i32", ["i32", "i32"], "i32", [a, b])
    # without the sanitizer: 0, documented
    assert run_lanes("%r = arith.divsi %a0, %a1 : i32", ["i32", "i32"], "i32", [a, b], sanitize=False)[5] == 0


@pytest.mark.parametrize("t", ["i8", "i16", "i32", "i64"])
@pytest.mark.parametrize("op", ["shli", "shrsi", "shrui"])
def test_shifts(t, op):
    w = W[t]
    a = edge_values(t)
    b = np.array([k % (2 * w) for k in range(64)], dtype=DT[t])   # includes amounts >= width

    def ref(x, s):
        s = s % w          # documented: amount >= width (poison in arith) -> amount mod width, as the ISA does
        if op == "shli":
            return wrap(x << s, w)
        if op == "shrsi":
            return x >> s
        return wrap(u(x, w) >> s, w)
    both(f"%r = arith.{op} %a0, %a1 : {t}", [t, t], t, [a, b], ref)


@pytest.mark.parametrize("pred", ["eq", "ne", "slt", "sle", "sgt", "sge", "ult", "ule", "ugt", "uge"])
def test_cmpi_predicates(pred):
    a, b = edge_values("i32"), edge_values("i32", draw=1)[::-1].copy()
    b[:8] = a[:8]
    fns = {"eq": lambda x, y: x == y, "ne": lambda x, y: x != y, "slt": lambda x, y: x < y,
           "sle": lambda x, y: x <= y, "sgt": lambda x, y: x > y, "sge": lambda x, y: x >= y,
           "ult": lambda x, y: u(x, 32) < u(y, 32), "ule": lambda x, y: u(x, 32) <= u(y, 32),
           "ugt": lambda x, y: u(x, 32) > u(y, 32), "uge": lambda x, y: u(x, 32) >= u(y, 32)}
    got = run_lanes(f"%r = arith.cmpi {pred}, %a0, %a1 : i32", ["i32", "i32"], "i1", [a, b])
    np.testing.assert_array_equal(got, [fns[pred](int(x), int(y)) for x, y in zip(a, b)])


@pytest.mark.parametrize("op,fn", [
    ("maxsi", max), ("minsi", min),
    ("maxui", lambda x, y: x if u(x, 32) >= u(y, 32) else y),
    ("minui", lambda x, y: x if u(x, 32) <= u(y, 32) else y)])
def test_min_max_int(op, fn):
    a, b = edge_values("i32"), edge_values("i32", draw=1)[::-1].copy()
    both(f"%r = arith.{op} %a0, %a1 : i32", ["i32", "i32"], "i32", [a, b], fn)


def test_select_per_lane_and_uniform():
    c = np.array([k % 3 == 0 for k in range(64)])
    a, b = np.arange(64, dtype=np.int32), -np.arange(64, dtype=np.int32)
    got = run_lanes("%r = arith.select %a0, %a1, %a2 : i32", ["i1", "i32", "i32"], "i32", [c, a, b])
    np.testing.assert_array_equal(got, np.where(c, a, b))


@pytest.mark.parametrize("body,src,dst,ref", [
    ("%r = arith.extsi %a0 : i8 to i32", "i8", "i32", lambda x: x),
    ("%r = arith.extui %a0 : i8 to i32", "i8", "i32", lambda x: u(x, 8)),
    ("%r = arith.trunci %a0 : i32 to i8", "i32", "i8", lambda x: wrap(x, 8)),
    ("%r = arith.extsi %a0 : i16 to i64", "i16", "i64", lambda x: x),
    ("%r = arith.extui %a0 : i32 to i64", "i32", "i64", lambda x: u(x, 32)),
    ("%r = arith.trunci %a0 : i64 to i32", "i64", "i32", lambda x: wrap(x, 32)),
    ("%i = arith.index_cast %a0 : i32 to index\n%r = arith.index_cast %i : index to i64", "i32", "i64", lambda x: x),
    ("%i = arith.index_castui %a0 : i32 to index\n%r = arith.index_cast %i : index to i64", "i32", "i64",
     lambda x: u(x, 32)),
    ("%i = arith.index_cast %a0 : i64 to index\n%r = arith.index_cast %i : index to i32", "i64", "i32",
     lambda x: wrap(x, 32))])
def test_integer_casts(body, src, dst, ref):
    both(body, [src], dst, [edge_values(src)], ref)


def test_i1_extensions():
    a = np.array([0, 1] * 32, bool)
    np.testing.assert_array_equal(run_lanes("%r = arith.extsi %a0 : i1 to i32", ["i1"], "i32", [a]),
                                  np.where(a, -1, 0))
    np.testing.assert_array_equal(run_lanes("%r = arith.extui %a0 : i1 to i32", ["i1"], "i32", [a]),
                                  np.where(a, 1, 0))
    t = np.arange(64, dtype=np.int32)
    np.testing.assert_array_equal(run_lanes("%r = arith.trunci %a0 : i32 to i1", ["i32"], "i1", [t]), t % 2 == 1)


# ------------------------------------------------------------ floats in their declared width
@pytest.mark.parametrize("op,fn", [("addf", np.add), ("subf", np.subtract), ("mulf", np.multiply),
                                   ("divf", np.divide)])
@pytest.mark.parametrize("t", ["f16", "f32"])
def test_float_ops_round_in_declared_width(op, fn, t):
    dt = {"f16": np.float16, "f32": np.float32}[t]
    rng = np.random.default_rng(7)
    a = floats(list(FVALS) + list(rng.normal(size=64 - len(FVALS)) * 100), dt)
    b = floats(list(rng.normal(size=64) * 10), dt)
    got = run_lanes(f"%r = arith.{op} %a0, %a1 : {t}", [t, t], t, [a, b])
    with np.errstate(all="ignore"):
        exp = fn(a.astype(np.float64), b.astype(np.float64)).astype(dt)
    np.testing.assert_array_equal(got.view(np.uint16 if t == "f16" else np.uint32),
                                  exp.view(np.uint16 if t == "f16" else np.uint32))


@pytest.mark.parametrize("op,fn", [("addf", np.add), ("mulf", np.multiply), ("subf", np.subtract)])
def test_bf16_ops(op, fn):
    rng = np.random.default_rng(3)
    a32 = rng.normal(size=64).astype(np.float32) * 37
    b32 = rng.normal(size=64).astype(np.float32) * 5
    a_bits, b_bits = bf16_round(a32), bf16_round(b32)
    got = run_lanes(f"%r = arith.{op} %a0, %a1 : bf16", ["bf16", "bf16"], "bf16", [a_bits, b_bits])
    a = (a_bits.astype(np.uint32) << 16).view(np.float32)
    b = (b_bits.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(got, bf16_round(fn(a, b)))


def test_float_conversions():
    x = floats(FVALS + [2.5, 3.5, -2.5, 1e10, -1e10, float("nan")] * 4, np.float32)[:64]
    x = np.resize(x, 64)
    got = run_lanes("%r = arith.truncf %a0 : f32 to f16", ["f32"], "f16", [x])
    with np.errstate(over="ignore"):
        x16 = x.astype(np.float16)
    np.testing.assert_array_equal(got.view(np.uint16)[~np.isnan(x)], x16.view(np.uint16)[~np.isnan(x)])
    got = run_lanes("%r = arith.truncf %a0 : f32 to bf16", ["f32"], "bf16", [x])
    np.testing.assert_array_equal(got, bf16_round(x))
    # fptosi: poison out of range in arith; documented: saturate, NaN -> 0 (v_cvt_i32_f32)
    got = run_lanes("%r = arith.fptosi %a0 : f32 to i32", ["f32"], "i32", [x])
    exp = [0 if np.isnan(v) else int(np.clip(np.trunc(np.float64(v)), -2**31, 2**31 - 1)) for v in x]
    np.testing.assert_array_equal(got, exp)
    i = np.arange(-32, 32, dtype=np.int32) * 1000003
    np.testing.assert_array_equal(run_lanes("%r = arith.sitofp %a0 : i32 to f32", ["i32"], "f32", [i]),
                                  i.astype(np.float32))
    np.testing.assert_array_equal(run_lanes("%r = arith.uitofp %a0 : i32 to f32", ["i32"], "f32", [i]),
                                  i.view(np.uint32).astype(np.float32))
    h = np.arange(64, dtype=np.float32).astype(np.float16) / np.float16(3)
    np.testing.assert_array_equal(run_lanes("%r = arith.extf %a0 : f16 to f32", ["f16"], "f32", [h]),
                                  h.astype(np.float32))


def test_bitcasts():
    x = np.array(FVALS * 6, np.float32)[:64]
    np.testing.assert_array_equal(run_lanes("%r = arith.bitcast %a0 : f32 to i32", ["f32"], "i32", [x]),
                                  x.view(np.int32))
    bits = np.arange(64, dtype=np.uint16) * 997
    np.testing.assert_array_equal(
        run_lanes("%r = arith.bitcast %a0 : bf16 to i16", ["bf16"], "i16", [bits]).view(np.uint16), bits)


def test_cmpf_ordered_unordered():
    a = np.resize(np.array([1.0, np.nan, 2.0, -0.0], np.float32), 64)
    b = np.resize(np.array([1.0, 1.0, np.nan, 0.0], np.float32), 64)
    for pred, fn in [("oeq", lambda x, y: x == y), ("une", lambda x, y: not (x == y)),
                     ("olt", lambda x, y: x < y), ("uge", lambda x, y: not (x < y)),
                     ("uno", lambda x, y: np.isnan(x) or np.isnan(y)), ("ord", lambda x, y: not (np.isnan(x) or np.isnan(y)))]:
        got = run_lanes(f"%r = arith.cmpf {pred}, %a0, %a1 : f32", ["f32", "f32"], "i1", [a, b])
        np.testing.assert_array_equal(got, [fn(x, y) for x, y in zip(a, b)], err_msg=pred)


@pytest.mark.parametrize("op", ["shli", "shrsi", "shrui"])
@pytest.mark.parametrize("amt", [0, 1, 7, 31, 32, 37])
def test_shift_by_constant_amount(op, amt):
    a = edge_values("i32")
    body = f"%c = arith.constant {amt} : i32\n%r = arith.{op} %a0, %c : i32"
    s = amt % 32
    ref = {"shli": lambda x: wrap(x << s, 32), "shrsi": lambda x: x >> s,
           "shrui": lambda x: wrap(u(x, 32) >> s, 32)}[op]
    both(body, ["i32"], "i32", [a], ref)


# ------------------------------------------------------------ vector dialect
def test_vector_broadcast_extract_insert_from_elements():
    a = np.arange(64, dtype=np.int32)
    body = """
    %v = vector.broadcast %a0 : i32 to vector<4xi32>
    %c7 = arith.constant 7 : i32
    %w = vector.insert %c7, %v [2] : i32 into vector<4xi32>
    %e2 = vector.extract %w[2] : i32 from vector<4xi32>
    %e1 = vector.extract %w[1] : i32 from vector<4xi32>
    %f = vector.from_elements %e1, %e2, %a0, %c7 : vector<4xi32>
    %s = vector.reduction <add>, %f : vector<4xi32> into i32
    %r = arith.addi %s, %e2 : i32"""
    got = run_lanes(body, ["i32"], "i32", [a])
    np.testing.assert_array_equal(got, a + 7 + a + 7 + 7)


def test_vector_bitcast_and_vector_arith():
    a = np.arange(64, dtype=np.int32) * 65537
    body = """
    %v = vector.broadcast %a0 : i32 to vector<2xi32>
    %h = vector.bitcast %v : vector<2xi32> to vector<4xi16>
    %d = arith.addi %h, %h : vector<4xi16>
    %b = vector.bitcast %d : vector<4xi16> to vector<2xi32>
    %r = vector.extract %b[1] : i32 from vector<2xi32>"""
    got = run_lanes(body, ["i32"], "i32", [a])
    lo = (a & 0xFFFF) * 2 & 0xFFFF
    hi = ((a >> 16) & 0xFFFF) * 2 & 0xFFFF
    np.testing.assert_array_equal(got.view(np.uint32), (hi.astype(np.uint32) << 16) | lo.astype(np.uint32))


def test_vector_load_store_roundtrip():
    a = np.arange(64 * 4, dtype=np.int32)
    got = run_lanes("%r = arith.addi %a0, %a0 : vector<4xi32>", ["vector<4xi32>"], "vector<4xi32>",
                    [a.reshape(64, 4)], nlanes=64)
    np.testing.assert_array_equal(got.reshape(-1), 2 * a)
