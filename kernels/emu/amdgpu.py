"""AMD facts the interpreter needs (GCN/CDNA ISA), on lane arrays.

* :class:`AddressSpace` -- the AMDGPU address spaces the lowered IR uses, and
  :data:`LDS_APERTURE`, where the interpreter's flat addresses of LDS start.
* :class:`BufferResource` -- a buffer descriptor (``rocdl.make.buffer.rsrc``).

The lane functions take per-lane NumPy arrays take per-lane NumPy arrays of length ``L`` (a multiple of the
wave size ``W``; extra trailing dims for vector values) plus the active-lane
mask ``m`` (bool, length ``L``) and work wave by wave (``reshape(-1, W)``).

* :func:`dpp` -- ``v_mov_b32_dpp`` / ``llvm.amdgcn.update.dpp``: quad_perm,
  row_shl/shr/ror 1-15, wave_shl1/rol1/shr1/ror1, row_mirror,
  row_half_mirror, row_bcast15/31.  A lane whose row (lane/16) is off in
  ``row_mask`` or whose bank ((lane%16)/4) is off in ``bank_mask`` keeps
  ``old``.  A written lane whose source lane is invalid (outside the row /
  wave) or disabled in EXEC gets 0 when ``bound_ctrl`` is set, else ``old``.
* :func:`bpermute` -- ``ds_bpermute_b32``: lane i reads lane
  ``(addr[i] >> 2) mod W`` (address bits [7:2] on wave64); a disabled source
  lane reads as 0.
* :func:`shuffle` -- ``gpu.shuffle`` exactly as MLIR's gpu-to-rocdl lowering
  executes it on the GPU: ``seg_end = (lane + width) & -width``; source lane
  per mode (xor: lane^off, up: lane-off, down: lane+off, idx: off);
  ``valid = src < seg_end`` (signed); an invalid lane reads itself; the move
  is a ``ds_bpermute`` (so ``up`` below the segment start wraps inside the
  wave and reports valid, as the hardware does).
* :func:`ballot`, :func:`readfirstlane`, :func:`readlane`.
* :func:`mbcnt_lo` / :func:`mbcnt_hi` -- ``v_mbcnt_lo/hi_u32_b32``: ``base`` plus
  the set bits of ``mask`` below the lane (lanes 0-31 / 32-63 of a wave64).
* :func:`buffer_in_range` -- raw buffer range check (stride 0: each element
  of size s at byte offset o = voffset + inst_offset is in range iff
  o + s <= num_records, unsigned and without wrap-around (a component at
  voffset + 4k past 2^32 is out of range), checked per element -- per dword for
  dword-sized components; ``soffset`` is not range checked on GFX9).
  stride != 0 (raw op, index 0): in range iff num_records > 0.
"""
from __future__ import annotations

import enum
from functools import lru_cache
from typing import NamedTuple, Union

import numpy as np


class AddressSpace(enum.IntEnum):
    """AMDGPU address spaces (LLVM AMDGPUUsage, "Address Spaces")."""

    FLAT = 0             # generic: global or LDS, by address
    GLOBAL = 1
    LDS = 3              # "local": shared memory of a workgroup
    PRIVATE = 5          # scratch
    BUFFER_FAT = 7       # buffer fat pointer
    BUFFER_RESOURCE = 8  # a buffer descriptor (V#)


#: Flat (address space 0) addresses at or above this are LDS offsets in the
#: interpreter's memory model (host addresses of global memory stay below it).
LDS_APERTURE = np.int64(1 << 60)
#: Address spaces whose memory is the launch's global memory.
GLOBAL_SPACES = (AddressSpace.FLAT, AddressSpace.GLOBAL, AddressSpace.BUFFER_FAT, AddressSpace.BUFFER_RESOURCE)
#: Address spaces whose pointers are 32-bit offsets.
OFFSET_SPACES = (AddressSpace.LDS, AddressSpace.PRIVATE)

LaneInt = Union[int, np.integer, np.ndarray]


class BufferResource(NamedTuple):
    """A raw buffer descriptor: ``base`` and ``num_records`` are scalars or per lane
    (workgroups batched, or a descriptor built from per-lane values); ``stride``
    (14 bits) and ``flags`` (the descriptor's last dword) are uniform ints."""

    base: LaneInt
    stride: int
    num_records: LaneInt
    flags: int


@lru_cache(maxsize=None)
def dpp_source_table(ctrl: int, W: int):
    """Source lane per lane of a wave for DPP control ``ctrl``; -1 = invalid."""
    lane = np.arange(W)
    row0 = lane & ~15
    li = lane & 15
    src = np.full(W, -1, dtype=np.int64)
    if 0 <= ctrl <= 0xFF:
        sel = [(ctrl >> (2 * k)) & 3 for k in range(4)]
        src = (lane & ~3) + np.array(sel)[lane & 3]
    elif 0x101 <= ctrl <= 0x10F:        # row_shl
        n = ctrl & 0xF
        s = li + n
        src = np.where(s < 16, row0 + s, -1)
    elif 0x111 <= ctrl <= 0x11F:        # row_shr
        n = ctrl & 0xF
        s = li - n
        src = np.where(s >= 0, row0 + s, -1)
    elif 0x121 <= ctrl <= 0x12F:        # row_ror
        n = ctrl & 0xF
        src = row0 + ((li - n) & 15)
    elif ctrl == 0x130:                 # wave_shl1
        src = np.where(lane + 1 < W, lane + 1, -1)
    elif ctrl == 0x134:                 # wave_rol1
        src = (lane + 1) % W
    elif ctrl == 0x138:                 # wave_shr1
        src = np.where(lane >= 1, lane - 1, -1)
    elif ctrl == 0x13C:                 # wave_ror1
        src = (lane - 1) % W
    elif ctrl == 0x140:                 # row_mirror
        src = row0 + (15 - li)
    elif ctrl == 0x141:                 # row_half_mirror
        src = (lane & ~7) + (7 - (lane & 7))
    elif ctrl == 0x142:                 # row_bcast15
        src = np.where(lane >= 16, row0 - 1, -1)
    elif ctrl == 0x143:                 # row_bcast31
        src = np.where(lane >= 32, 31, -1)
    else:
        raise ValueError(f"unsupported DPP control 0x{ctrl:x}")
    return src.astype(np.int64)


def _waves(x, L, W):
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[0] != L:
        x = np.broadcast_to(x, (L,) + x.shape)
    return x.reshape((L // W, W) + x.shape[1:])


@lru_cache(maxsize=None)
def _dpp_plan(ctrl, row_mask, bank_mask, bound_ctrl, W):
    """(source index, take-source, write-zero, keep-old) per lane of a wave, all lanes active."""
    tbl = dpp_source_table(int(ctrl), W)
    valid = tbl >= 0
    lane = np.arange(W)
    we = (((row_mask >> (lane // 16)) & 1) != 0) & (((bank_mask >> ((lane % 16) // 4)) & 1) != 0)
    t = np.where(valid, tbl, 0)
    take = we & valid
    zero = we & ~valid & bool(bound_ctrl)
    keep = ~take & ~zero
    return t, take, zero, keep


def dpp(old, src, ctrl, row_mask, bank_mask, bound_ctrl, m, W):
    L = m.shape[0]
    s = _waves(src, L, W)
    if m.all() and s.ndim == 2:
        t, take, zero, keep = _dpp_plan(int(ctrl), int(row_mask), int(bank_mask), bool(bound_ctrl), W)
        r = s[:, t]
        if zero.any():
            r[:, zero] = 0
        if keep.any():
            o = np.asarray(old)
            r[:, keep] = o if o.ndim == 0 else o.reshape(-1, W)[:, keep]
        return r.reshape(L).astype(s.dtype, copy=False)
    o = _waves(old, L, W)
    mw = m.reshape(-1, W)
    tbl = dpp_source_table(int(ctrl), W)
    valid = tbl >= 0
    t = np.where(valid, tbl, 0)
    sv = s[:, t]
    sact = mw[:, t] & valid[None, :]
    lane = np.arange(W)
    we = (((row_mask >> (lane // 16)) & 1) != 0) & (((bank_mask >> ((lane % 16) // 4)) & 1) != 0)
    we = np.broadcast_to(we[None, :], mw.shape)
    extra = (1,) * (s.ndim - 2)
    use_src = (we & sact).reshape(mw.shape + extra)
    zero = (we & ~sact & bool(bound_ctrl)).reshape(mw.shape + extra)
    r = np.where(use_src, sv, np.where(zero, np.zeros((), s.dtype), o))
    return r.reshape((L,) + r.shape[2:]).astype(s.dtype)


def bpermute(addr, src, m, W):
    """``ds_bpermute``: each lane reads ``src`` of lane ``(addr >> 2) mod W`` of its own wave,
    0 where that lane is inactive."""
    L = m.shape[0]
    s = _waves(src, L, W)
    s = s.reshape((L,) + s.shape[2:])
    flat = ((np.asarray(addr) >> 2) & (W - 1)) + _wave_starts(L, W)
    v = s[flat]
    if m.all():
        return v
    act = m[flat]
    return np.where(act.reshape(act.shape + (1,) * (s.ndim - 1)), v, np.zeros((), s.dtype))


@lru_cache(maxsize=None)
def _wave_starts(L, W):
    """The first lane of each lane's wave (int64, read-only)."""
    starts = np.arange(L, dtype=np.int64) // W * W
    starts.flags.writeable = False
    return starts


@lru_cache(maxsize=None)
def _shuffle_plan(offset, width, mode, W):
    """(source lane, valid) per lane of a wave for one ``gpu.shuffle`` whose offset and
    width are the same in every lane (the arithmetic of :func:`shuffle`, done once)."""
    lane = np.arange(W, dtype=np.int64)
    seg_end = ((lane + width) & -width).astype(np.int32).astype(np.int64)
    dst = {"xor": lane ^ offset, "up": lane - offset, "down": lane + offset, "idx": offset + 0 * lane}.get(mode)
    if dst is None:
        raise ValueError(f"bad shuffle mode {mode}")
    dst = dst.astype(np.int32).astype(np.int64)
    valid = dst < seg_end
    sel = np.where(valid, dst, lane)
    return ((sel << 2) >> 2) & (W - 1), valid


def shuffle(val, offset, width, mode, m, W):
    L = m.shape[0]
    if np.ndim(offset) == 0 and np.ndim(width) == 0:
        src, valid = _shuffle_plan(int(offset), int(width), mode, W)
        s = _waves(val, L, W)
        act = m.reshape(-1, W)[:, src]
        extra = (1,) * (s.ndim - 2)
        r = np.where(act.reshape(act.shape + extra), s[:, src], np.zeros((), s.dtype))
        return r.reshape((L,) + r.shape[2:]), np.tile(valid, L // W)
    lane = np.broadcast_to(np.arange(W, dtype=np.int64)[None, :], (L // W, W))
    off = _waves(np.asarray(offset).astype(np.int64), L, W)
    wid = _waves(np.asarray(width).astype(np.int64), L, W)
    seg_end = ((lane + wid) & -wid).astype(np.int32).astype(np.int64)
    if mode == "xor":
        dst = lane ^ off
    elif mode == "up":
        dst = lane - off
    elif mode == "down":
        dst = lane + off
    elif mode == "idx":
        dst = off + 0 * lane
    else:
        raise ValueError(f"bad shuffle mode {mode}")
    dst = dst.astype(np.int32).astype(np.int64)
    valid = dst < seg_end
    sel = np.where(valid, dst, lane)
    res = bpermute((sel << 2).reshape(L), val, m, W)
    return res, valid.reshape(L)


def ballot(pred, m, W, out_dtype):
    L = m.shape[0]
    p = _waves(pred, L, W).astype(bool) & m.reshape(-1, W)
    weights = (np.uint64(1) << np.arange(W, dtype=np.uint64))
    bits = (p.astype(np.uint64) * weights[None, :]).sum(axis=1, dtype=np.uint64)
    out = np.repeat(bits, W).astype(np.uint64)
    return out.astype(np.dtype(out_dtype).newbyteorder("=")) if np.dtype(out_dtype).itemsize == 8 else \
        (out & np.uint64(0xFFFFFFFF)).astype(np.uint32).astype(out_dtype)


def readlane_idx(lanes, val, W):
    """Broadcast ``val`` of lane ``lanes[w]`` (wave-relative) to all lanes of wave w."""
    L = lanes.shape[0] * W
    v = _waves(val, L, W)
    r = v[np.arange(lanes.shape[0]), lanes]
    return np.repeat(r, W, axis=0)


def readfirstlane(val, m, W):
    mw = m.reshape(-1, W)
    first = np.where(mw.any(axis=1), mw.argmax(axis=1), 0)
    return readlane_idx(first, val, W)


def readlane(val, lane, m, W):
    L = m.shape[0]
    ln = _waves(np.asarray(lane).astype(np.int64), L, W)[:, 0] & (W - 1)
    return readlane_idx(ln, val, W)


def _mbcnt(mask, base, lanes_before):
    """``base`` + set bits of the 32-bit ``mask`` among the first ``lanes_before`` bits."""
    mk = int(np.asarray(mask).reshape(-1)[0]) & 0xFFFFFFFF
    if mk == 0xFFFFFFFF:
        return (lanes_before + base).astype(np.int32)
    bits = np.array([(mk >> i) & 1 for i in range(32)], np.int64)
    cum = np.concatenate([[0], np.cumsum(bits)])
    return (cum[lanes_before] + base).astype(np.int32)


def mbcnt_lo(mask, base, lane):
    """``v_mbcnt_lo_u32_b32``: ``base`` + bits of ``mask`` below ``lane`` (lanes 0-31 count)."""
    return _mbcnt(mask, base, np.minimum(lane, 32))


def mbcnt_hi(mask, base, lane):
    """``v_mbcnt_hi_u32_b32``: ``base`` + bits of ``mask`` below ``lane - 32`` (lanes 32-63 count)."""
    return _mbcnt(mask, base, np.clip(lane - 32, 0, 32))


def buffer_in_range(off, size, num_records, stride):
    """Element-wise range check of a raw buffer access; ``off`` = voffset+inst_offset (bytes)."""
    nr = int(num_records) & 0xFFFFFFFF if np.ndim(num_records) == 0 else \
        np.asarray(num_records).astype(np.int64) & 0xFFFFFFFF
    if stride != 0:
        return np.broadcast_to(np.asarray(nr) > 0, np.shape(off))
    o = np.asarray(off, dtype=np.int64)      # voffset (u32) + component offset: no wrap (saturating)
    return o <= nr - size
