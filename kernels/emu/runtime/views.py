"""The sanitizer's check of ``memref`` accesses: every index inside its view's shape.

Each memref view is an allocation of its own: an index past a dimension is
reported (check ``lds-view-out-of-bounds``) even where the byte it addresses
still lies inside the workgroup's LDS, which is how an array overrun inside
LDS shows.  The access itself then proceeds through the ordinary LDS path
(:func:`~.access.load` / :func:`~.access.store`), as the hardware would run it.
"""
from __future__ import annotations

import numpy as np

from .lanes import lanes


def view_check(X, m, idxs, shape, addr, view, info):
    """Report the active lanes whose indices ``idxs`` (one per dimension, each uniform or a
    lane array) fall outside ``shape``; ``addr`` is the accessed LDS byte offset (for the
    report), ``view`` the view's description (its name and type)."""
    bad = False
    for i, d in zip(idxs, shape):
        bad = bad | (i < 0) | (i >= d)
    if np.ndim(bad) == 0:
        if not bad:
            return
        idx = lanes(X, m)
        if idx.shape[0] == 0:
            return
        j, count = int(idx[0]), int(idx.shape[0])
    else:
        bad = bad & m
        if not bad.any():
            return
        j, count = int(np.flatnonzero(bad)[0]), int(np.count_nonzero(bad))
    at = [int(i if np.ndim(i) == 0 else i[j]) for i in idxs]
    a = int(addr if np.ndim(addr) == 0 else addr[j])
    X.report("lds-view-out-of-bounds",
             f"memref access at index {at} is outside view {view} (shape {'x'.join(map(str, shape)) or 'scalar'})",
             info, lane=j, addr=f"LDS+{a}", count=count)
