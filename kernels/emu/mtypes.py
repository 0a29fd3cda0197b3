"""MLIR types as small Python values, parsed from the type's text.

``parse_type(text) -> Ty``.  Kinds: ``int`` (width; ``index`` is int 64 with
``is_index``), ``float`` (name f16/bf16/f32/f64), ``ptr`` (addrspace),
``vector`` (shape, elem), ``struct`` (fields), ``array`` (count, elem),
``memref`` (shape with -1 for a dynamic size, elem, addrspace: 3 for
``#gpu.address_space<workgroup>``, strides and offset in elements, None
where dynamic; row-major strides and offset 0 without a layout),
``token`` (gpu async token), ``other`` (kept as text; any op using it fails
with a clear error).  ``np_dtype(ty)`` is the NumPy dtype holding one element
(bf16 is held as float32 rounded to bf16), ``byte_size(ty)`` the in-memory size.
Integers wider than 64 bits (``i128``) have no NumPy dtype: ``held_words(ty)``
says how many little-endian 32-bit words hold one (:mod:`.codegen.wide`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .amdgpu import OFFSET_SPACES


@dataclass(frozen=True)
class Ty:
    kind: str
    width: int = 0
    name: str = ""
    addrspace: int = 0
    shape: tuple = ()
    elem: "Ty | None" = None
    fields: tuple = ()
    packed: bool = False
    count: int = 0
    is_index: bool = False
    strides: tuple = ()       # memref: element strides per dimension (None: dynamic)
    offset: "int | None" = 0  # memref: element offset of the layout (None: dynamic)

    def __str__(self):
        return self.name or self.kind


_INT_DT = {1: np.bool_, 8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}
#: integer width -> number of little-endian 32-bit words a value of it is held as
_WORD_HELD_INTS = {128: 4}
_UINT_DT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}
_FLOAT_DT = {"f16": np.float16, "bf16": np.float32, "f32": np.float32, "f64": np.float64}
_FLOAT_W = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}


class _P:
    def __init__(self, s):
        self.s = s
        self.i = 0

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t\n":
            self.i += 1

    def peek(self, t):
        self.ws()
        return self.s.startswith(t, self.i)

    def eat(self, t):
        self.ws()
        if not self.s.startswith(t, self.i):
            raise ValueError(f"expected {t!r} at {self.i} in {self.s!r}")
        self.i += len(t)

    def ident(self):
        self.ws()
        m = re.compile(r"[!A-Za-z0-9_.]+").match(self.s, self.i)
        if not m:
            raise ValueError(f"bad type text {self.s!r} at {self.i}")
        self.i = m.end()
        return m.group(0)

    def typ(self) -> Ty:
        self.ws()
        start = self.i
        if self.peek("vector<"):
            self.eat("vector<")
            m = re.compile(r"((?:\d+x)+)").match(self.s, self.i)
            dims = tuple(int(d) for d in m.group(1).split("x") if d)
            self.i = m.end()
            el = self.typ()
            self.eat(">")
            return Ty("vector", shape=dims, elem=el, name=self.s[start:self.i].strip(), width=el.width)
        if self.peek("memref<"):
            return self.memref(start)
        if self.peek("!llvm.ptr"):
            self.eat("!llvm.ptr")
            a = 0
            if self.peek("<"):
                self.eat("<")
                m = re.compile(r"\d+").match(self.s, self.i)
                a = int(m.group(0))
                self.i = m.end()
                self.eat(">")
            return Ty("ptr", addrspace=a, width=64, name=self.s[start:self.i].strip())
        if self.peek("!llvm.struct<") or self.peek("struct<"):
            if self.peek("!llvm."):
                self.eat("!llvm.")
            self.eat("struct<")
            packed = False
            if self.peek("packed"):
                self.eat("packed")
                packed = True
            self.eat("(")
            fields = []
            while not self.peek(")"):
                fields.append(self.typ())
                if self.peek(","):
                    self.eat(",")
            self.eat(")")
            self.eat(">")
            return Ty("struct", fields=tuple(fields), packed=packed, name=self.s[start:self.i].strip())
        if self.peek("!llvm.array<") or self.peek("array<"):
            if self.peek("!llvm."):
                self.eat("!llvm.")
            self.eat("array<")
            m = re.compile(r"\s*(\d+)\s*x").match(self.s, self.i)
            n = int(m.group(1))
            self.i = m.end()
            el = self.typ()
            self.eat(">")
            return Ty("array", count=n, elem=el, name=self.s[start:self.i].strip())
        word = self.ident()
        if word == "index":
            return Ty("int", width=64, is_index=True, name="index")
        if re.fullmatch(r"i\d+", word):
            return Ty("int", width=int(word[1:]), name=word)
        if word in _FLOAT_DT:
            return Ty("float", width=_FLOAT_W[word], name=word)
        if word == "!gpu.async.token":
            return Ty("token", name=word)
        # unknown type: swallow a balanced <...> tail
        if self.peek("<"):
            self._skip_to_close(self.i)
        return Ty("other", name=self.s[start:self.i].strip())


    def memref(self, start) -> Ty:
        """``memref<4x?xi32, strided<[?, 1], offset: ?>, #gpu.address_space<workgroup>>`` and its shorter forms."""
        self.eat("memref<")
        m = re.compile(r"((?:(?:\d+|\?)x)*)").match(self.s, self.i)
        dims = tuple(-1 if d == "?" else int(d) for d in m.group(1).split("x") if d)
        self.i = m.end()
        el = self.typ()
        strides, offset, space = None, 0, 0
        while self.peek(","):
            self.eat(",")
            if self.peek("strided<"):
                self.eat("strided<")
                end = self.s.index("]", self.i)
                strides = tuple(None if v.strip() == "?" else int(v) for v in
                                self.s[self.s.index("[", self.i) + 1:end].split(",") if v.strip())
                self.i = end + 1
                if self.peek(","):
                    self.eat(",")
                    self.eat("offset:")
                    m = re.compile(r"\s*(-?\d+|\?)").match(self.s, self.i)
                    offset = None if m.group(1) == "?" else int(m.group(1))
                    self.i = m.end()
                self.eat(">")
            elif self.peek("#gpu.address_space<"):
                self.eat("#gpu.address_space<")
                space = _MEMORY_SPACES.get(self.ident(), -1)
                self.eat(">")
            else:
                m = re.compile(r"\s*(\d+)\s*(?=[,>])").match(self.s, self.i)
                if not m:                                   # an affine map or another attribute
                    return Ty("other", name=self._skip_to_close(start))
                space = int(m.group(1))
                self.i = m.end()
        self.eat(">")
        if strides is None:
            strides = row_major_strides(dims)
        return Ty("memref", shape=dims, elem=el, addrspace=space, strides=strides, offset=offset,
                  name=self.s[start:self.i].strip(), width=el.width)

    def _skip_to_close(self, start) -> str:
        """Skip to the ``>`` that closes the type begun at ``start``; its text."""
        depth = 0
        i = start
        while i < len(self.s):
            c = self.s[i]
            i += 1
            if c == "-" and self.s.startswith(">", i):     # the arrow of an affine map
                i += 1
            elif c == "<":
                depth += 1
            elif c == ">":
                depth -= 1
                if depth == 0:
                    break
        self.i = i
        return self.s[start:i].strip()


#: ``#gpu.address_space<...>`` names -> AMDGPU address spaces
_MEMORY_SPACES = {"global": 1, "workgroup": 3, "private": 5}


def row_major_strides(shape) -> tuple:
    """Element strides of a row-major (identity layout) shape; None after a dynamic size."""
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc = None if acc is None or d < 0 else acc * d
    return tuple(reversed(strides))


@lru_cache(maxsize=None)
def parse_type(text: str) -> Ty:
    p = _P(text)
    t = p.typ()
    return t


def np_dtype(ty: Ty):
    """NumPy dtype holding one scalar element of ``ty`` (vectors: of their element)."""
    if ty.kind == "vector":
        return np_dtype(ty.elem)
    if ty.kind == "int":
        if ty.width in _WORD_HELD_INTS:
            raise TypeError(f"i{ty.width} has no NumPy dtype: it is held as {_WORD_HELD_INTS[ty.width]} 32-bit "
                            f"words, which only loads, stores and bitcasts take")
        if ty.width not in _INT_DT:
            raise TypeError(f"unsupported integer width i{ty.width}")
        return _INT_DT[ty.width]
    if ty.kind == "float":
        return _FLOAT_DT[ty.name]
    if ty.kind == "ptr":
        return np.int64
    raise TypeError(f"no NumPy dtype for type {ty}")


def held_words(ty: Ty) -> int:
    """How many little-endian 32-bit words hold one scalar integer of ``ty`` (``i128``: 4);
    0 for every type NumPy holds directly."""
    return _WORD_HELD_INTS.get(ty.width, 0) if ty.kind == "int" else 0


def udtype(ty: Ty):
    w = ty.elem.width if ty.kind == "vector" else ty.width
    return _UINT_DT[w]


def byte_size(ty: Ty) -> int:
    if ty.kind == "int":
        return max(1, (ty.width + 7) // 8)
    if ty.kind == "float":
        return ty.width // 8
    if ty.kind == "ptr":
        return 4 if ty.addrspace in OFFSET_SPACES else 8
    if ty.kind == "vector":
        n = 1
        for d in ty.shape:
            n *= d
        return n * byte_size(ty.elem)
    if ty.kind == "array":
        return ty.count * byte_size(ty.elem)
    if ty.kind == "memref":
        if any(d < 0 for d in ty.shape):
            raise TypeError(f"no static size for type {ty}")
        n = 1
        for d in ty.shape:
            n *= d
        return n * byte_size(ty.elem)
    if ty.kind == "struct":
        off = 0
        for f in ty.fields:
            if not ty.packed:
                a = align_of(f)
                off = (off + a - 1) // a * a
            off += byte_size(f)
        if not ty.packed:
            a = align_of(ty)
            off = (off + a - 1) // a * a
        return off
    raise TypeError(f"no size for type {ty}")


def align_of(ty: Ty) -> int:
    if ty.kind in ("int", "float", "ptr"):
        return byte_size(ty)
    if ty.kind == "vector":
        return byte_size(ty)
    if ty.kind == "array":
        return align_of(ty.elem)
    if ty.kind == "struct":
        return 1 if ty.packed else max([align_of(f) for f in ty.fields] or [1])
    return 1


def field_offset(ty: Ty, idx: int) -> int:
    """Byte offset of field ``idx`` of a struct type."""
    off = 0
    for i, f in enumerate(ty.fields):
        if not ty.packed:
            a = align_of(f)
            off = (off + a - 1) // a * a
        if i == idx:
            return off
        off += byte_size(f)
    raise IndexError(idx)
