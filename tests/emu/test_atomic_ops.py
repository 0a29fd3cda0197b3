"""Atomic ops against an independent sequential reference.

The reference applies the accesses one after another in the interpreter's
defined order (ascending lane), in plain Python: integers as Python ints
wrapped to their width, floats computed in float64 and rounded once to the
type (exact for one add of two values of these types), ``fmax`` / ``fmin``
as ``maxnum`` / ``minnum`` with -0.0 below +0.0.  Semantics follow the LLVM
LangRef (``atomicrmw``, ``cmpxchg``) and the CDNA ISA for the buffer atomics
(out of range: dropped, returning 0).
"""
import math

import numpy as np
import pytest

import kernels.emu as emu
from kernels.emu.atomic_ops import AtomicSpec
from kernels.emu.simt import Program
from kernels.targets import get_target
from tests.emu.mlir_harness import load, run_module
from tests.emu.references import bf16_round, u, wrap

pytestmark = pytest.mark.interpreter

NK = 5            # distinct addresses; lane l hits key (7 * l) % NK
LANES = 128       # two waves
RNG = np.random.default_rng(25)

_MEM = {"i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64, "f16": np.float16, "f32": np.float32,
        "f64": np.float64, "bf16": np.uint16}
_WIDTH = {"i8": 8, "i16": 16, "i32": 32, "i64": 64}


# ------------------------------------------------------------ the reference
def _round(x, ty):
    if ty == "bf16":
        return float(np.uint32(int(bf16_round(np.float32(x))[0]) << 16).view(np.float32))
    return float({"f16": np.float16, "f32": np.float32, "f64": np.float64}[ty](x))


def _maxnum(a, b, lower):
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    if a == b == 0.0:
        neg_a = math.copysign(1, a) < 0         # (equal signs: either is the answer)
        return (a if neg_a else b) if lower else (b if neg_a else a)
    return min(a, b) if lower else max(a, b)


def ref_step(op, ty, a, b, cmp=None):
    """(new value, success) of one access reading ``a`` with operand ``b`` (Python numbers)."""
    if op == "cmpxchg":
        return (b, True) if a == cmp else (a, False)
    if op == "xchg":
        return b, None
    if ty in _WIDTH:
        w = _WIDTH[ty]
        r = {"add": lambda: a + b, "sub": lambda: a - b, "and": lambda: a & b, "or": lambda: a | b,
             "xor": lambda: a ^ b, "nand": lambda: ~(a & b), "max": lambda: max(a, b), "min": lambda: min(a, b),
             "umax": lambda: a if u(a, w) >= u(b, w) else b, "umin": lambda: a if u(a, w) <= u(b, w) else b,
             "uinc_wrap": lambda: 0 if u(a, w) >= u(b, w) else a + 1,
             "udec_wrap": lambda: b if a == 0 or u(a, w) > u(b, w) else a - 1}[op]()
        return wrap(r, w), None
    if op in ("fadd", "fsub"):
        return _round(a + b if op == "fadd" else a - b, ty), None
    return _maxnum(a, b, op == "fmin"), None


def reference(op, ty, keys, vals, mem, cmps=None):
    """Sequential application in lane order: (returned values, success flags, final memory)."""
    mem = list(mem)
    old, ok = [], []
    for j, k in enumerate(keys):
        if k is None:                   # dropped access
            old.append(0)
            ok.append(False)
            continue
        a = mem[k]
        new, s = ref_step(op, ty, a, vals[j], None if cmps is None else cmps[j])
        old.append(a)
        ok.append(bool(s))
        mem[k] = new
    return old, ok, mem


def _py(arr, ty):
    if ty == "bf16":
        return [float(np.uint32(int(x) << 16).view(np.float32)) for x in arr]
    return [int(x) for x in arr] if ty in _WIDTH else [float(x) for x in arr]


def _np(vals, ty):
    if ty == "bf16":
        return bf16_round(np.asarray(vals, np.float32))
    return np.asarray(vals, _MEM[ty])


def _same(got, exp, ty):
    got = _py(got, ty)
    if ty in _WIDTH:
        assert got == list(exp), (got, exp)
    else:
        for g, e in zip(got, exp):
            assert (math.isnan(g) and math.isnan(e)) or (g == e and math.copysign(1, g) == math.copysign(1, e)), \
                (got, exp)


# ------------------------------------------------------------ the kernels
#: Lane l's operand %v = v[l], compare value %cv = c[l] (type {ty}) and key %k = (7 l) % NK (i64).
_LANE_OPERANDS = """      %t = gpu.thread_id x
      %ti = arith.index_cast %t : index to i64
      %gv = llvm.getelementptr %pv[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
      %v = llvm.load %gv : !llvm.ptr<1> -> {ty}
      %gc = llvm.getelementptr %pc[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
      %cv = llvm.load %gc : !llvm.ptr<1> -> {ty}
      %c7 = arith.constant 7 : i64
      %cnk = arith.constant {nk} : i64
      %t7 = arith.muli %ti, %c7 : i64
      %k = arith.remui %t7, %cnk : i64
"""
_PROLOGUE = ("""
module attributes {{gpu.container_module}} {{
  gpu.module @kernels {{
    llvm.mlir.global internal @lds() {{addr_space = 3 : i32, alignment = 16 : i64}} : !llvm.array<256 x i8>
    gpu.func @k(%pv: !llvm.ptr<1>, %pc: !llvm.ptr<1>, %pm: !llvm.ptr<1>, %po: !llvm.ptr<1>, %pok: !llvm.ptr<1>) kernel {{
{operands}      %lds = llvm.mlir.addressof @lds : !llvm.ptr<3>
      %isinit = arith.cmpi ult, %ti, %cnk : i64
""").replace("{operands}", _LANE_OPERANDS)
_EPILOGUE = """
      %go = llvm.getelementptr %po[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
      llvm.store %r, %go : {ty}, !llvm.ptr<1>
      %gok = llvm.getelementptr %pok[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i8
      %okb = arith.extui %ok : i1 to i8
      llvm.store %okb, %gok : i8, !llvm.ptr<1>
      gpu.return
    }}
  }}
  func.func @host(%a: !llvm.ptr<1>, %b: !llvm.ptr<1>, %c: !llvm.ptr<1>, %d: !llvm.ptr<1>, %e: !llvm.ptr<1>) {{
    %c1 = arith.constant 1 : index
    %cb = arith.constant {lanes} : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%cb, %c1, %c1) args(%a : !llvm.ptr<1>, %b : !llvm.ptr<1>, %c : !llvm.ptr<1>, %d : !llvm.ptr<1>, %e : !llvm.ptr<1>)
    return
  }}
}}
"""
#: How the atomic's pointer %q is formed, per address space ({ty}: the element type).
_POINTERS = {
    "global": "%q = llvm.getelementptr %pm[%k] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}",
    "flat-global": """%pmf = llvm.addrspacecast %pm : !llvm.ptr<1> to !llvm.ptr
      %q = llvm.getelementptr %pmf[%k] : (!llvm.ptr, i64) -> !llvm.ptr, {ty}""",
    "lds": "%q = llvm.getelementptr %lds[%k] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, {ty}",
    "flat-lds": """%ldsf = llvm.addrspacecast %lds : !llvm.ptr<3> to !llvm.ptr
      %q = llvm.getelementptr %ldsf[%k] : (!llvm.ptr, i64) -> !llvm.ptr, {ty}""",
}
#: LDS spaces copy %pm into LDS first and back after (lanes below NK, barriers between).
_LDS_IN = """
      scf.if %isinit {{
        %gi = llvm.getelementptr %pm[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
        %li = llvm.getelementptr %lds[%ti] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, {ty}
        %x = llvm.load %gi : !llvm.ptr<1> -> {ty}
        llvm.store %x, %li : {ty}, !llvm.ptr<3>
      }}
      gpu.barrier
"""
_LDS_OUT = """
      gpu.barrier
      scf.if %isinit {{
        %gi2 = llvm.getelementptr %pm[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
        %li2 = llvm.getelementptr %lds[%ti] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, {ty}
        %y = llvm.load %li2 : !llvm.ptr<3> -> {ty}
        llvm.store %y, %gi2 : {ty}, !llvm.ptr<1>
      }}
"""
_PTY = {"global": "!llvm.ptr<1>", "flat-global": "!llvm.ptr", "lds": "!llvm.ptr<3>", "flat-lds": "!llvm.ptr"}


def atomic_module(op, ty, space, order="monotonic", scope=""):
    """A one-workgroup kernel: lane l applies ``op`` with operand v[l] (compare c[l]) at key (7 l) % NK of
    memory m (in ``space``), stores the returned value to o[l] and the success flag to ok[l]."""
    sc = f' syncscope("{scope}")' if scope else ""
    if op == "cmpxchg":
        body = (f"%pair = llvm.cmpxchg %q, %cv, %v{sc} {order} monotonic : {_PTY[space]}, {ty}\n"
                f"      %r = llvm.extractvalue %pair[0] : !llvm.struct<({ty}, i1)>\n"
                f"      %ok = llvm.extractvalue %pair[1] : !llvm.struct<({ty}, i1)>")
    else:
        spelled = {"and": "_and", "or": "_or", "xor": "_xor"}.get(op, op)      # the dialect's spelling
        body = f"%r = llvm.atomicrmw {spelled} %q, %v{sc} {order} : {_PTY[space]}, {ty}\n      %ok = arith.constant false"
    lds = space.endswith("lds")
    text = (_PROLOGUE + (_LDS_IN if lds else "") + "      " + _POINTERS[space] + "\n      " + body + "\n"
            + (_LDS_OUT if lds else "") + _EPILOGUE)
    return text.format(ty=ty, nk=NK, lanes=LANES)


def run_atomic(op, ty, space, vals, mem, cmps=None, **kw):
    v, m = _np(vals, ty), _np(mem, ty)
    c = _np(cmps if cmps is not None else vals, ty)
    out = np.zeros_like(v)
    ok = np.zeros(LANES, np.int8)
    arrays = [v, c, m, out, ok]
    run_module(atomic_module(op, ty, space, **kw), [np.int64(a.ctypes.data) for a in arrays], arrays)
    return out, ok.astype(bool), m


def _inputs(op, ty):
    if ty in _WIDTH:
        w = _WIDTH[ty]
        lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
        if op in ("uinc_wrap", "udec_wrap"):
            return [int(x) for x in RNG.integers(0, 40, LANES)], [0, 3, 7, 100, lo]
        edges = [lo, hi, -1, 0, 1]
        return edges + [int(x) for x in RNG.integers(lo, hi, LANES - 5, endpoint=True)], [0, -1, lo, hi, 12345 % hi]
    special = [float("nan"), -0.0, 0.0, float("inf"), -1.5]
    vals = special + [float(x) for x in RNG.normal(0, 100, LANES - 5)]
    return [_round(x, ty) for x in vals], [0.0, -0.0, 3.25, float("nan"), -7.0]


INT_OPS = ["xchg", "add", "sub", "and", "nand", "or", "xor", "max", "min", "umax", "umin", "uinc_wrap", "udec_wrap"]
FLOAT_OPS = ["xchg", "fadd", "fsub", "fmax", "fmin"]
CASES = ([(op, ty) for op in INT_OPS for ty in ("i32", "i64")] + [(op, "i16") for op in ("add", "umax", "xchg")]
         + [(op, ty) for op in FLOAT_OPS for ty in ("f32", "f16", "bf16", "f64")])


@pytest.mark.parametrize("op,ty", CASES)
def test_atomicrmw_global_matches_sequential_reference(op, ty):
    vals, mem = _inputs(op, ty)
    out, _ok, m = run_atomic(op, ty, "global", vals, mem)
    keys = [(7 * lane) % NK for lane in range(LANES)]
    old, _, final = reference(op, ty, keys, _py(_np(vals, ty), ty), _py(_np(mem, ty), ty))
    _same(out, old, ty)
    _same(m, final, ty)


@pytest.mark.parametrize("space", ["lds", "flat-lds", "flat-global"])
@pytest.mark.parametrize("op,ty", [("add", "i32"), ("umin", "i64"), ("fadd", "f32"), ("fmax", "f16"),
                                   ("xchg", "bf16"), ("udec_wrap", "i32")])
def test_atomicrmw_lds_and_flat_match_sequential_reference(space, op, ty):
    vals, mem = _inputs(op, ty)
    out, _ok, m = run_atomic(op, ty, space, vals, mem)
    keys = [(7 * lane) % NK for lane in range(LANES)]
    old, _, final = reference(op, ty, keys, _py(_np(vals, ty), ty), _py(_np(mem, ty), ty))
    _same(out, old, ty)
    _same(m, final, ty)


@pytest.mark.parametrize("space", ["global", "lds", "flat-global"])
@pytest.mark.parametrize("ty", ["i32", "i64"])
def test_cmpxchg_returns_old_value_and_success(space, ty):
    # compare values mostly 0..3 over memory 0..: chains of successes and failures
    cmps = [int(x) for x in RNG.integers(0, 4, LANES)]
    vals = [c + 1 for c in cmps]
    mem = [0, 1, 2, 0, 5]
    out, ok, m = run_atomic("cmpxchg", ty, space, vals, mem, cmps)
    keys = [(7 * lane) % NK for lane in range(LANES)]
    old, exp_ok, final = reference("cmpxchg", ty, keys, vals, mem, cmps)
    assert _py(out, ty) == old and ok.tolist() == exp_ok and _py(m, ty) == final
    assert 0 < sum(exp_ok) < LANES


@pytest.mark.parametrize("op", ["fmax", "fmin"])
@pytest.mark.parametrize("space", ["global", "lds"])
def test_fmax_fmin_order_minus_zero_below_plus_zero(op, space):
    vals = [0.0 if lane % 3 else -0.0 for lane in range(LANES)]
    mem = [-0.0, 0.0, -0.0, 0.0, -0.0]
    out, _ok, m = run_atomic(op, "f32", space, vals, mem)
    old, _, final = reference(op, "f32", [(7 * lane) % NK for lane in range(LANES)], vals, mem)
    _same(out, old, "f32")
    _same(m, final, "f32")
    assert [math.copysign(1, x) for x in final] == ([1.0] * NK if op == "fmax" else [-1.0] * NK)


@pytest.mark.parametrize("order,scope", [("seq_cst", "agent"), ("acquire", "workgroup"), ("release", ""),
                                         ("acq_rel", "wavefront")])
def test_orderings_and_syncscopes_are_kept_and_change_nothing(order, scope):
    vals, mem = _inputs("add", "i32")
    base = run_atomic("add", "i32", "global", vals, mem)
    got = run_atomic("add", "i32", "global", vals, mem, order=order, scope=scope)
    assert all(np.array_equal(a, b) for a, b in zip(base, got))
    program = Program(load(atomic_module("add", "i32", "global", order=order, scope=scope)), get_target("gfx950"))
    specs = [c for c in program.compiled("k", "kernel").consts.values() if isinstance(c, AtomicSpec)]
    assert [(s.op, s.ordering, s.syncscope) for s in specs] == [("add", order, scope)]


def test_fence_runs_as_a_hint():
    text = atomic_module("add", "i32", "global").replace(
        "      %r = llvm.atomicrmw", '      llvm.fence syncscope("workgroup") release\n      %r = llvm.atomicrmw')
    vals, mem = _inputs("add", "i32")
    v, m = _np(vals, "i32"), _np(mem, "i32")
    out, ok = np.zeros_like(v), np.zeros(LANES, np.int8)
    arrays = [v, v, m, out, ok]
    run_module(text, [np.int64(a.ctypes.data) for a in arrays], arrays)
    old, _, final = reference("add", "i32", [(7 * lane) % NK for lane in range(LANES)], vals, mem)
    assert out.tolist() == old and m.tolist() == final


@pytest.mark.parametrize("el", ["f16", "bf16"])
def test_vector_fadd_applies_per_element(el):
    # FlyDSL's MoE stage-2 accumulation on gfx942: atomicrmw fadd of vector<2xbf16>
    ty = f"vector<2x{el}>"
    text = _PROLOGUE.format(ty=ty, nk=NK) + "      " + _POINTERS["global"].format(ty=ty) + \
        f"\n      %r = llvm.atomicrmw fadd %q, %v monotonic : !llvm.ptr<1>, {ty}\n      %ok = arith.constant false\n" + \
        _EPILOGUE.format(ty=ty, lanes=LANES)
    v = _np(RNG.normal(0, 8, LANES * 2) + 0.125, el).reshape(LANES, 2)
    m = _np(RNG.normal(0, 8, NK * 2), el).reshape(NK, 2)
    out, ok = np.zeros_like(v), np.zeros(LANES, np.int8)
    arrays = [v, v, m, out, ok]
    exp_m = [_py(row, el) for row in m]
    exp_old = []
    for lane in range(LANES):
        k = (7 * lane) % NK
        exp_old.append(list(exp_m[k]))
        exp_m[k] = [_round(exp_m[k][e] + _py(v[lane], el)[e], el) for e in range(2)]
    run_module(text, [np.int64(a.ctypes.data) for a in arrays], arrays)
    assert [_py(r, el) for r in out] == exp_old and [_py(r, el) for r in m] == exp_m


def test_unsupported_binop_is_refused_with_its_name():
    text = atomic_module("add", "i32", "global").replace("atomicrmw add", "atomicrmw usub_sat")
    vals, mem = _inputs("add", "i32")
    with pytest.raises(emu.UnsupportedOpError, match="bin_op"):
        run_atomic_text(text, vals, mem)


def run_atomic_text(text, vals, mem):
    v, m = _np(vals, "i32"), _np(mem, "i32")
    out, ok = np.zeros_like(v), np.zeros(LANES, np.int8)
    arrays = [v, v, m, out, ok]
    run_module(text, [np.int64(a.ctypes.data) for a in arrays], arrays)


# ------------------------------------------------------------ buffer atomics
_BUF = ("""
module attributes {{gpu.container_module}} {{
  gpu.module @kernels {{
    gpu.func @k(%pv: !llvm.ptr<1>, %pc: !llvm.ptr<1>, %pm: !llvm.ptr<1>, %po: !llvm.ptr<1>, %nrec: i64,
                %extra: i32) kernel {{
{operands}      %k32 = arith.trunci %k : i64 to i32
      %csz = arith.constant {size} : i32
      %kb = arith.muli %k32, %csz : i32
      %voff = arith.addi %kb, %extra : i32
      %stride = arith.constant 0 : i16
      %flags = arith.constant 159744 : i32
      %soff = arith.constant 0 : i32
      %gm = llvm.addrspacecast %pm : !llvm.ptr<1> to !llvm.ptr
      %rm = rocdl.make.buffer.rsrc %gm, %stride, %nrec, %flags : !llvm.ptr to <8>
      {body}
      %go = llvm.getelementptr %po[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
      llvm.store %r, %go : {ty}, !llvm.ptr<1>
      gpu.return
    }}
  }}
  func.func @host(%a: !llvm.ptr<1>, %b: !llvm.ptr<1>, %c: !llvm.ptr<1>, %d: !llvm.ptr<1>, %n: i64, %x: i32) {{
    %c1 = arith.constant 1 : index
    %cb = arith.constant {lanes} : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%cb, %c1, %c1) args(%a : !llvm.ptr<1>, %b : !llvm.ptr<1>, %c : !llvm.ptr<1>, %d : !llvm.ptr<1>, %n : i64, %x : i32)
    return
  }}
}}
""").replace("{operands}", _LANE_OPERANDS)
_BUF_OPS = {"fadd": "fadd", "fmax": "fmax", "smax": "max", "umin": "umin", "cmpswap": "cmpxchg"}


def run_buffer_atomic(name, ty, vals, mem, cmps=None, nrec_keys=NK, extra=0, strict=False):
    size = {"i32": 4, "i64": 8, "f32": 4, "f64": 8}[ty]
    if name == "cmpswap":
        body = f"%r = rocdl.raw.ptr.buffer.atomic.cmpswap %v, %cv, %rm, %voff, %soff, 0 : {ty}"
    else:
        body = f"%r = rocdl.raw.ptr.buffer.atomic.{name} %v, %rm, %voff, %soff, 0 : {ty}"
    text = _BUF.format(ty=ty, nk=NK, size=size, body=body, lanes=LANES)
    v, m = _np(vals, ty), _np(mem, ty)
    c = _np(cmps if cmps is not None else vals, ty)
    out = np.zeros_like(v)
    arrays = [v, c, m, out]
    run_module(text, [np.int64(a.ctypes.data) for a in arrays] + [np.int64(nrec_keys * size), np.int32(extra)],
               arrays, strict_buffers=strict)
    return out, m


@pytest.mark.parametrize("name,ty", [("fadd", "f32"), ("fmax", "f32"), ("fmax", "f64"), ("smax", "i32"),
                                     ("smax", "i64"), ("umin", "i32"), ("umin", "i64"), ("cmpswap", "i32"),
                                     ("cmpswap", "i64")])
@pytest.mark.parametrize("nrec_keys", [NK, 3])
def test_buffer_atomics_match_reference_and_drop_out_of_range(name, ty, nrec_keys):
    op = _BUF_OPS[name]
    if op == "cmpxchg":
        cmps = [int(x) for x in RNG.integers(0, 4, LANES)]
        vals, mem = [c + 1 for c in cmps], [0, 1, 2, 0, 5]
    else:
        vals, mem = _inputs(op, ty)
        cmps = None
    out, m = run_buffer_atomic(name, ty, vals, mem, cmps, nrec_keys)
    keys = [k if k < nrec_keys else None for k in ((7 * lane) % NK for lane in range(LANES))]
    old, _, final = reference(op, ty, keys, _py(_np(vals, ty), ty), _py(_np(mem, ty), ty), cmps)
    _same(out, old, ty)
    _same(m, final, ty)


def test_buffer_atomic_past_num_records_reported_when_strict():
    vals, mem = _inputs("add", "i32")
    run_buffer_atomic("smax", "i32", vals, mem, nrec_keys=3)          # legal by default: dropped
    with pytest.raises(emu.OutOfBoundsError, match="rocdl.raw.ptr.buffer.atomic.smax"):
        run_buffer_atomic("smax", "i32", vals, mem, nrec_keys=3, strict=True)
    run_buffer_atomic("smax", "i32", vals, mem, nrec_keys=3, extra=0x7FFFFFF0, strict=True)   # masked on purpose


def test_buffer_vector_fadd_per_element():
    ty = "vector<2xf16>"
    body = f"%r = rocdl.raw.ptr.buffer.atomic.fadd %v, %rm, %voff, %soff, 0 : {ty}"
    text = _BUF.format(ty=ty, nk=NK, size=4, body=body, lanes=LANES)
    v = np.round(RNG.normal(0, 8, (LANES, 2))).astype(np.float16) + np.float16(0.5)
    m = np.array(RNG.normal(0, 8, (NK, 2)), np.float16)
    out = np.zeros_like(v)
    exp_m = [[float(x) for x in row] for row in m]
    exp_old = []
    for lane in range(LANES):
        k = (7 * lane) % NK
        if k >= 4:
            exp_old.append([0.0, 0.0])
            continue
        exp_old.append(list(exp_m[k]))
        exp_m[k] = [_round(exp_m[k][e] + float(v[lane, e]), "f16") for e in range(2)]
    arrays = [v, v, m, out]
    run_module(text, [np.int64(a.ctypes.data) for a in arrays] + [np.int64(4 * 4), np.int32(0)], arrays)
    assert out.astype(float).tolist() == exp_old and m.astype(float).tolist() == exp_m
