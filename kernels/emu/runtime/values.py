"""Vectors, aggregates and casts of per-lane values in generated code.

A vector value of shape ``S`` is an array of shape ``S`` when uniform, or
``(L,) + S`` per lane: helpers index vectors from the end so both work.
"""
from __future__ import annotations

import numpy as np


def widen_offset(x):
    """A 32-bit pointer (LDS, private) loaded from memory, as the interpreter's int64 address."""
    return x.astype(np.int64)


def ext_i1_signed(x, dt):
    """``extsi`` of an ``i1``: true becomes -1."""
    return (-np.asarray(x).astype(dt)).astype(dt) if np.ndim(x) else dt(-int(x))


def insert(agg, pos, val):
    """``llvm.insertvalue``: ``agg`` (nested tuples) with ``val`` at index path ``pos``."""
    if not pos:
        return val
    lst = list(agg)
    lst[pos[0]] = insert(lst[pos[0]], pos[1:], val)
    return tuple(lst)


def broadcast(x, shape):
    """``vector.broadcast`` of a scalar (uniform or per lane) to ``shape``."""
    x = np.asarray(x)
    return np.broadcast_to(x.reshape(x.shape + (1,) * len(shape)), x.shape + shape).copy()


def vinsert(vec, val, pos, rank):
    """``vector.insert`` of ``val`` at the static position ``pos`` of a rank-``rank`` vector."""
    vec = np.asarray(vec)
    val = np.asarray(val)
    vl = vec.ndim - rank
    al = val.ndim - (rank - len(pos))
    if al > vl:
        vec = np.broadcast_to(vec, val.shape[:al] + vec.shape)
    out = np.array(vec, copy=True)
    out[(Ellipsis,) + tuple(pos) + (slice(None),) * (rank - len(pos))] = val
    return out


def vinsert_dyn(vec, val, idx):
    """``vector.insertelement`` at a dynamic (uniform or per lane) index of a 1-D vector."""
    out = np.array(np.broadcast_to(vec, np.broadcast(np.asarray(vec)[..., 0], val).shape + np.shape(vec)[-1:]),
                   copy=True)
    i = np.asarray(idx)
    if i.ndim == 0:
        out[..., int(i)] = val
    else:
        out[np.arange(out.shape[0]), i] = val
    return out


def vextract_dyn(vec, idxs, rank):
    """``vector.extract`` / ``extractelement`` at one dynamic (uniform or per lane) index."""
    vec = np.asarray(vec)
    if len(idxs) == 1:
        i = np.asarray(idxs[0])
        if i.ndim == 0:
            return vec[..., int(i)]
        if vec.ndim == 1:
            return vec[i]
        return vec[np.arange(vec.shape[0]), i]
    raise NotImplementedError("multi-dim dynamic vector.extract")


def from_elements(els, shape, dt):
    """``vector.from_elements``: the elements (scalars or lane arrays) as a vector."""
    arrs = [np.asarray(e) for e in els]
    n = max(a.ndim for a in arrs)
    if n == 0:
        return np.array([e for e in els], dtype=dt).reshape(shape)
    L = max(a.shape[0] for a in arrs if a.ndim)
    st = np.stack([np.broadcast_to(a, (L,)) for a in arrs], axis=-1).astype(dt)
    return st.reshape((L,) + shape)


def shaped_bitcast(x, sdt, s_rank, ddt, d_shape):
    """Bitcast whose source and result shapes differ (scalar <-> vector): the
    leading (lane) axes are kept, only the trailing ``s_rank`` axes are reinterpreted."""
    a = np.array(np.asarray(x), dtype=sdt, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
    lead = a.shape[:a.ndim - s_rank]
    out = a.reshape(lead + (-1,)).view(ddt).reshape(lead + tuple(d_shape))
    return out[()] if out.ndim == 0 else out


def vbitcast(x, sdt, ddt, n_out):
    """``vector.bitcast`` of 1-D vectors: the last axis reinterpreted as ``n_out`` elements."""
    a = np.ascontiguousarray(np.asarray(x).astype(sdt))
    return a.view(ddt).reshape(a.shape[:-1] + (n_out,))


def reshape(x, sshape, dshape):
    """``vector.shape_cast`` from ``sshape`` to ``dshape`` (leading lane axis kept)."""
    x = np.asarray(x)
    lead = x.shape[:x.ndim - len(sshape)]
    return x.reshape(lead + dshape)
