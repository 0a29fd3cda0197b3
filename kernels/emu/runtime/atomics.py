"""Atomics of generated kernel code: ``llvm.atomicrmw``, ``llvm.cmpxchg`` and the raw buffer atomics.

The accesses of one atomic instruction apply in a defined order: the active
lanes in ascending lane order of the batch (workgroups of a batch in schedule
order, each in thread order), the elements of a vector operand of one lane at
ascending addresses; each access returns the value before its own update
(:mod:`kernels.emu.atomic_ops`).  Under the schedule check's second run
(``X.rng`` set) the lanes of each instruction apply in a random order, and the
workgroups run one at a time in another order: the values each atomic returned
are logged (:class:`AtomicLog`) so a result that differs between the two runs
can name the atomics whose values did.

Flat addresses in the LDS aperture are LDS atomics; buffer atomics are range
checked as a whole access (out of range: dropped, returning 0), and judged by
``strict_buffers`` as any buffer access (:mod:`.buffers`).
"""
from __future__ import annotations

import numpy as np

from .. import atomic_memory
from ..amdgpu import GLOBAL_SPACES, LDS_APERTURE, AddressSpace
from ..atomic_ops import apply
from ..errors import UnsupportedOpError
from .buffers import _addresses, _in_range, _lane_offsets, _loaded_zeros, _past_end
from .lanes import from_bytes, lanes, pick, scatter_active, to_bytes, who


class AtomicLog:
    """The values each atomic site returned in one run of a launch, per (workgroup, thread), in program order."""

    def __init__(self):
        self.sites = {}      # info -> [(keys, values)]

    def record(self, info, keys, raw):
        self.sites.setdefault(info, []).append((keys, raw.reshape(raw.shape[0], -1).view(np.uint8)))

    def _series(self, info):
        parts = self.sites.get(info, [])
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.uint8)
        keys = np.concatenate([k for k, _ in parts])
        vals = np.concatenate([v for _, v in parts])
        order = np.argsort(keys, kind="stable")
        return keys[order], vals[order]

    def differing(self, other) -> list:
        """The sites whose returned values differ between this run and ``other``, in first-seen order."""
        out = []
        for info in list(self.sites) + [s for s in other.sites if s not in self.sites]:
            k1, v1 = self._series(info)
            k2, v2 = other._series(info)
            if k1.shape != k2.shape or v1.shape != v2.shape or not (np.array_equal(k1, k2) and np.array_equal(v1, v2)):
                out.append(info)
        return out


def _held_rmw(op, mdt, esize, lconv, sconv):
    """The read-modify-write on raw bytes of one element of ``mdt`` (``lconv`` / ``sconv`` convert
    memory values to held ones and back: bf16)."""
    rounder = None if sconv is None else (lambda x: lconv(sconv(x)))

    def held(raw):
        v = from_bytes(raw, mdt, ())
        return v if lconv is None else lconv(v)

    def raw_of(v):
        return to_bytes(np.asarray(v if sconv is None else sconv(v), mdt).reshape(-1), esize)

    def rmw(keys, cur, vals, cmps):
        old, new, ok = apply(op, keys, held(vals), held(cur), None if cmps is None else held(cmps), rounder)
        return raw_of(old), raw_of(new), (np.zeros(keys.shape[0], bool) if ok is None else ok)
    return rmw


def _elements(X, addr, idx, v, c, shape, esize, mdt, sconv):
    """Per-element accesses: addresses, lanes, raw operand and compare bytes (a vector operand's
    elements at ascending addresses)."""
    k = int(np.prod(shape)) if shape else 1
    to_raw = (lambda x: to_bytes(np.asarray((x if sconv is None else sconv(x)), mdt).reshape(-1), esize))
    vr = to_raw(v)
    cr = None if c is None else to_raw(c)
    if k == 1:
        return addr, idx, vr, cr
    ea = (addr[:, None] + np.arange(k, dtype=np.int64)[None, :] * esize).reshape(-1)
    return ea, np.repeat(idx, k), vr, cr


def _apply(X, space, addr, lidx, vr, cr, rmw, esize, lo, hi, info):
    """Apply element accesses (in order) to memory of ``space``: ``(old bytes, success)``."""
    if space == AddressSpace.LDS:
        return atomic_memory.lds_atomic(X.lds, addr, lidx, lo, hi, info, esize, rmw, vr, cr)
    if space not in GLOBAL_SPACES:
        raise UnsupportedOpError(f"atomic on address space {space}", op=info[0], loc=info[1])
    is_lds = addr >= LDS_APERTURE if space == AddressSpace.FLAT else None
    if is_lds is None or not is_lds.any():
        return atomic_memory.global_atomic(X.gmem, addr, esize, rmw, vr, cr, info, who(X, lidx))
    old = np.zeros((addr.shape[0], esize), np.uint8)
    ok = np.zeros(addr.shape[0], bool)
    old[is_lds], ok[is_lds] = atomic_memory.lds_atomic(X.lds, addr[is_lds] - LDS_APERTURE, lidx[is_lds], 0,
                                                       X.lds.nbytes, info, esize, rmw, vr[is_lds],
                                                       None if cr is None else cr[is_lds])
    g = ~is_lds
    if g.any():
        old[g], ok[g] = atomic_memory.global_atomic(X.gmem, addr[g], esize, rmw, vr[g], None if cr is None else cr[g],
                                                    info, who(X, lidx[g]))
    return old, ok


def _run(X, idx, addr, val, cmp, space, op, mdt, shape, esize, lconv, sconv, lo, hi, info, log):
    """Common part of the atomics: ``idx`` the accessing lanes and ``addr`` their addresses
    (int64, lane order); returns the old values and success flags as lane arrays."""
    v = pick(X, val, idx, len(shape))
    c = None if cmp is None else pick(X, cmp, idx, len(shape))
    order = X.store_order(idx)
    if order is not None:                      # schedule check: another order of the lanes
        idx, addr, v = idx[order], addr[order], v[order]
        c = None if c is None else c[order]
    ea, lidx, vr, cr = _elements(X, addr, idx, v, c, shape, esize, mdt, sconv)
    rmw = _held_rmw(op, mdt, esize, lconv, sconv)
    old_raw, ok = _apply(X, space, ea, lidx, vr, cr, rmw, esize, lo, hi, info)
    old = from_bytes(old_raw.reshape(idx.shape[0], -1), mdt, shape)
    if lconv is not None:
        old = lconv(old)
    ok = ok.reshape(idx.shape[0], -1).all(1)
    if order is not None:
        back = np.empty_like(order)
        back[order] = np.arange(order.shape[0])
        idx, old, ok = idx[back], old[back], ok[back]
    if X.atomic_log is not None and log:
        wg = X.wg if X.nb == 1 else X.wg_lane[idx]
        X.atomic_log.record(info, np.asarray(wg, np.int64) * X.Lp + idx % X.Lp, np.ascontiguousarray(old))
    return scatter_active(X, idx, old, shape), scatter_active(X, idx, ok, ())


def _addresses_of(X, ptr, idx):
    return pick(X, ptr, idx, 0).astype(np.int64)


def atomicrmw(X, ptr, val, m, space, spec, mdt, shape, esize, lconv, sconv, lo, hi, info, log):
    """``llvm.atomicrmw`` (its :class:`~kernels.emu.atomic_ops.AtomicSpec` ``spec``) of ``val`` through
    ``ptr``: the old value in each active lane (0 elsewhere).  ``log``: whether the schedule check logs
    the returned values."""
    idx = lanes(X, m)
    if idx.shape[0] == 0:
        return _loaded_zeros(X, mdt, shape, esize * (int(np.prod(shape)) if shape else 1), lconv)
    return _run(X, idx, _addresses_of(X, ptr, idx), val, None, space, spec.op, mdt, shape, esize, lconv, sconv,
                lo, hi, info, log)[0]


def cmpxchg(X, ptr, cmp, val, m, space, spec, mdt, esize, lo, hi, info, log):
    """``llvm.cmpxchg``: ``(old value, success)`` per lane (0 and False in inactive lanes)."""
    idx = lanes(X, m)
    if idx.shape[0] == 0:
        return np.zeros(X.L, mdt), np.zeros(X.L, bool)
    return _run(X, idx, _addresses_of(X, ptr, idx), val, cmp, space, "cmpxchg", mdt, (), esize, None, None,
                lo, hi, info, log)


def buffer_atomic(X, op, val, cmp, rsrc, voff, soff, m, mdt, shape, esize, lconv, sconv, info, log):
    """``rocdl.raw.ptr.buffer.atomic.*``: range checked as one access of the whole operand; a lane out of
    range is dropped and returns 0.  Returns the old values (lane array)."""
    idx = lanes(X, m)
    nbytes = esize * (int(np.prod(shape)) if shape else 1)
    if idx.shape[0] == 0:
        return _loaded_zeros(X, mdt, shape, nbytes, lconv)
    vo, so, bl, nl = _lane_offsets(X, rsrc, voff, soff, idx)
    _past_end(X, bl, vo, nbytes, nl, rsrc.stride, info, f"atomic {op}", idx)
    sel = _in_range(vo, 0, nbytes, nl, rsrc.stride)
    if sel is not None:
        if sel.shape[0] == 0:
            return _loaded_zeros(X, mdt, shape, nbytes, lconv)
        idx = idx[sel]
    addr = _addresses(bl, so, vo, 0, sel)
    return _run(X, idx, addr, val, cmp, AddressSpace.GLOBAL, op, mdt, shape, esize, lconv, sconv, 0, 0, info, log)[0]
