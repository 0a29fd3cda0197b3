"""16-byte integers (``i128``): how a value is held and which ops take one.

An ``i128`` value is held as its four 32-bit words, least significant first
(its bytes in memory order), as a trailing axis of ``np.uint32``: shape
``(4,)`` when uniform, ``(L, 4)`` per lane -- the layout of a
``vector<4xi32>``.  FlyDSL's 128-bit copy atoms load an ``i128`` and bitcast
it to ``vector<8xbf16>`` / ``vector<8xf16>`` / ``vector<4xi32>`` /
``vector<4xf32>`` (and the reverse for stores), so the ops that take one are
exactly :data:`WIDE_INT_OPS`: global, flat and LDS loads and stores, buffer
loads and stores (range checked per dword like any 16-byte access) and
bitcasts.  Any other op with an ``i128`` operand or result -- arithmetic,
shifts, selects, constants -- is refused while the function is generated
(:func:`refuse_unless_taken`), naming the op, so it never runs on words it
would misread.
"""
from __future__ import annotations

import numpy as np

from ..mtypes import held_words, np_dtype

#: The ops that take ``i128`` operands or results (held as four 32-bit words).
WIDE_INT_OPS = frozenset({
    "llvm.load", "llvm.store", "rocdl.raw.ptr.buffer.load", "rocdl.raw.ptr.buffer.store",
    "llvm.bitcast", "arith.bitcast",
})


def is_wide(t) -> bool:
    """Whether ``t`` is, or is a vector of, an integer held as 32-bit words."""
    return held_words(t.elem if t.kind == "vector" else t) > 0


def held(t):
    """``(NumPy dtype, trailing shape)`` a value of the scalar or vector type ``t`` is held as:
    ``(np.uint32, (4,))`` for ``i128``; TypeError for a vector of ``i128``."""
    if t.kind == "vector":
        if is_wide(t):
            raise TypeError(f"{t}: vectors of {t.elem} are not supported")
        return np_dtype(t), tuple(t.shape)
    words = held_words(t)
    if words:
        return np.dtype(np.uint32).type, (words,)
    return np_dtype(t), ()


def refuse_unless_taken(g, op) -> None:
    """Refuse ``op`` (UnsupportedOpError) when it has an ``i128`` operand or result and is
    not one of :data:`WIDE_INT_OPS`."""
    if op.name in WIDE_INT_OPS:
        return
    for t in list(op.operand_types) + list(op.result_types):
        if is_wide(t):
            g.unsupported(op, f"{t} operands and results are held as 32-bit words, which only "
                              f"loads, stores and bitcasts take")
