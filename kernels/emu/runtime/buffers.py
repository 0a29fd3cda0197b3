"""Raw buffer accesses: ``rocdl.make.buffer.rsrc`` and ``rocdl.raw.ptr.buffer.load/store``.

The range check is the hardware's (:func:`kernels.emu.amdgpu.buffer_in_range`):
an out-of-range load reads 0 and an out-of-range store is dropped, checked per
element (per dword for dword components); ``soffset`` is not range checked.
With ``strict_buffers`` the sanitizer also reports an access that the
descriptor drops but that a larger buffer would hold: one that starts below
:data:`MASKED_OFFSET_FLOOR`.
"""
from __future__ import annotations

import numpy as np

from .. import amdgpu
from ..amdgpu import BufferResource
from ..arrays import ndim
from ..errors import UnsupportedOpError
from .lanes import from_bytes, lanes, pick, scatter_active, to_bytes, who, who_uniform

#: ``strict_buffers``: an access that an exactly sized descriptor drops must start at or
#: past this byte offset, which no buffer of fewer than 2**31 - 16 bytes reaches.  That is
#: how deliberate masking looks (FlyDSL's buffer_ops 0x7FFFFFFF, the suite's kernels
#: 0x7FFFFFFC, CK 0x80000000); a dropped access that starts below it would land inside a
#: larger buffer, so only the size of this one hides its index, off by a little or by a lot.
MASKED_OFFSET_FLOOR = (1 << 31) - 16
#: Descriptors with ``num_records`` at or above this size are "whole range"
#: descriptors (FlyDSL's ``max_size=True`` gives 0xFFFFFFFF): no past-the-end check.
_EXACT_RECORDS_LIMIT = 1 << 31


def make_rsrc(base, stride, nrec, flags) -> BufferResource:
    """The descriptor of ``rocdl.make.buffer.rsrc``; ``base`` and ``nrec`` may be per lane,
    ``stride`` (14 bits) must be uniform."""
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
    return BufferResource(np.int64(b) if ndim(b) == 0 else b.astype(np.int64), int(st[0]) & 0x3FFF, nr,
                          int(np.asarray(flags).reshape(-1)[0]) & 0xFFFFFFFF)


def _chunk(nbytes, esize):
    """Per-element range-check size: dword components check per dword."""
    return esize if esize >= 4 else (4 if nbytes >= 4 else nbytes)


def _in_range_uniform(off, size, nrec, stride):
    if stride != 0:
        return nrec > 0
    return off + size <= nrec


def _past_end(X, base, off, size, nrec, stride, info, what, idx=None):
    """Sanitizer, ``strict_buffers`` mode (a no-op otherwise): report
    (``buffer-past-end``, an :class:`OutOfBoundsError`) an access of ``size`` bytes at
    byte offsets ``off`` (one per lane ``idx``, or a scalar) that ends past
    ``num_records`` -- so the range check drops it in whole or part -- but starts below
    :data:`MASKED_OFFSET_FLOOR`, on an exactly sized descriptor (``num_records`` < 2**31,
    stride 0).

    The hardware drops such an access silently, so a wrong index goes unnoticed
    until the buffer is larger, or a view into a larger one."""
    if not X.strict_buffers or stride != 0:
        return
    if ndim(nrec) == 0:                   # one descriptor for every lane: decide on the offsets alone
        n = int(nrec)
        if n >= _EXACT_RECORDS_LIMIT:
            return
        ov = off if isinstance(off, np.ndarray) else np.asarray(off, np.int64)    # uint32 compares exactly too
        if not ((ov > n - size) & (ov < MASKED_OFFSET_FLOOR)).any():
            return
    o, nr, b = np.broadcast_arrays(np.atleast_1d(np.asarray(off, np.int64)),
                                   np.atleast_1d(np.asarray(nrec, np.int64)), np.atleast_1d(base))
    bad = (o + size > nr) & (nr < _EXACT_RECORDS_LIMIT) & (o < MASKED_OFFSET_FLOOR)
    if not bad.any():
        return
    k = int(np.flatnonzero(bad)[0])
    o1, n1, b1 = int(o[k]), int(nr[k]), int(b[k])
    X.report("buffer-past-end",
             f"buffer {what} of {size} bytes at offset {o1} of {X.gmem.name_at(b1)} ends {o1 + size - n1} "
             f"bytes past its num_records ({n1}): the hardware drops it, but a buffer of {o1 + size} bytes "
             f"would hold it, so only this buffer's size hides a wrong index; a masked-off access uses an "
             f"offset of at least {MASKED_OFFSET_FLOOR:#x}",
             info, lane=None if idx is None or ndim(idx) == 0 else int(idx[k]), addr=b1 + o1,
             count=int(np.count_nonzero(bad)))


def _uniform_access(X, rsrc, voff, soff):
    return (ndim(voff) == 0 and ndim(soff) == 0 and X.nb == 1 and ndim(rsrc.base) == 0
            and ndim(rsrc.num_records) == 0)


def _near_lanes(X, rsrc, voff, m, gran):
    """The active lanes (ascending lane ids) whose access needs a look: those with a byte in
    range, and with ``strict_buffers`` those that :func:`_past_end` may report.

    Every other active lane's access lies wholly out of range and too far past the end to be
    reported: the hardware drops it (a load reads 0 there, a store changes nothing) and the
    sanitizer sees no access, so the access of the lanes returned is the whole access.
    Found with one compare of the voffsets when the descriptor is one for every lane with
    stride 0 (the masked-off lanes of a kernel that masks by an out-of-range offset);
    otherwise every active lane."""
    nrec = rsrc.num_records
    if rsrc.stride != 0 or ndim(nrec) or ndim(voff) == 0:
        return lanes(X, m)
    hi = _near_limit(X, nrec, gran)
    return _near_entry(X, voff, m, hi)[3] if hi > 0 else _NONE


def _near_limit(X, nrec, gran):
    """Lanes whose voffset is below this limit are near (:func:`_near_lanes`), with one
    ``num_records`` and stride 0: a chunk at c is in range when vo + c + gran <= n, so none is
    when vo > n - gran; a reported one starts below MASKED_OFFSET_FLOOR."""
    n = int(nrec) & 0xFFFFFFFF
    if X.strict_buffers and n < _EXACT_RECORDS_LIMIT:
        return max(MASKED_OFFSET_FLOOR, n - gran + 1)
    return n - gran + 1


def _near_entry(X, voff, m, hi):
    """``[voff, m, hi, near lanes, offsets]`` for per-lane voffsets ``voff`` under the mask
    ``m``: the lanes of ``m`` whose voffset is below ``hi``, and a slot for
    :func:`_lean_access` (their offsets).  The last two entries are kept (``X.ncache``) for
    the next accesses with the same offsets, mask and limit (a store and a load at one
    index, around another access)."""
    for c in X.ncache:
        if c[0] is voff and c[1] is m and c[2] == hi:
            return c
    hit = _u32(voff) < hi
    if not (m is X.m0 and X.full):
        hit &= m
    near = np.flatnonzero(hit)
    if near.shape[0] == X.L:
        near = X.lane_ids
    entry = [voff, m, hi, near, None]
    X.ncache = (entry, X.ncache[0])
    return entry


def _lean_access(X, rsrc, voff, soff, m, nbytes, gran):
    """The lean path of an access of ``nbytes`` range checked per ``gran`` bytes:
    ``(idx, a, o)`` -- the lanes :func:`_near_lanes` keeps, the allocation their accesses
    lie in and the byte offsets (int64) of those accesses in it -- when that is the whole
    access: one descriptor (base, ``num_records``, stride 0) and one soffset for every
    lane, no schedule perturbation, and every kept lane's access wholly in range (so
    :func:`_past_end` has nothing to report) and inside one allocation.  ``a`` and ``o``
    are None when no lane is kept.  None otherwise: the general path decides (and
    reports) lane by lane."""
    if X.rng is not None or rsrc.stride != 0 or ndim(rsrc.num_records) or ndim(rsrc.base) or ndim(soff) \
            or ndim(voff) == 0 or nbytes % gran:
        return None
    hi = _near_limit(X, rsrc.num_records, gran)
    if hi <= 0:
        return _NONE, None, None
    entry = _near_entry(X, voff, m, hi)
    idx = entry[3]
    if idx.shape[0] == 0:
        return idx, None, None
    if entry[4] is None:
        vo = _u32(voff if idx is X.lane_ids else voff[idx])
        entry[4] = (_i64(vo), int(np.minimum.reduce(vo)), int(np.maximum.reduce(vo)))
    vo, bottom, top = entry[4]
    if top + nbytes > (int(rsrc.num_records) & 0xFFFFFFFF):
        return None
    start = int(rsrc.base) + (int(soff) & 0xFFFFFFFF)
    k = X.gmem.holder(start + bottom, start + top + nbytes)
    if k is None:
        return None
    a = X.gmem.allocs[k]
    return idx, a, vo + (start - a.start)


def _loaded_zeros(X, mdt, shape, nbytes, conv):
    """What a load in which no lane reads memory returns: 0 in every lane, in the dtype of a read."""
    vals = from_bytes(np.zeros((0, nbytes), np.uint8), mdt, shape)
    if conv is not None:
        vals = conv(vals)
    return np.zeros((X.L,) + shape, vals.dtype)


def _lane_offsets(X, rsrc, voff, soff, idx):
    """(voffset, soffset, base, num_records) of the active lanes ``idx``, each scalar or per lane."""
    vo = _u32(pick(X, voff, idx, 0))
    so = int(np.asarray(soff).reshape(-1)[0]) & 0xFFFFFFFF if ndim(soff) == 0 \
        else _u32(pick(X, soff, idx, 0))
    base, nrec = rsrc.base, rsrc.num_records
    return vo, so, (base if ndim(base) == 0 else base[idx]), (nrec if ndim(nrec) == 0 else nrec[idx])


def _u32(x):
    """Offsets as the unsigned 32-bit values the hardware adds: a uint32 view of int32 offsets
    (no copy; widened where an address is formed), else int64."""
    x = np.asarray(x)
    if x.dtype == np.int32:
        return x.view(np.uint32)
    return x.astype(np.int64) & 0xFFFFFFFF


def _i64(x):
    return x if x.dtype == np.int64 else x.astype(np.int64)


def _at(x, sel):
    return x if ndim(x) == 0 else x[sel]


def _in_range(vo, c, gran, nrec, stride):
    """Which accessing lanes pass the range check for the bytes ``[c, c + gran)`` of their access:
    None when all do, else their positions (ascending, possibly none)."""
    if c == 0 and stride == 0 and ndim(nrec) == 0:     # one descriptor: compare the offsets as they are
        limit = (int(nrec) & 0xFFFFFFFF) - gran
        ok = vo <= limit if limit >= 0 else np.zeros(vo.shape, bool)
    else:
        ok = amdgpu.buffer_in_range(_i64(vo) + c if c else vo, gran, nrec, stride)
    n = np.count_nonzero(ok)
    if n == ok.shape[0]:
        return None
    return np.flatnonzero(ok) if n else _NONE


_NONE = np.zeros(0, np.int64)


def _addresses(base, so, vo, c, sel=None):
    """Host addresses (int64) ``base + soffset + voffset + c`` of the accessing lanes ``sel`` (all when None)."""
    vo = _i64(vo if sel is None else vo[sel])
    if sel is not None:
        base, so = _at(base, sel), _at(so, sel)
    if ndim(base) == 0 and ndim(so) == 0:
        return vo + (int(base) + int(so) + c)
    return np.asarray(base + _i64(np.asarray(so)) + vo + c, np.int64)


def buffer_load(X, rsrc, voff, soff, m, mdt, shape, nbytes, esize, conv, info):
    """``rocdl.raw.ptr.buffer.load`` of ``shape`` elements of ``esize`` bytes (``nbytes`` in all)."""
    stride = rsrc.stride
    gran = _chunk(nbytes, esize)
    if _uniform_access(X, rsrc, voff, soff):
        base, nrec = rsrc.base, rsrc.num_records
        vo = int(voff) & 0xFFFFFFFF
        so = int(soff) & 0xFFFFFFFF
        raw = np.zeros(nbytes, np.uint8)
        _past_end(X, base, vo, nbytes, nrec, stride, info, "load")
        for c in range(0, nbytes, gran):
            if _in_range_uniform(vo + c, gran, nrec, stride):
                raw[c:c + gran] = X.gmem.read_uniform(int(base) + so + vo + c, gran, info, who_uniform(X, m))
        v = raw.view(mdt).reshape(shape)
        if conv is not None:
            v = conv(v)
        return v if shape else v[()]
    lean = _lean_access(X, rsrc, voff, soff, m, nbytes, gran)
    if lean is not None and lean[1] is not None:
        idx, a, o = lean
        by = who(X, idx)
        if nbytes == gran:
            out = X.gmem.read_at(a, o, gran, info, by)
        else:
            out = np.empty((idx.shape[0], nbytes), np.uint8)
            for c in range(0, nbytes, gran):
                out[:, c:c + gran] = X.gmem.read_at(a, o + c if c else o, gran, info, by)
        vals = from_bytes(out, mdt, shape)
        return scatter_active(X, idx, vals if conv is None else conv(vals), shape)
    idx = lean[0] if lean is not None else _near_lanes(X, rsrc, voff, m, gran)
    if idx.shape[0] == 0:
        return _loaded_zeros(X, mdt, shape, nbytes, conv)
    vo, so, bl, nl = _lane_offsets(X, rsrc, voff, soff, idx)
    out = np.zeros((idx.shape[0], nbytes), np.uint8)
    _past_end(X, bl, vo, nbytes, nl, stride, info, "load", idx)
    for c in range(0, nbytes, gran):
        sel = _in_range(vo, c, gran, nl, stride)
        if sel is None:                  # every lane in range: no per-lane selection
            out[:, c:c + gran] = X.gmem.read(_addresses(bl, so, vo, c), gran, info, who(X, idx))
        elif sel.shape[0]:
            out[sel, c:c + gran] = X.gmem.read(_addresses(bl, so, vo, c, sel), gran, info, who(X, idx[sel]))
    vals = from_bytes(out, mdt, shape)
    if conv is not None:
        vals = conv(vals)
    return scatter_active(X, idx, vals, shape)


def buffer_store(X, val, rsrc, voff, soff, m, mdt, shape, nbytes, esize, conv, info):
    """``rocdl.raw.ptr.buffer.store`` of ``val`` (arguments as :func:`buffer_load`)."""
    stride = rsrc.stride
    gran = _chunk(nbytes, esize)
    if _uniform_access(X, rsrc, voff, soff) and ndim(val) == len(shape) and X.rng is None:
        base, nrec = rsrc.base, rsrc.num_records
        vo = int(voff) & 0xFFFFFFFF
        so = int(soff) & 0xFFFFFFFF
        v = val if conv is None else conv(val)
        raw = np.ascontiguousarray(np.asarray(v, dtype=mdt)).reshape(-1).view(np.uint8)
        _past_end(X, base, vo, nbytes, nrec, stride, info, "store")
        for c in range(0, nbytes, gran):
            if _in_range_uniform(vo + c, gran, nrec, stride):
                X.gmem.write_uniform(int(base) + so + vo + c, raw[c:c + gran], info, who_uniform(X, m))
        return
    lean = _lean_access(X, rsrc, voff, soff, m, nbytes, gran)
    if lean is not None and lean[1] is None:
        return
    # a schedule perturbation draws one lane order for every active lane: no narrowing then
    idx = lean[0] if lean is not None else lanes(X, m) if X.rng is not None else \
        _near_lanes(X, rsrc, voff, m, gran)
    if idx.shape[0] == 0:
        return
    v = pick(X, val, idx, len(shape))
    if conv is not None:
        v = conv(v)
    raw = to_bytes(np.asarray(v, dtype=mdt), nbytes)
    if lean is not None:
        _, a, o = lean
        by = who(X, idx)
        for c in range(0, nbytes, gran):
            X.gmem.write_at(a, o + c if c else o, raw if nbytes == gran else np.ascontiguousarray(raw[:, c:c + gran]),
                            info, by)
        return
    vo, so, bl, nl = _lane_offsets(X, rsrc, voff, soff, idx)
    order = X.store_order(idx)
    if order is not None:
        vo, raw, idx = vo[order], raw[order], idx[order]
        so, bl, nl = (x if ndim(x) == 0 else x[order] for x in (so, bl, nl))
    _past_end(X, bl, vo, nbytes, nl, stride, info, "store", idx)
    for c in range(0, nbytes, gran):
        sel = _in_range(vo, c, gran, nl, stride)
        if sel is None:                  # every lane in range: no per-lane selection
            X.gmem.write(_addresses(bl, so, vo, c), np.ascontiguousarray(raw[:, c:c + gran]), info, who(X, idx))
        elif sel.shape[0]:
            X.gmem.write(_addresses(bl, so, vo, c, sel), np.ascontiguousarray(raw[sel, c:c + gran]), info,
                         who(X, idx[sel]))
