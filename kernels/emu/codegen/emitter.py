"""Generate the Python source of one function of the Python IR (:mod:`kernels.emu.irload`).

:class:`FunctionCodegen` walks the function's blocks once and asks the op
table (:mod:`.table`) for each op's handler; handlers emit straight-line
NumPy code through the small helpers here (value names, constants,
indentation).  :meth:`FunctionCodegen.build` compiles the source into a
:class:`Compiled` whose ``fn(X, m0, args)`` runs the function: ``X`` the
workgroup context (kernels) or host context (host functions), ``m0`` the mask
of live lanes, ``args`` the argument values.

For kernels, the uniformity analysis (:mod:`.uniformity`; ``uniform=True``,
the default) decides three things: constants are named directly where they
are used (no statement runs for them, in a loop or anywhere); pure,
check-free ops of the kernel's top-level block whose results are uniform
over the whole launch go into a *prologue*, ``pre(X, m0, args)``, which the
executor runs once per launch and whose results ``fn(X, m0, args, pre)``
receives; and loads whose address is uniform over each workgroup take the
runtime's once-per-workgroup path (:func:`~kernels.emu.runtime.load_uniform`).
``uniform=False`` generates the plain per-lane code, for comparison.

``interleave=True`` generates the variant the interleaved mode runs once per
wave (:mod:`kernels.emu.schedule`): a generator that yields before every
schedule point (:data:`SCHEDULE_POINTS`: memory accesses and atomics; it yields
the op's ``(name, location)``) and at every barrier (a
:class:`~kernels.emu.runtime.Arrival` instead of running the barrier).  Nothing
else changes: between two yields a wave runs what it runs in lockstep.

Per-region op histograms feed the statistics (op counts by kind; lane-ops =
ops x active lanes).  With ``profile=True`` every op is timed (slow; for the
benchmark's per-op-kind profile).  An op missing from the table raises
:class:`~kernels.emu.errors.UnsupportedOpError` naming the op and its source
location while the function is generated, before anything runs.
"""
from __future__ import annotations

import itertools
import marshal
from collections import Counter
from time import perf_counter

import numpy as np

from .. import runtime, semantics
from ..amdgpu import AddressSpace
from ..arrays import ndim
from ..errors import UnsupportedOpError
from ..mtypes import np_dtype
from .table import OPS
from .uniformity import LAUNCH, Uniformity
from .wide import refuse_unless_taken

#: Ops the interleaved variant pauses before (barriers pause in their own handler): every access
#: to memory another wave can see -- loads, stores, atomics, through pointers, views and buffers.
SCHEDULE_POINTS = frozenset({
    "llvm.load", "llvm.store", "memref.load", "memref.store", "llvm.atomicrmw", "llvm.cmpxchg",
    "rocdl.raw.ptr.buffer.load", "rocdl.raw.ptr.buffer.store", "rocdl.raw.ptr.buffer.atomic.cmpswap",
    "rocdl.raw.ptr.buffer.atomic.fadd", "rocdl.raw.ptr.buffer.atomic.fmax", "rocdl.raw.ptr.buffer.atomic.smax",
    "rocdl.raw.ptr.buffer.atomic.umin",
})

#: Names every generated function's namespace has besides its constants.
_BUILTIN_NAMES = {"np": np, "rt": runtime, "S": semantics, "_pc": perf_counter, "_nd": ndim}


class Compiled:
    """A generated function: ``fn(X, m0, args)``, its source, its constants and per-region op histograms.

    :meth:`state` / :meth:`from_state` turn it into picklable data and back
    (the persistent capture cache): the constants, the source and the
    compiled code object (``marshal``, so only for this Python version)."""

    def __init__(self, fn, src, region_hist, name, consts=None, code=None, pre=None):
        self.fn = fn
        self.pre = pre                   # the prologue (launch-uniform values), or None
        self.src = src
        self.region_hist = region_hist   # region id -> Counter(op kind -> n)
        self.name = name
        self.consts = consts or {}       # name in the generated code -> value
        self.code = code                 # the module code object the function came from

    def state(self) -> dict:
        return {"name": self.name, "src": self.src, "consts": self.consts, "region_hist": self.region_hist,
                "code": marshal.dumps(self.code)}

    @classmethod
    def from_state(cls, state: dict) -> "Compiled":
        code = marshal.loads(state["code"])
        ns = dict(_BUILTIN_NAMES, **state["consts"])
        exec(code, ns)
        return cls(ns[f"{state['name']}__emu"], state["src"], state["region_hist"], state["name"],
                   state["consts"], code, ns.get(f"{state['name']}__pre"))


def elem(t):
    """Element type of a vector type, else ``t``."""
    return t.elem if t.kind == "vector" else t


def rank(t) -> int:
    """Vector rank of a type (0 for scalars)."""
    return len(t.shape) if t.kind == "vector" else 0


def is_bf16(t) -> bool:
    e = elem(t)
    return e.kind == "float" and e.name == "bf16"


def held_as_tuple(t) -> bool:
    """Whether values of type ``t`` are tuples: structs and buffer descriptors."""
    return t.kind == "struct" or (t.kind == "ptr" and t.addrspace == AddressSpace.BUFFER_RESOURCE)


def round_if_bf16(t, expr: str) -> str:
    """``expr`` rounded to bf16 when ``t`` is bf16 (bf16 is held as float32)."""
    return f"S.round_bf16({expr})" if is_bf16(t) else expr


class FunctionCodegen:
    """Code generation state of one function (``kind``: ``"kernel"`` or ``"host"``).

    ``lds_layout`` maps LDS global symbols to their ``(lo, hi)`` byte range in
    the workgroup's LDS (``hi`` None for dynamic shared memory).
    """

    def __init__(self, func, kind, profile=False, lds_layout=None, uniform=True, interleave=False):
        self.func = func
        self.kind = kind
        self.profile = profile
        self.interleave = interleave and kind == "kernel"
        self.uni = Uniformity(func) if uniform and kind == "kernel" else None
        self.alias = {}             # value id -> name it is read by (constants)
        self.pre_lines = []         # the prologue's lines (launch-uniform values)
        self.hoisted = []           # value ids the prologue computes
        self.lds_layout = lds_layout or {}
        self.lines = []
        self.ns = dict(_BUILTIN_NAMES)
        self._nconst = itertools.count()
        self._nregion = itertools.count()
        self.region_hist = {}
        self.prov = {}              # LDS value id -> (lo, hi) of the allocation it points into
        self.consts = {}            # value id -> Python int of scalar integer constants
        self.depth = 1

    # -- names and lines
    def const(self, value, prefix="K") -> str:
        """Name of a new constant of the generated code holding ``value``."""
        name = f"{prefix}{next(self._nconst)}"
        self.ns[name] = value
        return name

    def dtype(self, t) -> str:
        """Name of the NumPy dtype of type ``t`` in the generated code."""
        return self.const(np_dtype(t), "D")

    def info(self, op) -> str:
        """Name of ``(op name, source location)``, for the runtime's error messages."""
        return self.const((op.name, op.loc), "O")

    def value(self, i) -> str:
        return self.alias.get(i) or f"v{i}"

    def define(self, op, name: str) -> None:
        """Result 0 of ``op`` is the generated code's constant ``name``: named directly where
        used (with the uniformity analysis), else assigned once here."""
        if self.uni is not None:
            self.alias[op.results[0]] = name
        else:
            self.emit(f"{self.res(op)} = {name}")

    def uniformity(self, vid) -> int:
        """Class of value ``vid`` (:mod:`.uniformity`); per lane without the analysis."""
        return self.uni.of(vid) if self.uni is not None else 2

    def _hoistable(self, op, entry, top: bool) -> bool:
        if not top or self.uni is None or op.regions or entry.uniformity not in ("operands", "launch"):
            return False
        if any(self.uni.of(r) != LAUNCH for r in op.results) or not op.results:
            return False
        ready = set(self.func.body.args) | set(self.alias) | set(self.hoisted)
        return all(v in ready for v in op.operands)

    def res(self, op, i=0) -> str:
        """Name of result ``i`` of ``op``."""
        return self.value(op.results[i])

    def arg(self, op, i) -> str:
        """Name of operand ``i`` of ``op``."""
        return self.value(op.operands[i])

    @staticmethod
    def rtype(op, i=0):
        """Type of result ``i`` of ``op``."""
        return op.result_types[i]

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def assign(self, dsts, srcs) -> None:
        if dsts:
            self.emit(f"{', '.join(dsts)} = {', '.join(srcs)}")

    def unsupported(self, op, why=""):
        raise UnsupportedOpError(
            f"the CPU interpreter does not implement {op.name}{(': ' + why) if why else ''}",
            op=op.name, loc=op.loc)

    # -- blocks and ops
    def block(self, block, mask):
        """Emit ``block``'s ops under the mask named ``mask``; return its terminator (or None)."""
        rid = next(self._nregion)
        hist = Counter()
        for op in block.ops:
            entry = OPS.get(op.name)
            if entry is None or entry.counted:
                hist[op.name] += 1
        self.region_hist[rid] = hist
        n = sum(hist.values())
        if n:
            self.emit(f"X.count({rid}, {n}, {mask})")
        term = None
        top = block is self.func.body
        for op in block.ops:
            entry = OPS.get(op.name)
            if entry is None:
                self.unsupported(op)
            refuse_unless_taken(self, op)
            if entry.kind == "terminator":
                term = op
            elif self._hoistable(op, entry, top):
                body, self.lines = self.lines, self.pre_lines
                entry.handler(self, op, mask)
                self.lines = body
                self.hoisted.extend(r for r in op.results if r not in self.alias)
            elif self.interleave and op.name in SCHEDULE_POINTS:
                self.emit(f"yield {self.info(op)}")
                entry.handler(self, op, mask)
            elif self.profile and entry.counted and not op.regions:
                self.emit("_t0 = _pc()")
                entry.handler(self, op, mask)
                self.emit(f"X.prof({op.name!r}, _pc() - _t0, {mask})")
            else:
                entry.handler(self, op, mask)
        return term

    @staticmethod
    def _unpack(names, source) -> str:
        return "    " + (", ".join(names) + (", " if len(names) == 1 else "") + f" = {source}" if names else "pass")

    def build(self) -> Compiled:
        f = self.func
        args = [self.value(a) for a in f.body.args]
        self.lines.append(f"def {f.name}__emu(X, m0, args, pre=None):")
        self.lines.append(self._unpack(args, "args"))
        head = len(self.lines)
        self.depth = 1
        if self.interleave:
            self.emit("if False: yield  # a generator even without a schedule point")
        self.block(f.body, "m0")
        self.emit("return None")
        if self.hoisted:
            names = [self.value(v) for v in self.hoisted]
            self.lines.insert(head, self._unpack(names, "pre"))
            self.lines += [f"def {f.name}__pre(X, m0, args):", self._unpack(args, "args")] + self.pre_lines
            self.lines.append(f"    return ({', '.join(names)},)")
        src = "\n".join(self.lines) + "\n"
        ns = dict(self.ns)
        code = compile(src, f"<emu:{f.name}>", "exec")
        exec(code, ns)
        consts = {k: v for k, v in self.ns.items() if k not in _BUILTIN_NAMES}
        return Compiled(ns[f"{f.name}__emu"], src, self.region_hist, f.name, consts, code, ns.get(f"{f.name}__pre"))
