"""Compile a function of the Python IR (:mod:`irload`) into Python source.

``compile_func(func, module, kind) -> Compiled`` returns a Python function
``fn(X, m, *args) -> tuple`` generated as straight-line NumPy code: one local
per SSA value, structured control flow (``scf.if/for/while``) emitted as Python
control flow with lane masks, so running a kernel never walks IR objects.

Divergence: every value is either a NumPy scalar (wave/workgroup uniform) or a
lane array.  ``scf.if`` with a lane-array condition runs the then-region under
``m & c`` and the else-region under ``m & ~c`` (each only if some lane takes
it) and merges results per lane; a condition uniform over the active lanes
runs one region.  ``scf.for`` with bounds uniform over the active lanes is a
Python ``range`` loop; otherwise each lane iterates until its own bound
(masked).  ``scf.while`` retires lanes as their condition turns false.

Per-region op histograms feed the stats (op counts by kind; lane-ops =
ops x active lanes).  With ``profile=True`` every op is timed (slow; for the
benchmark's per-op-kind profile).  Unknown ops raise
:class:`UnsupportedOpError` naming the op and its source location when the
function is compiled, before anything runs.
"""
from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from . import rt, semantics
from .errors import UnsupportedOpError
from .mtypes import Ty, byte_size, field_offset, np_dtype, parse_type

_BIN_INT = {"arith.addi": "+", "arith.subi": "-", "arith.muli": "*", "arith.andi": "&",
            "arith.ori": "|", "arith.xori": "^"}
_BIN_I1 = {"arith.addi": "^", "arith.subi": "^", "arith.muli": "&", "arith.andi": "&",
           "arith.ori": "|", "arith.xori": "^"}
_BIN_F = {"arith.addf": "+", "arith.subf": "-", "arith.mulf": "*", "arith.divf": "/"}
_LLVM_BIN = {"llvm.add": "arith.addi", "llvm.sub": "arith.subi", "llvm.mul": "arith.muli",
             "llvm.and": "arith.andi", "llvm.or": "arith.ori", "llvm.xor": "arith.xori",
             "llvm.fadd": "arith.addf", "llvm.fsub": "arith.subf", "llvm.fmul": "arith.mulf",
             "llvm.fdiv": "arith.divf", "llvm.shl": "arith.shli", "llvm.lshr": "arith.shrui",
             "llvm.ashr": "arith.shrsi", "llvm.sdiv": "arith.divsi", "llvm.udiv": "arith.divui",
             "llvm.srem": "arith.remsi", "llvm.urem": "arith.remui", "llvm.select": "arith.select",
             "llvm.sext": "arith.extsi", "llvm.zext": "arith.extui", "llvm.trunc": "arith.trunci",
             "llvm.sitofp": "arith.sitofp", "llvm.uitofp": "arith.uitofp", "llvm.fptosi": "arith.fptosi",
             "llvm.fptoui": "arith.fptoui", "llvm.fpext": "arith.extf", "llvm.fptrunc": "arith.truncf"}
_ICMP_NAMES = semantics.CMPI_NAMES
_NOOP = {"gpu.return", "func.return", "llvm.return", "scf.yield", "scf.condition",
         "rocdl.sched.barrier", "rocdl.s.waitcnt", "rocdl.s.setprio", "rocdl.sched.group.barrier",
         "llvm.intr.assume", "rocdl.s.barrier.signal", "llvm.intr.lifetime.start", "llvm.intr.lifetime.end"}


def _dim(attr):
    s = str(attr)
    for d in ("x", "y", "z"):
        if s.endswith(f" {d}>") or s == d or s.endswith(f"<{d}>"):
            return d
    return s.strip("#>").split()[-1]


class Compiled:
    def __init__(self, fn, src, region_hist, name):
        self.fn = fn
        self.src = src
        self.region_hist = region_hist   # region id -> Counter(op kind -> n)
        self.name = name


class Gen:
    def __init__(self, module, func, kind, profile=False, lds_layout=None):
        self.module = module
        self.func = func
        self.kind = kind            # "kernel" | "host"
        self.profile = profile
        self.lines = []
        self.ns = {"np": np, "rt": rt, "S": semantics}
        self.nconst = itertools.count()
        self.nreg = itertools.count()
        self.region_hist = {}
        self.prov = {}              # LDS value id -> (lo, hi) of its allocation
        self.lds_layout = lds_layout or {}
        self.depth = 1
        self.consts = {}            # value id -> Python int of scalar integer constants

    # -- helpers
    def K(self, value, prefix="K"):
        name = f"{prefix}{next(self.nconst)}"
        self.ns[name] = value
        return name

    def emit(self, line):
        self.lines.append("    " * self.depth + line)

    def unsupported(self, op, why=""):
        raise UnsupportedOpError(
            f"the CPU interpreter does not implement {op.name}{(': ' + why) if why else ''}",
            op=op.name, loc=op.loc)

    @staticmethod
    def v(i):
        return f"v{i}"

    def info(self, op):
        return self.K((op.name, op.loc), "O")

    # -- blocks
    def gen_block(self, block, mask, yields_to=None):
        rid = next(self.nreg)
        hist = Counter()
        for op in block.ops:
            if op.name not in _NOOP:
                hist[op.name] += 1
        self.region_hist[rid] = hist
        n = sum(hist.values())
        if n:
            self.emit(f"X.count({rid}, {n}, {mask})")
        term = None
        for op in block.ops:
            if op.name in ("scf.yield", "scf.condition", "gpu.return", "func.return", "llvm.return"):
                term = op
                continue
            if self.profile and op.name not in _NOOP and not op.regions:
                self.emit("_t0 = _pc()")
                self.gen_op(op, mask)
                self.emit(f"X.prof({op.name!r}, _pc() - _t0, {mask})")
            else:
                self.gen_op(op, mask)
        return term

    # -- ops
    def gen_op(self, op, m):
        name = op.name
        if name in _LLVM_BIN:
            name = _LLVM_BIN[name]
        if name == "llvm.icmp":
            pred = op.attrs.get("predicate")
            pred = _ICMP_NAMES[pred] if isinstance(pred, str) and pred in _ICMP_NAMES else \
                _ICMP_NAMES.get(str(pred).strip('"'), pred)
            return self._cmpi(op, int(pred))
        h = getattr(self, "op_" + name.replace(".", "_"), None)
        if h is None:
            if name in _NOOP:
                return
            self.unsupported(op)
        h(op, m)

    def _r(self, op, i=0):
        return self.v(op.results[i])

    def _a(self, op, i):
        return self.v(op.operands[i])

    def _rt(self, op, i=0):
        return op.result_types[i]

    def _rank(self, t):
        return len(t.shape) if t.kind == "vector" else 0

    def _dt(self, t):
        return self.K(np_dtype(t), "D")

    def _is_bf16(self, t):
        e = t.elem if t.kind == "vector" else t
        return e.kind == "float" and e.name == "bf16"

    # constants
    def op_arith_constant(self, op, m):
        t = self._rt(op)
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
                self.consts[op.results[0]] = iv
        elif t.kind == "float":
            c = np_dtype(t)(float(val))
            if self._is_bf16(t):
                c = semantics.round_bf16(c)
        else:
            self.unsupported(op, f"constant of type {t}")
        self.emit(f"{self._r(op)} = {self.K(c)}")

    op_llvm_mlir_constant = op_arith_constant

    def op_llvm_mlir_undef(self, op, m):
        t = self._rt(op)
        self.emit(f"{self._r(op)} = {self.K(self._zero(t, op))}")

    op_llvm_mlir_poison = op_llvm_mlir_undef
    op_llvm_mlir_zero = op_llvm_mlir_undef
    op_ub_poison = op_llvm_mlir_undef

    def _zero(self, t, op):
        if t.kind == "struct":
            return tuple(self._zero(f, op) for f in t.fields)
        if t.kind == "array":
            return tuple(self._zero(t.elem, op) for _ in range(t.count))
        if t.kind == "vector":
            return np.zeros(t.shape, np_dtype(t))
        if t.kind in ("int", "float", "ptr"):
            return np_dtype(t)(0)
        self.unsupported(op, f"undef of type {t}")

    # integer / float binary
    def _binop(self, op, m):
        t = self._rt(op)
        a, b = self._a(op, 0), self._a(op, 1)
        r = self._r(op)
        e = t.elem if t.kind == "vector" else t
        if op.name in _BIN_INT or op.name in ("llvm.add", "llvm.sub", "llvm.mul", "llvm.and", "llvm.or", "llvm.xor"):
            nm = op.name if op.name in _BIN_INT else _LLVM_BIN[op.name]
            sym = _BIN_I1[nm] if e.width == 1 else _BIN_INT[nm]
            self.emit(f"{r} = {a} {sym} {b}")
        else:
            nm = op.name if op.name in _BIN_F else _LLVM_BIN[op.name]
            sym = _BIN_F[nm]
            if self._is_bf16(t):
                self.emit(f"{r} = S.round_bf16({a} {sym} {b})")
            else:
                self.emit(f"{r} = {a} {sym} {b}")

    for _n in list(_BIN_INT) + list(_BIN_F):
        locals()["op_" + _n.replace(".", "_")] = _binop

    def op_arith_remf(self, op, m):
        t = self._rt(op)
        x = f"np.fmod({self._a(op, 0)}, {self._a(op, 1)})"
        self.emit(f"{self._r(op)} = {'S.round_bf16(' + x + ')' if self._is_bf16(t) else x}")

    def op_arith_negf(self, op, m):
        self.emit(f"{self._r(op)} = -{self._a(op, 0)}")

    def _int_fn(self, fn, op, m, check=False):
        if check and self.kind == "kernel":
            self.emit(f"if X.sanitize: rt.check_div(X, {self._a(op, 1)}, {m}, {self.info(op)})")
        elif check:
            self.emit(f"rt.check_div(X, {self._a(op, 1)}, {m}, {self.info(op)})")
        self.emit(f"{self._r(op)} = S.{fn}({self._a(op, 0)}, {self._a(op, 1)})")

    def op_arith_divsi(self, op, m): self._int_fn("divsi", op, m, True)
    def op_arith_divui(self, op, m): self._int_fn("divui", op, m, True)
    def op_arith_remsi(self, op, m): self._int_fn("remsi", op, m, True)
    def op_arith_remui(self, op, m): self._int_fn("remui", op, m, True)
    def op_arith_floordivsi(self, op, m): self._int_fn("floordivsi", op, m, True)
    def op_arith_ceildivsi(self, op, m): self._int_fn("ceildivsi", op, m, True)
    def op_arith_ceildivui(self, op, m): self._int_fn("ceildivui", op, m, True)
    def op_arith_maxsi(self, op, m): self._int_fn("maxsi", op, m)
    def op_arith_minsi(self, op, m): self._int_fn("minsi", op, m)
    def op_arith_maxui(self, op, m): self._int_fn("maxui", op, m)
    def op_arith_minui(self, op, m): self._int_fn("minui", op, m)

    def _fminmax(self, op, fn):
        t = self._rt(op)
        self.emit(f"{self._r(op)} = np.{fn}({self._a(op, 0)}, {self._a(op, 1)}).astype({self._dt(t)})")

    def op_arith_maximumf(self, op, m): self._fminmax(op, "maximum")
    def op_arith_minimumf(self, op, m): self._fminmax(op, "minimum")
    def op_arith_maxnumf(self, op, m): self._fminmax(op, "fmax")
    def op_arith_minnumf(self, op, m): self._fminmax(op, "fmin")

    def _shift(self, op, fn):
        t = self._rt(op)
        e = t.elem if t.kind == "vector" else t
        if e.width == 1:
            self.emit(f"{self._r(op)} = {self._a(op, 0)}")
            return
        amt = self.consts.get(op.operands[1])
        if amt is not None and t.kind != "vector":
            k = amt % e.width
            a = self._a(op, 0)
            if fn == "shl":
                self.emit(f"{self._r(op)} = {a} << {self.K(np_dtype(t)(k))}")
            elif fn == "shrsi":
                self.emit(f"{self._r(op)} = {a} >> {self.K(np_dtype(t)(k))}")
            else:
                from .mtypes import udtype
                self.emit(f"{self._r(op)} = (S.as_u({a}) >> {self.K(udtype(t)(k))}).astype({self._dt(t)})")
            return
        self.emit(f"{self._r(op)} = S.{fn}({self._a(op, 0)}, {self._a(op, 1)}, {e.width})")

    def op_arith_shli(self, op, m): self._shift(op, "shl")
    def op_arith_shrui(self, op, m): self._shift(op, "shrui")
    def op_arith_shrsi(self, op, m): self._shift(op, "shrsi")

    def _cmpi(self, op, pred):
        a, b = self._a(op, 0), self._a(op, 1)
        sym = {0: "==", 1: "!=", 2: "<", 3: "<=", 4: ">", 5: ">="}.get(pred)
        if sym:
            self.emit(f"{self._r(op)} = {a} {sym} {b}")
        else:
            self.emit(f"{self._r(op)} = S.cmpi({pred}, {a}, {b})")

    def op_arith_cmpi(self, op, m):
        pred = op.attrs["predicate"]
        if isinstance(pred, str):
            pred = _ICMP_NAMES[pred.split()[-1].strip(">")]
        self._cmpi(op, int(pred))

    def op_arith_cmpf(self, op, m):
        self.emit(f"{self._r(op)} = S.cmpf({int(op.attrs['predicate'])}, {self._a(op, 0)}, {self._a(op, 1)})")

    def op_arith_select(self, op, m):
        t = self._rt(op)
        c = op.operand_types[0]
        if t.kind == "vector" and c.kind != "vector":
            self.emit(f"{self._r(op)} = rt.selv({self._a(op, 0)}, {self._a(op, 1)}, {self._a(op, 2)}, {self._rank(t)})")
        elif t.kind == "struct" or (t.kind == "ptr" and t.addrspace == 8):
            c0 = self._a(op, 0)
            self.emit(f"{self._r(op)} = ({self._a(op, 1)} if {c0} else {self._a(op, 2)}) if np.ndim({c0}) == 0 "
                      f"else rt_merge_any({c0}, {self._a(op, 1)}, {self._a(op, 2)})")
        else:
            self.emit(f"{self._r(op)} = rt.sel({self._a(op, 0)}, {self._a(op, 1)}, {self._a(op, 2)})")

    # casts
    def _astype(self, op, expr=None):
        t = self._rt(op)
        a = expr or self._a(op, 0)
        self.emit(f"{self._r(op)} = {a}.astype({self._dt(t)})")

    def op_arith_extsi(self, op, m):
        s = op.operand_types[0]
        e = s.elem if s.kind == "vector" else s
        if e.width == 1:
            self.emit(f"{self._r(op)} = rt.ext_i1_signed({self._a(op, 0)}, {self._dt(self._rt(op))})")
        else:
            self._astype(op)

    def op_arith_extui(self, op, m):
        s = op.operand_types[0]
        e = s.elem if s.kind == "vector" else s
        if e.width == 1:
            self._astype(op)
        else:
            self._astype(op, f"S.as_u({self._a(op, 0)})")

    def op_arith_trunci(self, op, m):
        t = self._rt(op)
        e = t.elem if t.kind == "vector" else t
        if e.width == 1:
            self.emit(f"{self._r(op)} = ({self._a(op, 0)} & 1).astype(np.bool_)")
        else:
            self._astype(op)

    def op_arith_index_cast(self, op, m):
        t, s = self._rt(op), op.operand_types[0]
        if s.kind == "int" and s.width == 1:
            self.emit(f"{self._r(op)} = rt.ext_i1_signed({self._a(op, 0)}, {self._dt(t)})")
        else:
            self._astype(op)

    def op_arith_index_castui(self, op, m):
        t, s = self._rt(op), op.operand_types[0]
        if s.width > t.width or s.width == 1:
            self._astype(op)
        else:
            self._astype(op, f"S.as_u({self._a(op, 0)})")

    def op_arith_sitofp(self, op, m):
        t = self._rt(op)
        x = f"S.int_to_fp({self._a(op, 0)}, {self._dt(t)}, False)"
        self.emit(f"{self._r(op)} = {'S.round_bf16(' + x + ')' if self._is_bf16(t) else x}")

    def op_arith_uitofp(self, op, m):
        t = self._rt(op)
        x = f"S.int_to_fp({self._a(op, 0)}, {self._dt(t)}, True)"
        self.emit(f"{self._r(op)} = {'S.round_bf16(' + x + ')' if self._is_bf16(t) else x}")

    def op_arith_fptosi(self, op, m):
        self.emit(f"{self._r(op)} = S.fp_to_int({self._a(op, 0)}, {self._dt(self._rt(op))}, False)")

    def op_arith_fptoui(self, op, m):
        self.emit(f"{self._r(op)} = S.fp_to_int({self._a(op, 0)}, {self._dt(self._rt(op))}, True)")

    def op_arith_extf(self, op, m):
        self._astype(op)

    def op_arith_truncf(self, op, m):
        t = self._rt(op)
        if self._is_bf16(t):
            self.emit(f"{self._r(op)} = S.round_bf16({self._a(op, 0)})")
        else:
            self._astype(op)

    def op_arith_bitcast(self, op, m):
        t, s = self._rt(op), op.operand_types[0]
        a = self._a(op, 0)
        t_shape = tuple(t.shape) if t.kind == "vector" else ()
        s_shape = tuple(s.shape) if s.kind == "vector" else ()
        if t_shape != s_shape:  # e.g. llvm.bitcast i64 -> vector<2xf32>: the lane axis must stay apart
            sdt = np.uint16 if self._is_bf16(s) else np_dtype(s)
            if self._is_bf16(s):
                a = f"S.bf16_to_bits({a})"
            ddt = np.uint16 if self._is_bf16(t) else np_dtype(t)
            expr = f"rt_shaped_bitcast({a}, {self.K(sdt)}, {len(s_shape)}, {self.K(ddt)}, {t_shape!r})"
            self.emit(f"{self._r(op)} = " + (f"S.bits_to_bf16({expr})" if self._is_bf16(t) else expr))
            return
        if self._is_bf16(s):
            a = f"S.bf16_to_bits({a})"
            sdt = np.uint16
        else:
            sdt = np_dtype(s)
        if self._is_bf16(t):
            self.emit(f"{self._r(op)} = S.bits_to_bf16(S.bitcast({a}, {self.K(sdt)}, np.uint16))")
        else:
            self.emit(f"{self._r(op)} = S.bitcast({a}, {self.K(sdt)}, {self._dt(t)})")

    op_llvm_bitcast = op_arith_bitcast

    def op_math_absi(self, op, m):
        self.emit(f"{self._r(op)} = np.abs({self._a(op, 0)})")

    op_math_absf = op_math_absi

    def _math1(self, op, fn):
        t = self._rt(op)
        x = f"np.{fn}({self._a(op, 0)}).astype({self._dt(t)})"
        self.emit(f"{self._r(op)} = {'S.round_bf16(' + x + ')' if self._is_bf16(t) else x}")

    def op_math_sqrt(self, op, m): self._math1(op, "sqrt")
    def op_math_exp(self, op, m): self._math1(op, "exp")
    def op_math_exp2(self, op, m): self._math1(op, "exp2")
    def op_math_log(self, op, m): self._math1(op, "log")
    def op_math_log2(self, op, m): self._math1(op, "log2")
    def op_math_floor(self, op, m): self._math1(op, "floor")
    def op_math_ceil(self, op, m): self._math1(op, "ceil")

    def op_math_fma(self, op, m):
        t = self._rt(op)
        a, b, c = (self._a(op, i) for i in range(3))
        self.emit(f"{self._r(op)} = (np.asarray({a}, np.float64) * {b} + {c}).astype({self._dt(t)})")

    def op_math_ctpop(self, op, m):
        t = self._rt(op)
        self.emit(f"{self._r(op)} = np.bitwise_count(S.as_u({self._a(op, 0)})).astype({self._dt(t)})")

    # ------------------------------------------------------------ GPU ids
    def _gpu_id(self, op, what):
        if self.kind != "kernel":
            self.unsupported(op, "only valid inside a kernel")
        d = _dim(op.attrs.get("dimension", "x"))
        self.emit(f"{self._r(op)} = X.{what}_{d}")

    def op_gpu_thread_id(self, op, m): self._gpu_id(op, "tid")
    def op_gpu_block_id(self, op, m): self._gpu_id(op, "bid")
    def op_gpu_grid_dim(self, op, m): self._gpu_id(op, "gdim")
    def op_gpu_block_dim(self, op, m): self._gpu_id(op, "bdim")

    def op_gpu_lane_id(self, op, m):
        self.emit(f"{self._r(op)} = X.lane64")

    def op_rocdl_workitem_id_x(self, op, m): self.emit(f"{self._r(op)} = X.tid32_x")
    def op_rocdl_workitem_id_y(self, op, m): self.emit(f"{self._r(op)} = X.tid32_y")
    def op_rocdl_workitem_id_z(self, op, m): self.emit(f"{self._r(op)} = X.tid32_z")
    def op_rocdl_workgroup_id_x(self, op, m): self.emit(f"{self._r(op)} = np.int32(X.bid_x)")
    def op_rocdl_workgroup_id_y(self, op, m): self.emit(f"{self._r(op)} = np.int32(X.bid_y)")
    def op_rocdl_workgroup_id_z(self, op, m): self.emit(f"{self._r(op)} = np.int32(X.bid_z)")

    def op_rocdl_mbcnt_lo(self, op, m):
        self.emit(f"{self._r(op)} = X.mbcnt_lo({self._a(op, 0)}, {self._a(op, 1)})")

    def op_rocdl_mbcnt_hi(self, op, m):
        self.emit(f"{self._r(op)} = X.mbcnt_hi({self._a(op, 0)}, {self._a(op, 1)})")

    def op_gpu_barrier(self, op, m):
        self.emit(f"rt.barrier(X, {m}, {self.info(op)})")

    op_rocdl_barrier = op_gpu_barrier
    op_rocdl_s_barrier = op_gpu_barrier

    # ------------------------------------------------------------ cross-lane
    def op_rocdl_update_dpp(self, op, m):
        a = op.attrs

        def g(*names):
            for n in names:
                if n in a:
                    return a[n]
            self.unsupported(op, f"missing attribute {names[0]}")
        t = self._rt(op)
        ctrl, rm, bm = int(g("dppCtrl", "dpp_ctrl")), int(g("rowMask", "row_mask")), int(g("bankMask", "bank_mask"))
        bc = bool(g("boundCtrl", "bound_ctrl"))
        self.emit(f"{self._r(op)} = rt.dpp(X, {self._a(op, 0)}, {self._a(op, 1)}, {m}, {ctrl}, "
                  f"{rm}, {bm}, {bc}, {self._rank(t)})")

    def op_rocdl_ds_bpermute(self, op, m):
        t = self._rt(op)
        self.emit(f"{self._r(op)} = rt.bpermute(X, {self._a(op, 0)}, {self._a(op, 1)}, {m}, {self._rank(t)})")

    def op_rocdl_readfirstlane(self, op, m):
        t = self._rt(op)
        self.emit(f"{self._r(op)} = rt.readfirstlane(X, {self._a(op, 0)}, {m}, {self._rank(t)})")

    def op_rocdl_readlane(self, op, m):
        t = self._rt(op)
        self.emit(f"{self._r(op)} = rt.readlane(X, {self._a(op, 0)}, {self._a(op, 1)}, {m}, {self._rank(t)})")

    def op_rocdl_ballot(self, op, m):
        self.emit(f"{self._r(op)} = rt.ballot(X, {self._a(op, 0)}, {m}, {self._dt(self._rt(op))})")

    def op_gpu_shuffle(self, op, m):
        mode = str(op.attrs.get("mode", "")).strip(">").split()[-1].split("<")[-1]
        t = self._rt(op)
        self.emit(f"{self._r(op, 0)}, {self._r(op, 1)} = rt.shuffle(X, {self._a(op, 0)}, {self._a(op, 1)}, "
                  f"{self._a(op, 2)}, {mode!r}, {m}, {self._rank(t)})")

    # ------------------------------------------------------------ pointers & memory
    def op_llvm_mlir_addressof(self, op, m):
        sym = op.attrs["global_name"]
        if sym not in self.lds_layout:
            self.unsupported(op, f"address of non-LDS global @{sym}")
        lo, hi = self.lds_layout[sym]
        self.prov[op.results[0]] = (lo, hi)
        self.emit(f"{self._r(op)} = {self.K(np.int64(lo))}")

    def op_llvm_addrspacecast(self, op, m):
        s, t = op.operand_types[0], self._rt(op)
        a = self._a(op, 0)
        if op.operands[0] in self.prov:
            self.prov[op.results[0]] = self.prov[op.operands[0]]
        if s.addrspace == 3 and t.addrspace == 0:
            self.emit(f"{self._r(op)} = {a} + {self.K(np.int64(1 << 60))}")
        elif s.addrspace == 0 and t.addrspace == 3:
            self.emit(f"{self._r(op)} = {a} - {self.K(np.int64(1 << 60))}")
        else:
            self.emit(f"{self._r(op)} = {a}")

    def op_llvm_ptrtoint(self, op, m):
        self._astype(op)

    def op_llvm_inttoptr(self, op, m):
        self.emit(f"{self._r(op)} = np.asarray({self._a(op, 0)}).astype(np.int64)" if False else
                  f"{self._r(op)} = {self._a(op, 0)}.astype(np.int64)")

    def op_llvm_getelementptr(self, op, m):
        raw = op.attrs.get("rawConstantIndices", [])
        et = op.attrs.get("elem_type")
        if not isinstance(et, Ty):
            self.unsupported(op, "getelementptr without elem_type")
        dyn = iter(op.operands[1:])
        terms = []
        const = 0
        cur = et
        for k, ci in enumerate(raw):
            if k == 0:
                size = byte_size(cur)
                if ci == -(2 ** 31):
                    terms.append((self.v(next(dyn)), size))
                else:
                    const += ci * size
                continue
            if cur.kind == "struct":
                if ci == -(2 ** 31):
                    self.unsupported(op, "dynamic struct index")
                const += field_offset(cur, ci)
                cur = cur.fields[ci]
            elif cur.kind in ("array", "vector"):
                el = cur.elem
                size = byte_size(el)
                if ci == -(2 ** 31):
                    terms.append((self.v(next(dyn)), size))
                else:
                    const += ci * size
                cur = el
            else:
                self.unsupported(op, f"GEP into {cur}")
        expr = self._a(op, 0)
        for name, size in terms:
            expr += f" + {name}.astype(np.int64) * {size}"
        if const:
            expr += f" + {const}"
        if op.operands[0] in self.prov:
            self.prov[op.results[0]] = self.prov[op.operands[0]]
        self.emit(f"{self._r(op)} = np.int64({expr})" if not terms else f"{self._r(op)} = {expr}")

    def _mem_type(self, t):
        """(memory dtype const, shape, nbytes, converter const) for a loaded/stored type."""
        if t.kind == "vector":
            el = t.elem
            shape = tuple(t.shape)
        else:
            el = t
            shape = ()
        if el.kind == "float" and el.name == "bf16":
            return self.K(np.uint16), shape, byte_size(t), self.K(semantics.bits_to_bf16), self.K(semantics.bf16_to_bits), byte_size(el)
        if el.kind == "ptr":
            if el.addrspace in (3, 5):
                return self.K(np.int32), shape, byte_size(t), self.K(lambda x: x.astype(np.int64)), None, 4
            return self.K(np.int64), shape, byte_size(t), None, None, 8
        if el.kind not in ("int", "float"):
            raise TypeError(str(t))
        return self.K(np_dtype(el)), shape, byte_size(t), None, None, byte_size(el)

    def _bounds(self, op, pid, space):
        if space == 3:
            lo, hi = self.prov.get(pid, (0, None))
            return str(lo), (str(hi) if hi is not None else "X.lds.nbytes")
        return "0", "0"

    def op_llvm_load(self, op, m):
        pt = op.operand_types[0]
        t = self._rt(op)
        try:
            mdt, shape, nb, lconv, _sconv, _es = self._mem_type(t)
        except TypeError:
            self.unsupported(op, f"load of {t}")
        lo, hi = self._bounds(op, op.operands[0], pt.addrspace)
        self.emit(f"{self._r(op)} = rt.load(X, {self._a(op, 0)}, {m}, {pt.addrspace}, {mdt}, {shape!r}, {nb}, "
                  f"{lconv}, {lo}, {hi}, {self.info(op)})")

    def op_llvm_store(self, op, m):
        pt = op.operand_types[1]
        t = op.operand_types[0]
        try:
            mdt, shape, nb, _lconv, sconv, _es = self._mem_type(t)
        except TypeError:
            self.unsupported(op, f"store of {t}")
        lo, hi = self._bounds(op, op.operands[1], pt.addrspace)
        self.emit(f"rt.store(X, {self._a(op, 0)}, {self._a(op, 1)}, {m}, {pt.addrspace}, {mdt}, {shape!r}, {nb}, "
                  f"{sconv}, {lo}, {hi}, {self.info(op)})")

    def op_rocdl_make_buffer_rsrc(self, op, m):
        a = [self._a(op, i) for i in range(4)]
        self.emit(f"{self._r(op)} = rt.make_rsrc({a[0]}, {a[1]}, {a[2]}, {a[3]})")

    def op_rocdl_raw_ptr_buffer_load(self, op, m):
        t = self._rt(op)
        mdt, shape, nb, lconv, _s, es = self._mem_type(t)
        self.emit(f"{self._r(op)} = rt.buffer_load(X, {self._a(op, 0)}, {self._a(op, 1)}, {self._a(op, 2)}, {m}, "
                  f"{mdt}, {shape!r}, {nb}, {es}, {lconv}, {self.info(op)})")

    def op_rocdl_raw_ptr_buffer_store(self, op, m):
        t = op.operand_types[0]
        mdt, shape, nb, _l, sconv, es = self._mem_type(t)
        self.emit(f"rt.buffer_store(X, {self._a(op, 0)}, {self._a(op, 1)}, {self._a(op, 2)}, {self._a(op, 3)}, {m}, "
                  f"{mdt}, {shape!r}, {nb}, {es}, {sconv}, {self.info(op)})")

    # ------------------------------------------------------------ aggregates
    def op_llvm_extractvalue(self, op, m):
        pos = op.attrs["position"]
        expr = self._a(op, 0) + "".join(f"[{int(p)}]" for p in pos)
        self.emit(f"{self._r(op)} = {expr}")

    def op_llvm_insertvalue(self, op, m):
        pos = [int(p) for p in op.attrs["position"]]
        self.emit(f"{self._r(op)} = rt_insert({self._a(op, 0)}, {pos!r}, {self._a(op, 1)})")

    # vectors: per-lane values have a leading lane dim; index from the end
    def op_vector_broadcast(self, op, m):
        t = self._rt(op)
        s = op.operand_types[0]
        if s.kind == "vector":
            self.unsupported(op, "vector-to-vector broadcast")
        n = int(np.prod(t.shape))
        self.emit(f"{self._r(op)} = rt_bcast({self._a(op, 0)}, {tuple(t.shape)!r})")

    op_vector_splat = op_vector_broadcast

    def op_vector_extract(self, op, m):
        pos = op.attrs.get("static_position", [])
        dyn = iter(op.operands[1:])
        idx = []
        for p in pos:
            idx.append(self.v(next(dyn)) if p == -(2 ** 63) or p < 0 else str(int(p)))
        if any(not i.isdigit() for i in idx):
            self.emit(f"{self._r(op)} = rt_vextract_dyn({self._a(op, 0)}, [{', '.join(idx)}], {len(op.operand_types[0].shape)})")
        else:
            self.emit(f"{self._r(op)} = {self._a(op, 0)}[..., {', '.join(idx)}]")

    def op_vector_extractelement(self, op, m):
        if len(op.operands) > 1:
            self.emit(f"{self._r(op)} = rt_vextract_dyn({self._a(op, 0)}, [{self._a(op, 1)}], 1)")
        else:
            self.emit(f"{self._r(op)} = {self._a(op, 0)}[..., 0]")

    def op_vector_insert(self, op, m):
        pos = op.attrs.get("static_position", [])
        if any(p < 0 for p in pos):
            self.unsupported(op, "dynamic insert position")
        self.emit(f"{self._r(op)} = rt_vinsert({self._a(op, 1)}, {self._a(op, 0)}, {tuple(int(p) for p in pos)!r}, "
                  f"{len(self._rt(op).shape)})")

    def op_vector_insertelement(self, op, m):
        self.emit(f"{self._r(op)} = rt_vinsert_dyn({self._a(op, 1)}, {self._a(op, 0)}, {self._a(op, 2)})")

    def op_vector_from_elements(self, op, m):
        t = self._rt(op)
        els = ", ".join(self._a(op, i) for i in range(len(op.operands)))
        self.emit(f"{self._r(op)} = rt_from_elements([{els}], {tuple(t.shape)!r}, {self._dt(t)})")

    def op_vector_bitcast(self, op, m):
        t, s = self._rt(op), op.operand_types[0]
        sdt = np.uint16 if self._is_bf16(s) else np_dtype(s)
        a = f"S.bf16_to_bits({self._a(op, 0)})" if self._is_bf16(s) else self._a(op, 0)
        if self._is_bf16(t):
            self.emit(f"{self._r(op)} = S.bits_to_bf16(rt_vbitcast({a}, {self.K(sdt)}, np.uint16, {t.shape[-1]}))")
        else:
            self.emit(f"{self._r(op)} = rt_vbitcast({a}, {self.K(sdt)}, {self._dt(t)}, {t.shape[-1]})")

    def op_vector_shape_cast(self, op, m):
        t, s = self._rt(op), op.operand_types[0]
        self.emit(f"{self._r(op)} = rt_reshape({self._a(op, 0)}, {tuple(s.shape)!r}, {tuple(t.shape)!r})")

    def op_vector_reduction(self, op, m):
        kind = str(op.attrs.get("kind", "")).strip(">").split()[-1].split("<")[-1]
        fn = {"add": "sum", "mul": "prod", "maxsi": "max", "minsi": "min", "maxnumf": "max",
              "minnumf": "min", "maximumf": "max", "minimumf": "min", "and": "bitwise_and.reduce",
              "or": "bitwise_or.reduce", "xor": "bitwise_xor.reduce"}.get(kind)
        if fn is None:
            self.unsupported(op, f"reduction kind {kind}")
        t = self._rt(op)
        self.emit(f"{self._r(op)} = np.{fn}({self._a(op, 0)}, axis=-1).astype({self._dt(t)})")

    # ------------------------------------------------------------ control flow
    def _assign(self, dsts, srcs):
        if dsts:
            self.emit(f"{', '.join(dsts)} = {', '.join(srcs)}")

    def op_scf_if(self, op, m):
        k = op.idx
        c = self._a(op, 0)
        then_b = op.regions[0]
        else_b = op.regions[1] if len(op.regions) > 1 and op.regions[1].ops else None
        res = [self.v(r) for r in op.results]
        mt, me = f"mt{k}", f"me{k}"
        self.emit(f"if np.ndim({c}) == 0:")
        self.emit(f"    _k{k} = 1 if {c} else 2; {mt} = {me} = {m}")
        self.emit("else:")
        self.emit(f"    {mt} = {m} & {c}; {me} = {m} & ~{c}")
        self.emit(f"    _k{k} = (1 if {mt}.any() else 0) | (2 if {me}.any() else 0)")
        tv = [f"t{k}_{i}" for i in range(len(res))]
        ev = [f"e{k}_{i}" for i in range(len(res))]
        self.emit(f"if _k{k} & 1:")
        self.depth += 1
        term = self.gen_block(then_b, mt)
        self._assign(tv, [self.v(x) for x in (term.operands if term else [])])
        self.emit("pass")
        self.depth -= 1
        if else_b is not None:
            self.emit(f"if _k{k} & 2:")
            self.depth += 1
            term = self.gen_block(else_b, me)
            self._assign(ev, [self.v(x) for x in (term.operands if term else [])])
            self.emit("pass")
            self.depth -= 1
        if res:
            if else_b is None:
                self.unsupported(op, "scf.if with results but no else region")
            self.emit(f"if _k{k} == 3:")
            for i, r in enumerate(res):
                rank = self._rank(op.result_types[i])
                rtp = op.result_types[i]
                if rtp.kind == "struct" or (rtp.kind == "ptr" and rtp.addrspace == 8):
                    self.emit(f"    {r} = rt_merge_any({c}, {tv[i]}, {ev[i]})")
                else:
                    self.emit(f"    {r} = rt.merge({c}, {tv[i]}, {ev[i]}, {rank})")
            self.emit(f"elif _k{k} == 1:")
            self.emit(f"    {', '.join(res)} = {', '.join(tv)}")
            self.emit("else:")
            self.emit(f"    {', '.join(res)} = {', '.join(ev)}")

    def op_scf_for(self, op, m):
        k = op.idx
        lb, ub, st = (self._a(op, i) for i in range(3))
        inits = [self._a(op, i) for i in range(3, len(op.operands))]
        body = op.regions[0]
        iv = self.v(body.args[0])
        iargs = [self.v(a) for a in body.args[1:]]
        ivt = body.arg_types[0]
        unsigned = bool(op.attrs.get("unsignedCmp", False))
        mb = f"mf{k}"
        self._assign(iargs, inits)
        self.emit(f"_u{k} = rt_for_bounds({lb}, {ub}, {st}, {m}, {unsigned})")
        self.emit(f"if _u{k} is not None:")
        self.emit(f"    _it{k} = iter(range(*_u{k})); _dv{k} = False; {mb} = {m}")
        self.emit("else:")
        self.emit(f"    _dv{k} = True; {iv} = rt.full(X, {lb}); {mb} = {m}")
        self.emit("while True:")
        self.depth += 1
        self.emit(f"if _dv{k}:")
        cmp = f"S.cmpi(6, {iv}, {ub})" if unsigned else f"({iv} < {ub})"
        self.emit(f"    {mb} = {m} & {cmp}")
        self.emit(f"    if not {mb}.any(): break")
        self.emit("else:")
        self.emit(f"    _i{k} = next(_it{k}, None)")
        self.emit(f"    if _i{k} is None: break")
        self.emit(f"    {iv} = {self._dt(ivt)}(_i{k})")
        term = self.gen_block(body, mb)
        ys = [self.v(x) for x in (term.operands if term else [])]
        if iargs:
            self.emit(f"if _dv{k}:")
            for a, y, t in zip(iargs, ys, body.arg_types[1:]):
                self.emit(f"    {a} = rt_keep({mb}, {y}, {a}, {self._rank(t)})")
            self.emit("else:")
            self.emit(f"    {', '.join(iargs)} = {', '.join(ys)}")
        self.emit(f"if _dv{k}: {iv} = {iv} + {st}")
        self.depth -= 1
        self._assign([self.v(r) for r in op.results], iargs)

    def op_scf_while(self, op, m):
        k = op.idx
        before, after = op.regions
        inits = [self._a(op, i) for i in range(len(op.operands))]
        bargs = [self.v(a) for a in before.args]
        res = [self.v(r) for r in op.results]
        ml = f"mw{k}"
        self._assign(bargs, inits)
        self.emit(f"{ml} = {m}")
        for r in res:
            self.emit(f"{r} = None")
        self.emit("while True:")
        self.depth += 1
        term = self.gen_block(before, ml)
        cond = self.v(term.operands[0])
        fwd = [self.v(x) for x in term.operands[1:]]
        self.emit(f"_c{k} = rt.uniform({cond}, {ml})")
        self.emit(f"if _c{k} is not None:")
        self.emit(f"    if not _c{k}:")
        for r, f, t in zip(res, fwd, op.result_types):
            self.emit(f"        {r} = rt.merge_mask({ml}, {f}, {r}, {self._rank(t)}) if {r} is not None else {f}")
        self.emit("        break")
        self.emit("else:")
        self.emit(f"    _x{k} = {ml} & ~{cond}")
        for r, f, t in zip(res, fwd, op.result_types):
            self.emit(f"    {r} = rt.merge_mask(_x{k}, {f}, {r}, {self._rank(t)}) if {r} is not None else {f}")
        self.emit(f"    {ml} = {ml} & {cond}")
        self.emit(f"    if not {ml}.any(): break")
        self._assign([self.v(a) for a in after.args], fwd)
        term2 = self.gen_block(after, ml)
        ys = [self.v(x) for x in (term2.operands if term2 else [])]
        self._assign(bargs, ys)
        self.depth -= 1

    def op_scf_execute_region(self, op, m):
        term = self.gen_block(op.regions[0], m)
        self._assign([self.v(r) for r in op.results], [self.v(x) for x in (term.operands if term else [])])

    def op_scf_index_switch(self, op, m):
        k = op.idx
        arg = self._a(op, 0)
        cases = [int(c) for c in op.attrs.get("cases", [])]
        self.emit(f"_s{k} = rt.uniform({arg}, {m})")
        self.emit(f"if _s{k} is None: raise rt.UnsupportedOpError('divergent scf.index_switch', "
                  f"op='scf.index_switch', loc={op.loc!r})")
        res = [self.v(r) for r in op.results]
        first = True
        for i, c in enumerate(cases + [None]):
            region = op.regions[i + 1] if c is not None else op.regions[0]
            if c is not None:
                self.emit(f"{'if' if first else 'elif'} _s{k} == {c}:")
            else:
                self.emit("else:" if not first else "if True:")
            first = False
            self.depth += 1
            term = self.gen_block(region, m)
            self._assign(res, [self.v(x) for x in (term.operands if term else [])])
            self.emit("pass")
            self.depth -= 1

    # ------------------------------------------------------------ host
    def op_gpu_launch_func(self, op, m):
        if self.kind != "host":
            self.unsupported(op, "launch inside a kernel")
        segs = op.attrs.get("operandSegmentSizes") or op.attrs.get("operand_segment_sizes")
        ops = [self.v(x) for x in op.operands]
        # segments: asyncDependencies, gridX,Y,Z, blockX,Y,Z, [clusterX,Y,Z], dynamicSharedMemorySize, kernelOperands, [asyncObject]
        if segs is None:
            self.unsupported(op, "launch_func without operandSegmentSizes")
        segs = list(segs)
        pos = 0
        groups = []
        for s in segs:
            groups.append(ops[pos:pos + s])
            pos += s
        grid = groups[1] + groups[2] + groups[3]
        block = groups[4] + groups[5] + groups[6]
        if len(segs) >= 12:
            dyn = groups[10]
            kargs = groups[11]
        else:
            dyn = groups[7]
            kargs = groups[8]
        kname = str(op.attrs["kernel"]).split("::")[-1].strip("@")
        self.emit(f"X.launch({kname!r}, ({', '.join(grid)},), ({', '.join(block)},), "
                  f"{dyn[0] if dyn else 0}, [{', '.join(kargs)}], {self.info(op)})")
        for r in op.results:
            self.emit(f"{self.v(r)} = None")

    # ------------------------------------------------------------ driver
    def build(self):
        f = self.func
        args = [self.v(a) for a in f.body.args]
        self.lines.append(f"def {f.name}__emu(X, m0, args):")
        self.lines.append("    " + (", ".join(args) + (", " if len(args) == 1 else "") + " = args" if args else "pass"))
        self.depth = 1
        self.gen_block(f.body, "m0")
        self.emit("return None")
        src = "\n".join(self.lines) + "\n"
        ns = dict(self.ns)
        ns.update(_RT_EXTRA)
        from time import perf_counter
        ns["_pc"] = perf_counter
        code = compile(src, f"<emu:{f.name}>", "exec")
        exec(code, ns)
        return Compiled(ns[f"{f.name}__emu"], src, self.region_hist, f.name)


# -- small runtime pieces used by generated code
def rt_insert(agg, pos, val):
    if not pos:
        return val
    lst = list(agg)
    lst[pos[0]] = rt_insert(lst[pos[0]], pos[1:], val)
    return tuple(lst)


def rt_bcast(x, shape):
    x = np.asarray(x)
    return np.broadcast_to(x.reshape(x.shape + (1,) * len(shape)), x.shape + shape).copy()


def rt_vinsert(vec, val, pos, rank):
    vec = np.asarray(vec)
    val = np.asarray(val)
    vl = vec.ndim - rank
    al = val.ndim - (rank - len(pos))
    if al > vl:
        vec = np.broadcast_to(vec, val.shape[:al] + vec.shape)
    out = np.array(vec, copy=True)
    out[(Ellipsis,) + tuple(pos) + (slice(None),) * (rank - len(pos))] = val
    return out


def rt_vinsert_dyn(vec, val, idx):
    out = np.array(np.broadcast_to(vec, np.broadcast(np.asarray(vec)[..., 0], val).shape + np.shape(vec)[-1:]),
                   copy=True)
    i = np.asarray(idx)
    if i.ndim == 0:
        out[..., int(i)] = val
    else:
        out[np.arange(out.shape[0]), i] = val
    return out


def rt_vextract_dyn(vec, idxs, rank):
    vec = np.asarray(vec)
    if len(idxs) == 1:
        i = np.asarray(idxs[0])
        if i.ndim == 0:
            return vec[..., int(i)]
        if vec.ndim == 1:
            return vec[i]
        return vec[np.arange(vec.shape[0]), i]
    raise NotImplementedError("multi-dim dynamic vector.extract")


def rt_from_elements(els, shape, dt):
    arrs = [np.asarray(e) for e in els]
    n = max(a.ndim for a in arrs)
    if n == 0:
        return np.array([e for e in els], dtype=dt).reshape(shape)
    L = max(a.shape[0] for a in arrs if a.ndim)
    st = np.stack([np.broadcast_to(a, (L,)) for a in arrs], axis=-1).astype(dt)
    return st.reshape((L,) + shape)


def rt_shaped_bitcast(x, sdt, s_rank, ddt, d_shape):
    """Bitcast whose source and result shapes differ (scalar <-> vector): the
    leading (lane) axes are kept, only the trailing ``s_rank`` axes are reinterpreted."""
    a = np.array(np.asarray(x), dtype=sdt, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
    lead = a.shape[:a.ndim - s_rank]
    out = a.reshape(lead + (-1,)).view(ddt).reshape(lead + tuple(d_shape))
    return out[()] if out.ndim == 0 else out


def rt_vbitcast(x, sdt, ddt, n_out):
    a = np.ascontiguousarray(np.asarray(x).astype(sdt))
    return a.view(ddt).reshape(a.shape[:-1] + (n_out,))


def rt_reshape(x, sshape, dshape):
    x = np.asarray(x)
    lead = x.shape[:x.ndim - len(sshape)]
    return x.reshape(lead + dshape)


def rt_keep(mk, new, old, rank):
    if isinstance(new, tuple):
        return rt_merge_any(mk, new, old)
    return rt.merge(mk, new, old, rank)


def rt_merge_any(c, a, b):
    """Per-lane merge of aggregates (structs, buffer descriptors)."""
    if a is b:
        return a
    if isinstance(a, tuple) and len(a) == 4 and isinstance(a[1], int):      # buffer descriptor
        if a[1] != b[1] or a[3] != b[3]:
            raise rt.UnsupportedOpError("per-lane choice between buffer descriptors with different "
                                        "stride/flags", op="scf.if")
        nr = np.where(c, a[2], b[2]).astype(np.int64) if a[2] != b[2] else a[2]
        return (np.where(c, a[0], b[0]).astype(np.int64), a[1], nr, a[3])
    if isinstance(a, tuple):
        return tuple(rt_merge_any(c, x, y) for x, y in zip(a, b))
    return np.where(c, a, b)


def rt_for_bounds(lb, ub, st, m, unsigned):
    lo, hi, s = rt.uniform(lb, m), rt.uniform(ub, m), rt.uniform(st, m)
    if lo is None or hi is None or s is None:
        return None
    if unsigned:
        lo &= (1 << 64) - 1
        hi &= (1 << 64) - 1
    if s <= 0:
        if lo < hi:
            raise rt.UnsupportedOpError("scf.for with non-positive step", op="scf.for")
        return (0, 0, 1)
    return (lo, hi, s)


_RT_EXTRA = {n: globals()[n] for n in list(globals()) if n.startswith("rt_")}
