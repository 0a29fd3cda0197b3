"""Control flow and merging of per-lane values in generated code.

A value is a NumPy scalar (uniform over the active lanes) or a lane array;
aggregates (structs, :class:`~kernels.emu.amdgpu.BufferResource`) are tuples
of such values.  ``merge*`` combine the results of the two sides of a
divergent branch lane by lane.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..amdgpu import BufferResource
from ..arrays import ndim
from ..errors import UnsupportedOpError


class Arrival(NamedTuple):
    """What the interleaved code of a wave yields at a barrier: its active lanes there and
    the barrier op (:mod:`kernels.emu.schedule` runs :func:`barrier` once all waves arrived)."""

    mask: np.ndarray
    info: tuple


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


def uniform(x, m):
    """Python int if ``x`` is the same in every active lane, else None."""
    if ndim(x) == 0:
        return int(x)
    v = x[m]
    if v.size == 0:
        return 0
    f = v[0]
    if (v == f).all():
        return int(f)
    return None


def for_bounds(lb, ub, st, m, unsigned):
    """``range`` arguments of an ``scf.for`` whose bounds are uniform over the active
    lanes, else None (the loop then runs per lane)."""
    lo, hi, s = uniform(lb, m), uniform(ub, m), uniform(st, m)
    if lo is None or hi is None or s is None:
        return None
    if unsigned:
        lo &= (1 << 64) - 1
        hi &= (1 << 64) - 1
    if s <= 0:
        if lo < hi:
            raise UnsupportedOpError("scf.for with non-positive step", op="scf.for")
        return (0, 0, 1)
    return (lo, hi, s)


def divergent_switch(loc):
    """The error of an ``scf.index_switch`` whose selector differs between active lanes."""
    return UnsupportedOpError("divergent scf.index_switch", op="scf.index_switch", loc=loc)


def sel(c, a, b):
    """``select`` of scalars or lane arrays."""
    if ndim(c) == 0:
        return a if c else b
    return np.where(c, a, b)


def selv(c, a, b, rank):
    """select on vector values: a per-lane (L,) condition broadcasts over the trailing dims."""
    if ndim(c) == 0:
        return a if c else b
    c = np.asarray(c)
    return np.where(c.reshape(c.shape + (1,) * rank), a, b)


def merge(c, a, b, rank):
    """scf.if result merge: lanes with c take a, others b."""
    if rank == 0:
        return np.where(c, a, b)
    return np.where(np.asarray(c).reshape(np.shape(c) + (1,) * rank), a, b)


def merge_mask(mk, new, old, rank):
    """:func:`merge`, where a missing ``old`` (None) takes ``new`` whole."""
    if old is None:
        return new
    return merge(mk, new, old, rank)


def merge_any(c, a, b):
    """Per-lane merge of aggregates (structs, buffer descriptors)."""
    if a is b:
        return a
    if isinstance(a, BufferResource):
        if a.stride != b.stride or a.flags != b.flags:
            raise UnsupportedOpError("per-lane choice between buffer descriptors with different "
                                     "stride/flags", op="scf.if")
        nr = np.where(c, a.num_records, b.num_records).astype(np.int64) if a.num_records != b.num_records \
            else a.num_records
        return BufferResource(np.where(c, a.base, b.base).astype(np.int64), a.stride, nr, a.flags)
    if isinstance(a, tuple):
        return tuple(merge_any(c, x, y) for x, y in zip(a, b))
    return np.where(c, a, b)


def keep(mk, new, old, rank):
    """Loop-carried value of a per-lane ``scf.for``: lanes in ``mk`` take ``new``."""
    if isinstance(new, tuple):
        return merge_any(mk, new, old)
    return merge(mk, new, old, rank)


def check_div(X, b, m, info):
    """Sanitizer: integer division or remainder by zero in an active lane (reported)."""
    if ndim(b) == 0:
        if b != 0:
            return
        lanes = np.flatnonzero(m) if ndim(m) else np.zeros(1, np.int64)
        if not lanes.size:
            return
    else:
        zero = (np.asarray(b) == 0) & (m if ndim(b) == 1 else m[:, None])
        if ndim(b) > 1:
            zero = zero.any(axis=tuple(range(1, ndim(b))))
        lanes = np.flatnonzero(zero)
        if not lanes.size:
            return
    X.report("division-by-zero", "integer division or remainder by zero in an active lane", info,
             lane=int(lanes[0]), count=int(lanes.size))
