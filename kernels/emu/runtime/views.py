"""The sanitizer's check of ``memref`` accesses: every index inside its view's shape.

Each memref view is an allocation of its own: an index past a dimension is
reported (check ``lds-view-out-of-bounds``) even where the byte it addresses
still lies inside the workgroup's LDS, which is how an array overrun inside
LDS shows.  The access itself then proceeds through the ordinary LDS path
(:func:`~.access.load` / :func:`~.access.store`), as the hardware would run it.

Two ways to check, chosen when the kernel is prepared:

* :class:`ViewAccess` -- a one-dimensional view at a known byte offset that
  lies wholly inside its ``memref.global``: an index is inside the shape
  exactly when the accessed bytes are inside the view's byte range, so the
  LDS path's own range check, given the view's range as the allocation, is
  the index check.  The access's op info is a :class:`ViewAccess`, and the
  LDS memory reports an access outside that range through
  :meth:`ViewAccess.overrun` (as ``lds-view-out-of-bounds``, naming the view).
* :func:`view_check` -- every other view: the indices are checked against the
  shape first, then the bytes against the root global by the LDS path.
"""
from __future__ import annotations

import numpy as np

from ..memory import ViewSite
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


class ViewAccess(ViewSite):
    """The ``(op name, source location)`` of an access through a one-dimensional view whose bytes
    ``[lo, lo + extent)`` lie inside its root global; ``step`` is the byte distance between
    elements, ``view`` the view's description and ``size`` its one dimension."""

    def __new__(cls, op, loc, view, size, lo, step):
        self = super().__new__(cls, (op, loc))
        self.view, self.size, self.lo, self.step = view, size, lo, step
        return self

    def __reduce__(self):
        return (ViewAccess, (self[0], self[1], self.view, self.size, self.lo, self.step))

    def overrun(self, addr: int, nbytes: int):
        """``(check, message)`` of an access of ``nbytes`` at LDS byte ``addr`` outside the view."""
        i = (addr - self.lo) // self.step
        return ("lds-view-out-of-bounds",
                f"memref access at index [{i}] is outside view {self.view} (shape {self.size})")
