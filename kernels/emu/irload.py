"""Turn FlyDSL's structured MLIR text into a compact, MLIR-free Python IR.

``load_module(text) -> ModuleIR`` parses with FlyDSL's own MLIR bindings
(``flydsl._mlir``), walks every op once and returns plain Python objects:

* ``Op``: ``name``, ``operands`` / ``results`` (integer value ids),
  ``operand_types`` / ``result_types`` (:class:`mtypes.Ty`), ``attrs`` (decoded
  to Python ints/floats/lists/str/NumPy arrays), ``regions`` (list of
  :class:`Block`, one block per region) and ``loc`` (``"file:line"`` of the
  kernel's Python source, or ``"?"``).
* ``ModuleIR``: ``kernels`` (name -> :class:`Func`, from ``gpu.module``),
  ``host`` (name -> :class:`Func`, the ``func.func`` launchers), ``globals``
  (``llvm.mlir.global`` and ``memref.global`` ops by symbol; a ``memref.global``
  carries ``addr_space`` and ``global_type`` as an ``llvm.mlir.global`` does, so
  the LDS layout treats both alike).

Nothing MLIR survives this step, so execution never touches the bindings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .errors import UnsupportedOpError
from .mtypes import np_dtype, parse_type
from .semantics import round_bf16

_LOC_RE = re.compile(r'"([^"]+)":(\d+):(\d+)')


@dataclass
class Block:
    args: list            # value ids
    arg_types: list       # Ty
    ops: list             # Op


@dataclass
class Op:
    name: str
    operands: list
    operand_types: list
    results: list
    result_types: list
    attrs: dict
    regions: list
    loc: str
    idx: int = 0


@dataclass
class Func:
    name: str
    body: Block
    attrs: dict
    loc: str


@dataclass
class ModuleIR:
    kernels: dict = field(default_factory=dict)
    host: dict = field(default_factory=dict)
    globals: dict = field(default_factory=dict)
    text: str = ""
    n_values: int = 0


def loc_text(loc) -> str:
    """``file:line`` of the op; call sites (inlined helpers) follow as ``(from file:line, ...)``."""
    s = str(loc)
    ms = _LOC_RE.findall(s)
    if not ms:
        return "?"
    first = f"{ms[0][0]}:{ms[0][1]}"
    rest = []
    for f, ln, _c in ms[1:]:
        t = f"{f}:{ln}" if f != ms[0][0] else f":{ln}"
        if t not in rest:
            rest.append(t)
    return first + (f" (from {', '.join(rest)})" if rest else "")


def _cast(ir, cls, a):
    c = getattr(ir, cls, None)
    if c is None:
        return None
    try:
        return c(a)
    except Exception:
        return None


def _attr_value(ir, a):
    for cls, conv in (
        ("BoolAttr", lambda x: bool(x.value)),
        ("IntegerAttr", lambda x: int(x.value)),
        ("FloatAttr", lambda x: float(x.value)),
        ("StringAttr", lambda x: x.value),
        ("FlatSymbolRefAttr", lambda x: x.value),
        ("UnitAttr", lambda x: True),
        ("DenseI32ArrayAttr", lambda x: [int(v) for v in x]),
        ("DenseI64ArrayAttr", lambda x: [int(v) for v in x]),
        ("DenseBoolArrayAttr", lambda x: [bool(v) for v in x]),
        ("TypeAttr", lambda x: parse_type(str(x.value))),
    ):
        x = _cast(ir, cls, a)
        if x is not None:
            try:
                return conv(x)
            except Exception:
                pass
    if _cast(ir, "DenseElementsAttr", a) is not None:
        return _dense(ir, a)
    x = _cast(ir, "ArrayAttr", a)
    if x is not None:
        return [_attr_value(ir, y) for y in x]
    s = str(a)
    if _cast(ir, "SymbolRefAttr", a) is not None:
        return s.replace("@", "")
    m = re.fullmatch(r"(-?\d+)(?: : \w+)?", s)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"(-?\d[\d.]*(?:e[+-]?\d+)?)(?: : \w+)?", s)
    if m:
        return float(m.group(1))
    if s in ("true", "false"):
        return s == "true"
    return s


def _dense(ir, a):
    t = parse_type(str(a.type))
    shape = tuple(t.shape) if t.kind == "vector" else ()
    el = t.elem if t.kind == "vector" else t
    n = int(np.prod(shape)) if shape else 1
    d = _cast(ir, "DenseIntElementsAttr", a) or _cast(ir, "DenseFPElementsAttr", a)
    if d is None:
        raise ValueError(f"cannot decode dense attr {a}")
    vals = [d[i] for i in range(len(d))]
    if len(vals) == 1 and n > 1:
        vals = vals * n
    dt = np_dtype(el)
    if el.kind == "int" and el.width > 1:
        bits = el.width
        vals = [((int(v) + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1)) for v in vals]
    arr = np.array(vals, dtype=dt)
    if el.kind == "float" and el.name == "bf16":
        arr = round_bf16(arr)
    return arr.reshape(shape) if shape else arr.reshape(())


def _as_global(g: Op) -> Op:
    """A global op with ``addr_space`` and ``global_type`` set (a ``memref.global`` states them
    in its memref type: its memory space and its static size)."""
    if g.name == "memref.global":
        t = g.attrs.get("type")
        if getattr(t, "kind", "") == "memref":
            g.attrs.setdefault("addr_space", t.addrspace)
            g.attrs.setdefault("global_type", t)
    return g


class _Walker:
    def __init__(self, ir):
        self.ir = ir
        self.ids = {}
        self.n = 0
        self.op_count = 0

    def vid(self, v):
        # key by the hash (the underlying mlir::Value pointer), never by the Value itself:
        # FlyDSL overloads Value.__eq__ to build an arith.cmpi op
        k = hash(v)
        i = self.ids.get(k)
        if i is None:
            i = self.n
            self.n += 1
            self.ids[k] = i
        return i

    def block(self, b) -> Block:
        args = [self.vid(a) for a in b.arguments]
        types = [parse_type(str(a.type)) for a in b.arguments]
        ops = [self.op(o) for o in b.operations]
        return Block(args, types, ops)

    def op(self, o) -> Op:
        o = o.operation
        regions = []
        for r in o.regions:
            blocks = list(r.blocks)
            if len(blocks) > 1:
                raise UnsupportedOpError(
                    "region with several blocks (unstructured control flow) is not supported; "
                    "the interpreter expects IR before convert-scf-to-cf", op=o.name, loc=loc_text(o.location))
            regions.append(self.block(blocks[0]) if blocks else Block([], [], []))
        attrs = {}
        for name in o.attributes:
            try:
                attrs[name] = _attr_value(self.ir, o.attributes[name])
            except Exception:
                attrs[name] = str(o.attributes[name])
        self.op_count += 1
        return Op(
            name=o.name,
            operands=[self.vid(v) for v in o.operands],
            operand_types=[parse_type(str(v.type)) for v in o.operands],
            results=[self.vid(v) for v in o.results],
            result_types=[parse_type(str(v.type)) for v in o.results],
            attrs=attrs,
            regions=regions,
            loc=loc_text(o.location),
            idx=self.op_count,
        )


_CTX = []


def _context():
    """One MLIR context for all parsing (loading every dialect costs ~0.1 s)."""
    from flydsl._mlir import ir

    if not _CTX:
        ctx = ir.Context()
        ctx.allow_unregistered_dialects = True
        ctx.load_all_available_dialects()
        _CTX.append(ctx)
    return _CTX[0]


def load_module(text: str) -> ModuleIR:
    from flydsl._mlir import ir

    ctx = _context()
    with ctx:
        mod = ir.Module.parse(text)
        w = _Walker(ir)
        out = ModuleIR(text=text)
        for top in mod.body.operations:
            top = top.operation
            if top.name == "gpu.module":
                for op in top.regions[0].blocks[0].operations:
                    op = op.operation
                    if op.name == "gpu.func":
                        f = w.op(op)
                        out.kernels[f.attrs["sym_name"]] = Func(f.attrs["sym_name"], f.regions[0], f.attrs, f.loc)
                    elif op.name in ("llvm.mlir.global", "memref.global"):
                        g = _as_global(w.op(op))
                        out.globals[g.attrs["sym_name"]] = g
                    elif op.name in ("llvm.func", "func.func"):
                        f = w.op(op)
                        if f.regions and f.regions[0].ops:
                            raise UnsupportedOpError("device helper functions are not supported",
                                                     op=op.name, loc=f.loc)
            elif top.name == "func.func":
                f = w.op(top)
                if f.regions and f.regions[0].ops:
                    out.host[f.attrs["sym_name"]] = Func(f.attrs["sym_name"], f.regions[0], f.attrs, f.loc)
            elif top.name == "llvm.mlir.global":
                g = w.op(top)
                out.globals[g.attrs["sym_name"]] = g
        out.n_values = w.n
    return out
