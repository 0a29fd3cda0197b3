"""Lane bookkeeping shared by the runtime helpers.

``X`` is the workgroup context (:class:`kernels.emu.simt.WG`); ``m`` the
active-lane mask.  Values are NumPy scalars (uniform) or lane arrays of
length ``X.L`` (vector values add trailing dims).
"""
from __future__ import annotations

import numpy as np

from ..memory import MANY_WAVES, Accessor


def lanes(X, m):
    """Indices of the active lanes (cached per mask object)."""
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


def representatives(X, m):
    """One representative lane per (workgroup, wave) with active lanes, for accesses whose
    address is the same in every lane of a workgroup: ``(lanes, weights, lane_rep)`` -- the
    first active lane of each such wave (in lane order), how many active lanes it stands for,
    and for every active lane the index of its wave's representative, for every inactive
    lane the number of representatives (one past the last) (cached per mask object)."""
    c = X.rcache
    if c[0] is m:
        return c[1]
    mw = np.asarray(m).reshape(-1, X.W)
    act = mw.any(axis=1)
    first = mw.argmax(axis=1) + np.arange(mw.shape[0]) * X.W
    waves = np.flatnonzero(act)
    slot = np.cumsum(act) - 1
    out = (first[waves], mw.sum(axis=1)[waves], np.where(mw.reshape(-1), np.repeat(slot, X.W), waves.shape[0]))
    X.rcache = (m, out)
    return out


def pick(X, x, idx, rank):
    """Values of active lanes ``idx`` of ``x`` (uniform or per-lane), shape (n,)+elem."""
    x = np.asarray(x)
    if x.ndim == rank:           # uniform
        return np.broadcast_to(x, (idx.shape[0],) + x.shape)
    if idx is X.lane_ids:        # every lane
        return x
    return x[idx]


def full(X, x, rank=0):
    """``x`` as a lane array (a uniform value broadcast to every lane)."""
    x = np.asarray(x)
    if x.ndim == rank:
        return np.broadcast_to(x, (X.L,) + x.shape).copy()
    return x


def to_bytes(vals, nbytes):
    v = np.ascontiguousarray(vals)
    return v.view(np.uint8).reshape(v.shape[0], nbytes)


def from_bytes(raw, dt, shape):
    v = np.ascontiguousarray(raw).view(dt)
    return v.reshape((raw.shape[0],) + shape)


def scatter_active(X, idx, vals, shape):
    """A lane array holding ``vals`` in the active lanes ``idx`` and 0 elsewhere."""
    if idx is X.lane_ids:
        return vals
    out = np.zeros((X.L,) + shape, vals.dtype)
    out[idx] = vals
    return out


def who(X, idx):
    """The :class:`~kernels.emu.memory.Accessor` of the accessing lanes ``idx`` for the global
    race check: workgroup, wave inside it and the workgroup's barrier epoch (scalars or per
    lane), and the lanes themselves (for findings)."""
    if not X.sanitize:
        return Accessor(X.wg if X.nb == 1 else X.wg_lane[idx], None, 0, idx)
    c = X.wcache                      # wave, workgroup and LDS copy of the lanes: cached per index array
    if c[0] is idx:
        wave, wg, copy = c[1], c[2], c[3]
    elif idx is X.lane_ids:
        wave = X.wave_lane
        wg, copy = (X.wg, None) if X.nb == 1 else (X.wg_lane, X.copy_lane)
        X.wcache = (idx, wave, wg, copy)
    else:
        wave = X.wave_lane[idx]
        wg, copy = (X.wg, None) if X.nb == 1 else (X.wg_lane[idx], X.copy_lane[idx])
        X.wcache = (idx, wave, wg, copy)
    if X.nb == 1:
        return Accessor(wg, wave, int(X.lds.epoch[0]), idx)
    return Accessor(wg, wave, X.lds.epoch[copy], idx)


def who_uniform(X, m):
    """:func:`who` for a uniform access by the active lanes ``m`` of one workgroup: their wave
    (``MANY_WAVES`` for several) and the lanes, of which findings name the first."""
    if not X.sanitize:
        return Accessor(X.wg)
    waves = waves_of(X, m)
    return Accessor(X.wg, waves[0] if len(waves) == 1 else MANY_WAVES, int(X.lds.epoch[0]), lanes(X, m))
