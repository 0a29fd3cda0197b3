"""Small device-side helpers for the MoE sort kernels, on the flydsl package only.

Call these only while a ``@flyc.kernel`` is being traced: each emits MLIR.

Buffer accesses (``rocdl.raw.ptr.buffer.load/store``) go through resources
whose ``num_records`` is the buffer's exact size in bytes, passed in by the
host.  A masked-off access uses byte offset ``OOB_INDEX * 4`` = 0x7FFFFFFC
(for 4-byte, 16-byte and single-byte accesses alike); every buffer these
kernels address is smaller than 2**31 - 16 bytes (``api.MAX_BUFFER_BYTES``
enforces it), so that offset is out of range: the raw buffer instruction
drops the store / returns 0 for the load.  An access with a valid mask is in
range by construction (the index arithmetic of each kernel says why).

Scans: :func:`wave_inclusive_scan` is the intra-wave step (DPP ``row_shr``
1, 2, 4, 8 inside each 16-lane row, then two ``ds_bpermute`` steps across
rows); :func:`block_scan` adds the cross-wave LDS step.  Both assume every
lane of the workgroup is active (call them in uniform control flow).
"""
from __future__ import annotations

import flydsl.compiler as flyc
import flydsl.expr as fx
from flydsl._mlir import ir
from flydsl._mlir.dialects import arith as _arith
from flydsl._mlir.dialects import fly as _fly
from flydsl._mlir.dialects import rocdl as _rocdl
from flydsl._mlir.dialects import vector as _vector
from flydsl.expr import gpu, range_constexpr
from flydsl.expr.typing import T

WAVE = 64
#: Element index used for masked-off buffer accesses (see module docstring).
OOB_INDEX = 0x1FFFFFFF
#: CDNA buffer resource flags: DATA_FORMAT=32 (7 << 12), NUM_FORMAT (4 << 15).
_CDNA_RSRC_FLAGS = (7 << 12) | (4 << 15)

DPP_ROW_SHR = {1: 0x111, 2: 0x112, 4: 0x114, 8: 0x118}


def raw(v):
    """The ``ir.Value`` behind a DSL value (or the value itself)."""
    if hasattr(v, "ir_value") and not isinstance(v, ir.Value):
        return v.ir_value()
    return v


def i32(v):
    """A DSL Int32 from an int or a value."""
    return fx.Int32(v)


def _const(ty, value):
    return _arith.ConstantOp(ty, ir.IntegerAttr.get(ty, value)).result


def buffer(tensor, num_bytes):
    """Buffer resource over ``tensor`` with ``num_records`` = ``num_bytes``
    (an Int32 runtime value, the exact byte size of the buffer)."""
    base = _fly.extract_aligned_pointer_as_index(ir.Type.parse("!llvm.ptr"), raw(tensor))
    n64 = _arith.ExtUIOp(T.i64, raw(fx.Int32(num_bytes))).result
    return _rocdl.MakeBufferRsrcOp(
        ir.Type.parse("!llvm.ptr<8>"), base, _const(T.i16, 0), n64, _const(T.i32, _CDNA_RSRC_FLAGS)
    ).result


def load(rsrc, index, valid=None):
    """int32 element ``index`` of a buffer; 0 where ``valid`` is false."""
    if valid is not None:
        index = valid.select(index, i32(OOB_INDEX))
    off = raw(fx.Int32(index) * fx.Int32(4))
    return fx.Int32(_rocdl.RawPtrBufferLoadOp(T.i32, rsrc, off, raw(i32(0))).result)


def local_tokens(num_local_tokens, n_in, topk: int):
    """M, read from the one-element int32 tensor ``num_local_tokens``, clamped to
    ``[0, T]`` with ``T = n_in / topk``: the capacity the buffers were sized for,
    so an M outside the contract cannot take an access past them."""
    tokens = fx.Int32(n_in) // i32(topk)
    m = load(buffer(num_local_tokens, i32(4)), i32(0))
    m = (m < i32(0)).select(i32(0), m)
    return (m > tokens).select(tokens, m)


def store(value, rsrc, index, valid=None):
    """Store int32 ``value`` at element ``index``; dropped where ``valid`` is false."""
    if valid is not None:
        index = valid.select(index, i32(OOB_INDEX))
    off = raw(fx.Int32(index) * fx.Int32(4))
    _rocdl.RawPtrBufferStoreOp(raw(fx.Int32(value)), rsrc, off, raw(i32(0)))


def load_v4(rsrc, index16, valid):
    """The 4 int32 at byte ``index16 * 16`` (a list of 4 values); zeros where not ``valid``."""
    off = valid.select(fx.Int32(index16) * fx.Int32(16), i32(OOB_INDEX * 4))
    vty = ir.VectorType.get([4], T.i32)
    v = _rocdl.RawPtrBufferLoadOp(vty, rsrc, raw(off), raw(i32(0))).result
    return [fx.Int32(_vector.extract(v, [], [j])) for j in range(4)]


def store_zero_v4(rsrc, index16, valid):
    """Store 16 zero bytes at byte ``index16 * 16``; dropped where not ``valid``."""
    vty = ir.VectorType.get([4], T.i32)
    zero = _arith.ConstantOp(vty, ir.DenseElementsAttr.get_splat(vty, ir.IntegerAttr.get(T.i32, 0))).result
    off = valid.select(fx.Int32(index16) * fx.Int32(16), i32(OOB_INDEX * 4))
    _rocdl.RawPtrBufferStoreOp(zero, rsrc, raw(off), raw(i32(0)))


def store_byte(value, rsrc, byte_index, valid):
    """Store the low byte of int32 ``value`` at ``byte_index``; dropped where not ``valid``."""
    off = valid.select(fx.Int32(byte_index), i32(OOB_INDEX * 4))
    b = _arith.TruncIOp(ir.IntegerType.get_signless(8), raw(fx.Int32(value))).result
    _rocdl.RawPtrBufferStoreOp(b, rsrc, raw(off), raw(i32(0)))


def store_zero_byte(rsrc, byte_index, valid):
    """Store one zero byte at ``byte_index``; dropped where not ``valid``."""
    off = valid.select(fx.Int32(byte_index), i32(OOB_INDEX * 4))
    _rocdl.RawPtrBufferStoreOp(_const(ir.IntegerType.get_signless(8), 0), rsrc, raw(off), raw(i32(0)))


def bytes_of(words):
    """The 16 unsigned bytes (little-endian) of 4 int32 words, as Int32 values."""
    out = []
    for w in words:
        for j in range(4):
            out.append((w >> i32(8 * j)) & i32(0xFF))
    return out


def lds_load(ptr, index):
    """int32 LDS element ``index`` of the array at ``ptr``."""
    return fx.Int32(fx.ptr_load(ptr + fx.Int64(index)))


def lds_store(ptr, index, value):
    fx.ptr_store(fx.Int32(value), ptr + fx.Int64(index))


def wave_inclusive_scan(v, lane):
    """Inclusive prefix sum of int32 ``v`` over the 64 lanes of each wave."""
    v = fx.Int32(v)
    row_lane = lane & i32(15)
    for shift, ctrl in DPP_ROW_SHR.items():
        moved = fx.Int32(_rocdl.update_dpp(T.i32, raw(i32(0)), raw(v), ctrl, 0xF, 0xF, True))
        v = (row_lane >= i32(shift)).select(v + moved, v)
    # Row r adds the end of row r-1 (lanes >= 16), then of rows r-2.. (lanes >= 32).
    for first, back in ((16, 1), (32, 17)):
        has = lane >= i32(first)
        src = has.select((lane & i32(0x30)) - i32(back), lane)
        moved = fx.Int32(_rocdl.ds_bpermute(T.i32, raw(src * i32(4)), raw(v)))
        v = has.select(v + moved, v)
    return v


@flyc.jit
def block_scan(values, lane, wave, scratch, num_waves):
    """Block-wide exclusive prefix sums and totals of several int32 values.

    ``values`` is a list of K per-thread values; ``scratch`` an LDS int32 array
    of at least ``num_waves * K`` elements.  Returns ``(exclusive, totals)``,
    two lists of K values (totals are uniform across the workgroup).  Contains
    two barriers; the second makes ``scratch`` free for the next call.
    """
    k = len(values)
    values = [fx.Int32(v) for v in values]
    incl = [wave_inclusive_scan(v, lane) for v in values]
    if lane == i32(WAVE - 1):
        for j in range_constexpr(k):
            lds_store(scratch, wave * i32(k) + i32(j), incl[j])
    gpu.barrier()
    excl, totals = [], []
    for j in range_constexpr(k):
        tot = i32(0)
        before = i32(0)
        for w in range_constexpr(num_waves):
            s = lds_load(scratch, i32(w * k + j))
            tot = tot + s
            before = (wave > i32(w)).select(before + s, before)
        excl.append(before + incl[j] - values[j])
        totals.append(tot)
    gpu.barrier()
    return excl, totals


def round_up(x, unit: int):
    """``x`` rounded up to a multiple of the constant ``unit``."""
    return (fx.Int32(x) + i32(unit - 1)) // i32(unit) * i32(unit)


@flyc.jit
def zero_moe_buf(rsrc, gid, nthreads, num_bytes, byte_tail: bool):
    """Grid-stride zero of ``num_bytes`` bytes: 16-byte vector stores, then the
    tail (4-byte stores; single bytes when ``byte_tail``).  ``gid`` is this
    thread's index among ``nthreads`` zeroing threads."""
    n16 = num_bytes // i32(16)
    steps = (n16 + nthreads - i32(1)) // nthreads
    for s in range(steps):
        idx = fx.Int32(s) * nthreads + gid
        store_zero_v4(rsrc, idx, idx < n16)
    n4 = num_bytes // i32(4)
    w = n16 * i32(4) + gid
    store(i32(0), rsrc, w, (gid < i32(4)) & (w < n4))
    if byte_tail:
        b = n4 * i32(4) + gid
        store_zero_byte(rsrc, b, (gid < i32(4)) & (b < num_bytes))
