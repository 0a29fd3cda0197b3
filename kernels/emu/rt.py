"""Runtime helpers called by generated kernel code (memory ops, cross-lane ops, control).

Contract: every helper takes the workgroup context ``X`` (see
:class:`kernels.emu.simt.WG`) and the active-lane mask ``m`` where lanes
matter; values are NumPy scalars (uniform) or lane arrays of length ``X.L``.
Inactive lanes never touch memory; a load returns 0 in inactive lanes.
"""
from __future__ import annotations

import numpy as np

from . import amdgpu, semantics
from .errors import UnsupportedOpError
from .memory import LDS_APERTURE, MANY_WAVES


def lanes(X, m):
    if X.all_active(m):
        return X.lane_ids
    c = X.mcache
    if c[0] is m:
        return c[1]
    idx = np.flatnonzero(m)
    X.mcache = (m, idx, None)
    return idx


def waves_of(X, m):
    """Sorted unique wave ids of the active lanes (cached per mask object)."""
    c = X.mcache
    if c[0] is m and c[2] is not None:
        return c[2]
    idx = lanes(X, m)
    w = tuple(int(x) for x in np.unique(idx // X.W))
    X.mcache = (m, idx, w)
    return w


def pick(X, x, idx, rank):
    """Values of active lanes ``idx`` of ``x`` (uniform or per-lane), shape (n,)+elem."""
    x = np.asarray(x)
    if x.ndim == rank:           # uniform
        return np.broadcast_to(x, (idx.shape[0],) + x.shape)
    return x[idx]


def to_bytes(vals, nbytes):
    v = np.ascontiguousarray(vals)
    return v.view(np.uint8).reshape(v.shape[0], nbytes)


def from_bytes(raw, dt, shape):
    v = np.ascontiguousarray(raw).view(dt)
    return v.reshape((raw.shape[0],) + shape)


def wgs(X, idx):
    """Workgroup id of each accessing lane (a scalar when one workgroup runs)."""
    return X.wg if X.nb == 1 else X.wg_lane[idx]


def who(X, idx):
    """Keyword arguments naming the accessing lanes ``idx`` for the global race check:
    workgroup, wave inside it and the workgroup's barrier epoch (scalars or per lane)."""
    if not X.sanitize:
        return {"wg": wgs(X, idx), "lanes": idx}
    wave = (idx % X.Lp) // X.W
    if X.nb == 1:
        return {"wg": X.wg, "wave": wave, "ep": int(X.lds.epoch[0]), "lanes": idx}
    return {"wg": X.wg_lane[idx], "wave": wave, "ep": X.lds.epoch[idx // X.Lp], "lanes": idx}


def who_uniform(X, m):
    """:func:`who` for a uniform access by the active lanes ``m`` of one workgroup."""
    if not X.sanitize:
        return {"wg": X.wg}
    waves = waves_of(X, m)
    return {"wg": X.wg, "wave": waves[0] if len(waves) == 1 else MANY_WAVES, "ep": int(X.lds.epoch[0])}


def _mem_read(X, space, addr, nbytes, idx, lo, hi, info):
    if space == 3:
        return X.lds.read(addr, nbytes, idx, lo, hi, info)
    if space in (1, 0, 7, 8):
        if space == 0:
            is_lds = addr >= LDS_APERTURE
            if is_lds.any():
                out = np.empty((addr.shape[0], nbytes), np.uint8)
                out[is_lds] = X.lds.read(addr[is_lds] - LDS_APERTURE, nbytes, idx[is_lds], 0, X.lds.nbytes, info)
                g = ~is_lds
                if g.any():
                    out[g] = X.gmem.read(addr[g], nbytes, info, **who(X, idx[g]))
                return out
        return X.gmem.read(addr, nbytes, info, **who(X, idx))
    raise UnsupportedOpError(f"load from address space {space}", op=info[0], loc=info[1])


def _mem_write(X, space, addr, raw, idx, lo, hi, info):
    if space == 3:
        return X.lds.write(addr, raw, idx, lo, hi, info, X.store_order(idx))
    if space == 0:
        is_lds = addr >= LDS_APERTURE
        if is_lds.any():
            X.lds.write(addr[is_lds] - LDS_APERTURE, raw[is_lds], idx[is_lds], 0, X.lds.nbytes, info)
            g = ~is_lds
            if g.any():
                X.gmem.write(addr[g], raw[g], info, **who(X, idx[g]))
            return
    if space in (0, 1, 7, 8):
        return X.gmem.write(addr, raw, info, **who(X, idx))
    raise UnsupportedOpError(f"store to address space {space}", op=info[0], loc=info[1])


def load(X, ptr, m, space, mdt, shape, nbytes, conv, lo, hi, info):
    """``llvm.load``: returns (L,)+shape array of the memory dtype converted by ``conv``.

    A uniform (scalar) address gives a uniform (scalar) result."""
    if np.ndim(ptr) == 0 and X.nb == 1 and (space == 3 or space == 1 or (space == 0 and ptr < LDS_APERTURE)):
        a = int(ptr)
        if space == 3:
            raw = X.lds.read_uniform(a, nbytes, waves_of(X, m), lo, hi, info)
        else:
            raw = X.gmem.read_uniform(a, nbytes, info, **who_uniform(X, m))
        v = raw.view(mdt).reshape(shape)
        if conv is not None:
            v = conv(v)
        return v if shape else v[()]
    idx = lanes(X, m)
    addr = pick(X, ptr, idx, 0).astype(np.int64)
    raw = _mem_read(X, space, addr, nbytes, idx, lo, hi, info)
    vals = from_bytes(raw, mdt, shape)
    if conv is not None:
        vals = conv(vals)
    if idx is X.lane_ids:
        return vals
    out = np.zeros((X.L,) + shape, vals.dtype)
    out[idx] = vals
    return out


def store(X, val, ptr, m, space, mdt, shape, nbytes, conv, lo, hi, info):
    if np.ndim(ptr) == 0 and np.ndim(val) == len(shape) and X.rng is None and X.nb == 1 and \
            (space == 3 or space == 1 or (space == 0 and ptr < LDS_APERTURE)):
        v = val if conv is None else conv(val)
        raw = np.ascontiguousarray(np.asarray(v, dtype=mdt)).reshape(-1).view(np.uint8)
        if space == 3:
            X.lds.write_uniform(int(ptr), raw, waves_of(X, m), lo, hi, info)
        else:
            X.gmem.write_uniform(int(ptr), raw, info, **who_uniform(X, m))
        return
    idx = lanes(X, m)
    addr = pick(X, ptr, idx, 0).astype(np.int64)
    v = pick(X, val, idx, len(shape))
    if conv is not None:
        v = conv(v)
    raw = to_bytes(np.asarray(v, dtype=mdt), nbytes)
    _mem_write(X, space, addr, raw, idx, lo, hi, info)


# ------------------------------------------------------------------ buffers
def make_rsrc(base, stride, nrec, flags):
    """Buffer descriptor as (base, stride, num_records, flags); base and num_records may be
    per-lane (workgroups batched, or a descriptor built from per-lane values)."""
    st = np.asarray(stride).reshape(-1)
    if (st != st[0]).any():
        raise UnsupportedOpError("buffer resource with a per-lane stride", op="rocdl.make.buffer.rsrc")
    nr = np.asarray(nrec)
    if nr.ndim:
        nr = nr.astype(np.int64) & 0xFFFFFFFF
        if (nr == nr[0]).all():
            nr = int(nr[0])
    else:
        nr = int(nr) & 0xFFFFFFFF
    b = np.asarray(base)
    if b.ndim and (b == b[0]).all():
        b = b[0]
    return (np.int64(b) if np.ndim(b) == 0 else b.astype(np.int64), int(st[0]) & 0x3FFF, nr,
            int(np.asarray(flags).reshape(-1)[0]) & 0xFFFFFFFF)


def _buf_chunks(nbytes, esize):
    """Per-element range-check size: dword components check per dword."""
    return esize if esize >= 4 else (4 if nbytes >= 4 else nbytes)


#: ``strict_buffers`` window past a buffer's end: an access that the descriptor
#: drops and that starts less than this many bytes past ``num_records`` is reported.
#: Deliberate masking uses an offset far beyond (FlyDSL's buffer_ops 0x7FFFFFFF,
#: the suite's kernels 0x7FFFFFFC, CK 0x80000000).
PAST_END_WINDOW = 1 << 20
#: Descriptors with ``num_records`` at or above this size are "whole range"
#: descriptors (FlyDSL's ``max_size=True`` gives 0xFFFFFFFF): no past-the-end check.
_EXACT_RECORDS_LIMIT = 1 << 31


def _past_end(X, base, off, size, nrec, stride, info, what, idx=None):
    """Sanitizer, ``strict_buffers`` mode (a no-op otherwise): report
    (``buffer-past-end``, an :class:`OutOfBoundsError`) an access of ``size`` bytes at byte offsets ``off``
    (one per lane, or a scalar) ends past ``num_records`` -- so the range check drops
    it in whole or part -- but starts less than :data:`PAST_END_WINDOW` past it, on an
    exactly sized descriptor (``num_records`` < 2**31, stride 0).

    The hardware drops such an access silently, so an index that is off by a
    little goes unnoticed until the buffer is a view into a larger one."""
    if not X.strict_buffers or stride != 0:
        return
    o, nr, b = np.broadcast_arrays(np.atleast_1d(np.asarray(off, np.int64)),
                                   np.atleast_1d(np.asarray(nrec, np.int64)), np.atleast_1d(base))
    bad = (o + size > nr) & (nr < _EXACT_RECORDS_LIMIT) & (o < nr + PAST_END_WINDOW)
    if not bad.any():
        return
    k = int(np.flatnonzero(bad)[0])
    o1, n1, b1 = int(o[k]), int(nr[k]), int(b[k])
    X.report("buffer-past-end",
             f"buffer {what} of {size} bytes at offset {o1} of {X.gmem.name_at(b1)} ends {o1 + size - n1} "
             f"bytes past its num_records ({n1}): the hardware drops it, hiding an index that is off by a "
             f"little; a masked-off access uses an offset at least {PAST_END_WINDOW} bytes past the end",
             info, lane=None if idx is None or np.ndim(idx) == 0 else int(idx[k]), addr=b1 + o1,
             count=int(np.count_nonzero(bad)))


def buffer_load(X, rsrc, voff, soff, m, mdt, shape, nbytes, esize, conv, info):
    base, stride, nrec, _flags = rsrc
    if np.ndim(voff) == 0 and np.ndim(soff) == 0 and X.nb == 1 and np.ndim(base) == 0 and np.ndim(nrec) == 0:
        vo = int(voff) & 0xFFFFFFFF
        so = int(soff) & 0xFFFFFFFF
        gran = _buf_chunks(nbytes, esize)
        raw = np.zeros(nbytes, np.uint8)
        _past_end(X, base, vo, nbytes, nrec, stride, info, "load")
        for c in range(0, nbytes, gran):
            if _in_range1(vo + c, gran, nrec, stride):
                raw[c:c + gran] = X.gmem.read_uniform(int(base) + so + vo + c, gran, info, **who_uniform(X, m))
        v = raw.view(mdt).reshape(shape)
        if conv is not None:
            v = conv(v)
        return v if shape else v[()]
    idx = lanes(X, m)
    vo = pick(X, voff, idx, 0).astype(np.int64) & 0xFFFFFFFF
    so = int(np.asarray(soff).reshape(-1)[0]) & 0xFFFFFFFF if np.ndim(soff) == 0 else pick(X, soff, idx, 0).astype(np.int64) & 0xFFFFFFFF
    n = idx.shape[0]
    out = np.zeros((n, nbytes), np.uint8)
    gran = _buf_chunks(nbytes, esize)
    bl = base if np.ndim(base) == 0 else base[idx]
    nl = nrec if np.ndim(nrec) == 0 else nrec[idx]
    _past_end(X, bl, vo, nbytes, nl, stride, info, "load", idx)
    for c in range(0, nbytes, gran):
        ok = amdgpu.buffer_in_range(vo + c, gran, nl, stride)
        if ok.any():
            addr = ((bl if np.ndim(bl) == 0 else bl[ok]) + (so if np.ndim(so) == 0 else so[ok]) + vo[ok] + c)
            out[ok, c:c + gran] = X.gmem.read(np.asarray(addr, np.int64), gran, info, **who(X, idx[ok]))
    vals = from_bytes(out, mdt, shape)
    if conv is not None:
        vals = conv(vals)
    if idx is X.lane_ids:
        return vals
    res = np.zeros((X.L,) + shape, vals.dtype)
    res[idx] = vals
    return res


def buffer_store(X, val, rsrc, voff, soff, m, mdt, shape, nbytes, esize, conv, info):
    base, stride, nrec, _flags = rsrc
    if np.ndim(voff) == 0 and np.ndim(soff) == 0 and np.ndim(val) == len(shape) and X.rng is None \
            and X.nb == 1 and np.ndim(base) == 0 and np.ndim(nrec) == 0:
        vo = int(voff) & 0xFFFFFFFF
        so = int(soff) & 0xFFFFFFFF
        v = val if conv is None else conv(val)
        raw = np.ascontiguousarray(np.asarray(v, dtype=mdt)).reshape(-1).view(np.uint8)
        gran = _buf_chunks(nbytes, esize)
        _past_end(X, base, vo, nbytes, nrec, stride, info, "store")
        for c in range(0, nbytes, gran):
            if _in_range1(vo + c, gran, nrec, stride):
                X.gmem.write_uniform(int(base) + so + vo + c, raw[c:c + gran], info, **who_uniform(X, m))
        return
    idx = lanes(X, m)
    vo = pick(X, voff, idx, 0).astype(np.int64) & 0xFFFFFFFF
    so = int(np.asarray(soff).reshape(-1)[0]) & 0xFFFFFFFF if np.ndim(soff) == 0 else pick(X, soff, idx, 0).astype(np.int64) & 0xFFFFFFFF
    v = pick(X, val, idx, len(shape))
    if conv is not None:
        v = conv(v)
    raw = to_bytes(np.asarray(v, dtype=mdt), nbytes)
    gran = _buf_chunks(nbytes, esize)
    bl = base if np.ndim(base) == 0 else base[idx]
    nl = nrec if np.ndim(nrec) == 0 else nrec[idx]
    order = X.store_order(idx)
    if order is not None:
        vo, raw = vo[order], raw[order]
        if np.ndim(so):
            so = so[order]
        if np.ndim(bl):
            bl = bl[order]
        if np.ndim(nl):
            nl = nl[order]
        idx = idx[order]
    _past_end(X, bl, vo, nbytes, nl, stride, info, "store", idx)
    for c in range(0, nbytes, gran):
        ok = amdgpu.buffer_in_range(vo + c, gran, nl, stride)
        if ok.any():
            addr = ((bl if np.ndim(bl) == 0 else bl[ok]) + (so if np.ndim(so) == 0 else so[ok]) + vo[ok] + c)
            X.gmem.write(np.asarray(addr, np.int64), np.ascontiguousarray(raw[ok, c:c + gran]), info,
                         **who(X, idx[ok]))


def _in_range1(off, size, nrec, stride):
    if stride != 0:
        return nrec > 0
    return off + size <= nrec


def _uniform_rsrc(X, base, m, info):
    vals = np.asarray(base)[m]
    if vals.size and (vals != vals[0]).any():
        raise UnsupportedOpError("buffer resource with a per-lane base address (needs a waterfall loop)",
                                 op=info[0], loc=info[1])
    return vals[0] if vals.size else 0


# ------------------------------------------------------------------ cross-lane
def full(X, x, rank=0):
    x = np.asarray(x)
    if x.ndim == rank:
        return np.broadcast_to(x, (X.L,) + x.shape).copy()
    return x


def dpp(X, old, src, m, ctrl, row_mask, bank_mask, bound_ctrl, rank):
    if rank == 0 and X.full and (m is X.m0 or m.all()):
        return amdgpu.dpp(old, full(X, src, rank), ctrl, row_mask, bank_mask, bound_ctrl, m, X.W)
    return amdgpu.dpp(full(X, old, rank), full(X, src, rank), ctrl, row_mask, bank_mask, bound_ctrl, m, X.W)


def bpermute(X, addr, src, m, rank):
    return amdgpu.bpermute(full(X, addr), full(X, src, rank), m, X.W)


def shuffle(X, val, off, width, mode, m, rank):
    return amdgpu.shuffle(full(X, val, rank), off, width, mode, m, X.W)


def ballot(X, pred, m, dt):
    return amdgpu.ballot(full(X, pred), m, X.W, dt)


def readfirstlane(X, val, m, rank):
    return amdgpu.readfirstlane(full(X, val, rank), m, X.W)


def readlane(X, val, lane, m, rank):
    return amdgpu.readlane(full(X, val, rank), lane, m, X.W)


def barrier(X, m, info):
    """Workgroup barrier: every workgroup of the batch with an active lane must have all its
    live lanes here; those workgroups start a new LDS epoch (also after a recorded report)."""
    if X.nb == 1:
        if not X.all_live(m):
            X.report("divergent-barrier",
                     f"gpu.barrier reached by {int(np.count_nonzero(m))} of {X.n_live} live lanes of workgroup "
                     f"{X.wg} (barrier under divergent control flow)", info,
                     lane=int(np.flatnonzero(X.m0 & ~m)[0]) if (X.m0 & ~m).any() else None)
        X.lds.barrier()
        return
    if m is X.m0:
        X.lds.barrier()
        return
    mw = m.reshape(X.nb, X.Lp)
    m0w = X.m0.reshape(X.nb, X.Lp)
    here = mw.any(1)
    bad = here & ~(mw == m0w).all(1)
    if bad.any():
        j = int(np.nonzero(bad)[0][0])
        X.report("divergent-barrier",
                 f"gpu.barrier reached by {int(np.count_nonzero(mw[j]))} of {int(np.count_nonzero(m0w[j]))} live "
                 f"lanes of workgroup {int(X.wg_lane[j * X.Lp])} (barrier under divergent control flow)", info,
                 lane=j * X.Lp + int(np.flatnonzero(mw[j] != m0w[j])[0]), count=int(np.count_nonzero(bad)))
    X.lds.barrier(np.nonzero(here)[0])


# ------------------------------------------------------------------ control helpers
def uniform(x, m):
    """Python int if ``x`` is the same in every active lane, else None."""
    if np.ndim(x) == 0:
        return int(x)
    v = x[m]
    if v.size == 0:
        return 0
    f = v[0]
    if (v == f).all():
        return int(f)
    return None


def sel(c, a, b):
    if np.ndim(c) == 0:
        return a if c else b
    return np.where(c, a, b)


def selv(c, a, b, rank):
    """select on vector values: a per-lane (L,) condition broadcasts over the trailing dims."""
    if np.ndim(c) == 0:
        return a if c else b
    c = np.asarray(c)
    return np.where(c.reshape(c.shape + (1,) * rank), a, b)


def merge(c, a, b, rank):
    """scf.if result merge: lanes with c take a, others b."""
    if rank == 0:
        return np.where(c, a, b)
    return np.where(np.asarray(c).reshape(np.shape(c) + (1,) * rank), a, b)


def merge_mask(mk, new, old, rank):
    if old is None:
        return new
    return merge(mk, new, old, rank)


def check_div(X, b, m, info):
    if np.ndim(b) == 0:
        lanes = np.flatnonzero(m) if np.ndim(m) else np.zeros(1, np.int64)
        if b != 0 or not lanes.size:
            return
    else:
        zero = (np.asarray(b) == 0) & (m if np.ndim(b) == 1 else m[:, None])
        if np.ndim(b) > 1:
            zero = zero.any(axis=tuple(range(1, np.ndim(b))))
        lanes = np.flatnonzero(zero)
        if not lanes.size:
            return
    X.report("division-by-zero", "integer division or remainder by zero in an active lane", info,
             lane=int(lanes[0]), count=int(lanes.size))


def ext_i1_signed(x, dt):
    return (-np.asarray(x).astype(dt)).astype(dt) if np.ndim(x) else dt(-int(x))


__all__ = [n for n in dir() if not n.startswith("_")]
semantics = semantics
