"""Generate the Python source of one function of the Python IR (:mod:`kernels.emu.irload`).

:class:`FunctionCodegen` walks the function's blocks once and asks the op
table (:mod:`.table`) for each op's handler; handlers emit straight-line
NumPy code through the small helpers here (value names, constants,
indentation).  :meth:`FunctionCodegen.build` compiles the source into a
:class:`Compiled` whose ``fn(X, m0, args)`` runs the function: ``X`` the
workgroup context (kernels) or host context (host functions), ``m0`` the mask
of live lanes, ``args`` the argument values.

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
from ..errors import UnsupportedOpError
from ..mtypes import np_dtype
from .table import OPS

#: Names every generated function's namespace has besides its constants.
_BUILTIN_NAMES = {"np": np, "rt": runtime, "S": semantics, "_pc": perf_counter}


class Compiled:
    """A generated function: ``fn(X, m0, args)``, its source, its constants and per-region op histograms.

    :meth:`state` / :meth:`from_state` turn it into picklable data and back
    (the persistent capture cache): the constants, the source and the
    compiled code object (``marshal``, so only for this Python version)."""

    def __init__(self, fn, src, region_hist, name, consts=None, code=None):
        self.fn = fn
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
                   state["consts"], code)


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

    def __init__(self, func, kind, profile=False, lds_layout=None):
        self.func = func
        self.kind = kind
        self.profile = profile
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

    @staticmethod
    def value(i) -> str:
        return f"v{i}"

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
        for op in block.ops:
            entry = OPS.get(op.name)
            if entry is None:
                self.unsupported(op)
            if entry.kind == "terminator":
                term = op
            elif self.profile and entry.counted and not op.regions:
                self.emit("_t0 = _pc()")
                entry.handler(self, op, mask)
                self.emit(f"X.prof({op.name!r}, _pc() - _t0, {mask})")
            else:
                entry.handler(self, op, mask)
        return term

    def build(self) -> Compiled:
        f = self.func
        args = [self.value(a) for a in f.body.args]
        self.lines.append(f"def {f.name}__emu(X, m0, args):")
        self.lines.append("    " + (", ".join(args) + (", " if len(args) == 1 else "") + " = args" if args else "pass"))
        self.depth = 1
        self.block(f.body, "m0")
        self.emit("return None")
        src = "\n".join(self.lines) + "\n"
        ns = dict(self.ns)
        code = compile(src, f"<emu:{f.name}>", "exec")
        exec(code, ns)
        consts = {k: v for k, v in self.ns.items() if k not in _BUILTIN_NAMES}
        return Compiled(ns[f"{f.name}__emu"], src, self.region_hist, f.name, consts, code)
