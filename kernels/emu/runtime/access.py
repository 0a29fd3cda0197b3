"""``llvm.load`` / ``llvm.store`` through raw pointers of any address space.

Inactive lanes never touch memory; a load returns 0 in inactive lanes.  A
uniform (scalar) address in a one-workgroup batch takes a scalar fast path
and gives a uniform result.  Flat (generic) addresses at or above
:data:`~kernels.emu.amdgpu.LDS_APERTURE` are LDS.
"""
from __future__ import annotations

import numpy as np

from ..amdgpu import GLOBAL_SPACES, LDS_APERTURE, AddressSpace
from ..arrays import ndim
from ..errors import UnsupportedOpError
from .lanes import from_bytes, lanes, pick, representatives, scatter_active, to_bytes, waves_of, who, who_uniform


def _split_flat(addr):
    """Mask of the flat addresses that fall in the LDS aperture (None when none do)."""
    is_lds = addr >= LDS_APERTURE
    return is_lds if is_lds.any() else None


def _mem_read(X, space, addr, nbytes, idx, lo, hi, info):
    if space == AddressSpace.LDS:
        return X.lds.read(addr, nbytes, idx, lo, hi, info)
    if space not in GLOBAL_SPACES:
        raise UnsupportedOpError(f"load from address space {space}", op=info[0], loc=info[1])
    is_lds = _split_flat(addr) if space == AddressSpace.FLAT else None
    if is_lds is None:
        return X.gmem.read(addr, nbytes, info, who(X, idx))
    out = np.empty((addr.shape[0], nbytes), np.uint8)
    out[is_lds] = X.lds.read(addr[is_lds] - LDS_APERTURE, nbytes, idx[is_lds], 0, X.lds.nbytes, info)
    g = ~is_lds
    if g.any():
        out[g] = X.gmem.read(addr[g], nbytes, info, who(X, idx[g]))
    return out


def _mem_write(X, space, addr, raw, idx, lo, hi, info):
    if space == AddressSpace.LDS:
        return X.lds.write(addr, raw, idx, lo, hi, info, X.store_order(idx))
    if space not in GLOBAL_SPACES:
        raise UnsupportedOpError(f"store to address space {space}", op=info[0], loc=info[1])
    is_lds = _split_flat(addr) if space == AddressSpace.FLAT else None
    if is_lds is None:
        return X.gmem.write(addr, raw, info, who(X, idx))
    X.lds.write(addr[is_lds] - LDS_APERTURE, raw[is_lds], idx[is_lds], 0, X.lds.nbytes, info)
    g = ~is_lds
    if g.any():
        X.gmem.write(addr[g], raw[g], info, who(X, idx[g]))


def _scalar_path(X, ptr, space):
    """Whether a uniform pointer can take the one-workgroup scalar fast path."""
    return ndim(ptr) == 0 and X.nb == 1 and (
        space in (AddressSpace.LDS, AddressSpace.GLOBAL) or (space == AddressSpace.FLAT and ptr < LDS_APERTURE))


def load(X, ptr, m, space, mdt, shape, nbytes, conv, lo, hi, info):
    """``llvm.load``: an (L,)+shape array of the memory dtype ``mdt`` converted by ``conv``;
    ``[lo, hi)`` bounds an LDS access (its allocation)."""
    if _scalar_path(X, ptr, space):
        a = int(ptr)
        if space == AddressSpace.LDS:
            raw = X.lds.read_uniform(a, nbytes, waves_of(X, m), lo, hi, info, lanes(X, m) if X.sanitize else None)
        else:
            raw = X.gmem.read_uniform(a, nbytes, info, who_uniform(X, m))
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
    return scatter_active(X, idx, vals, shape)


def store(X, val, ptr, m, space, mdt, shape, nbytes, conv, lo, hi, info):
    """``llvm.store`` of ``val`` (converted by ``conv``, stored as ``mdt``)."""
    if ndim(val) == len(shape) and X.rng is None and _scalar_path(X, ptr, space):
        v = val if conv is None else conv(val)
        raw = np.ascontiguousarray(np.asarray(v, dtype=mdt)).reshape(-1).view(np.uint8)
        if space == AddressSpace.LDS:
            X.lds.write_uniform(int(ptr), raw, waves_of(X, m), lo, hi, info, lanes(X, m) if X.sanitize else None)
        else:
            X.gmem.write_uniform(int(ptr), raw, info, who_uniform(X, m))
        return
    idx = lanes(X, m)
    addr = pick(X, ptr, idx, 0).astype(np.int64)
    v = pick(X, val, idx, len(shape))
    if conv is not None:
        v = conv(v)
    raw = to_bytes(np.asarray(v, dtype=mdt), nbytes)
    _mem_write(X, space, addr, raw, idx, lo, hi, info)


def load_uniform(X, ptr, m, space, mdt, shape, nbytes, conv, lo, hi, info):
    """:func:`load` of an address the uniformity analysis proved the same in every lane of a
    workgroup: an LDS read in a batch of workgroups happens once per workgroup and wave
    (:func:`~.lanes.representatives`), with the findings, counts and shadow state of the
    per-lane read; every other case is :func:`load` itself."""
    if X.nb == 1 or space != AddressSpace.LDS:
        return load(X, ptr, m, space, mdt, shape, nbytes, conv, lo, hi, info)
    rep, weight, lane_rep = representatives(X, m)
    if rep.shape[0] == 0:
        return load(X, ptr, m, space, mdt, shape, nbytes, conv, lo, hi, info)
    addr = int(ptr) if ndim(ptr) == 0 else pick(X, ptr, rep, 0).astype(np.int64)
    raw = X.lds.read(addr, nbytes, rep, lo, hi, info, weight)
    vals = from_bytes(raw, mdt, shape)
    if conv is not None:
        vals = conv(vals)
    return np.concatenate((vals, np.zeros((1,) + vals.shape[1:], vals.dtype)))[lane_rep]   # inactive lanes: 0
