"""What travels from the memory model to its checkers: one :class:`Access` per access.

An :class:`Accessor` names who makes an access (workgroup, wave, barrier epoch,
lanes); the runtime builds it (:func:`kernels.emu.runtime.lanes.who`).  The
memory model adds what the access is (op, site, byte offsets, size) and hands
the resulting :class:`Access` to each installed checker's hooks.

The codes the checkers' shadows hold besides real wave and workgroup ids
(>= 0) are defined here, once.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..arrays import ndim
from ..findings import RAISE

#: Kinds of access (``Access.op``).
LOAD, STORE, ATOMIC = "load", "store", "atomic"

#: Wave codes besides real wave ids (>= 0): no wave named (the access is not checked
#: between waves of one workgroup), several waves (readers of several waves, or one uniform
#: access by several), every wave (each stored the same value itself: a uniform store).
NO_WAVE, MANY_WAVES, ALL_WAVES = -1, -2, -4

#: Workgroup codes of the global shadows besides real workgroup ids (>= 0).
NO_WORKGROUP, SEVERAL_WORKGROUPS = -1, -2

#: A word of the LDS written-byte map (four bools viewed as one uint32) whose four bytes are written.
WORD_WRITTEN = 0x01010101


class Accessor(NamedTuple):
    """Who makes an access: its ``workgroup``, ``wave`` in it (None: no check between waves),
    the workgroup's barrier ``epoch`` and its ``lanes`` (for findings; None: unnamed).  Each is
    a scalar or one value per accessing lane."""

    workgroup: object = 0
    wave: object = None
    epoch: object = 0
    lanes: object = None

    def select(self, sel) -> Accessor:
        """The accessor of the accesses ``sel`` (a mask or positions; None: all)."""
        if sel is None:
            return self
        return Accessor(subset(self.workgroup, sel), subset(self.wave, sel), subset(self.epoch, sel),
                        subset(self.lanes, sel))


#: The accessor of a test or host access: workgroup 0, no wave, epoch 0, no lanes.
NOBODY = Accessor()


class Access(NamedTuple):
    """One memory access as the checkers see it.

    ``op`` (:data:`LOAD`, :data:`STORE`, :data:`ATOMIC`); ``site``: the op's ``(name,
    location)`` (a :class:`ViewSite` for an access through a memref view); ``offsets``: byte
    offsets in the memory (an allocation's for global memory; for LDS physical offsets, or
    the workgroup's own ones for the bounds check), an int64 array, or an int for a uniform
    access (one address for every accessing lane); ``nbytes``: the size of each; then the
    accessor's fields (:class:`Accessor`; in LDS ``workgroup`` and ``epoch`` are None, the
    memory's epochs hold them, and ``wave`` is the wave of each lane, or the tuple of the
    waves of a uniform access); ``lanes``: one per offset, or every accessing lane of a
    uniform access (findings name the first, or the first of the wave concerned);
    ``weights``: how many lanes each access stands for in reported counts (None: one each)."""

    op: str
    site: tuple
    offsets: object
    nbytes: int
    workgroup: object = 0
    wave: object = None
    epoch: object = 0
    lanes: object = None
    weights: object = None

    def select(self, sel) -> Access:
        """The accesses ``sel`` of this one (a mask or positions; None: all)."""
        if sel is None:
            return self
        return Access(self.op, self.site, self.offsets[sel], self.nbytes, subset(self.workgroup, sel),
                      subset(self.wave, sel), subset(self.epoch, sel), subset(self.lanes, sel), subset(self.weights, sel))


#: ``new_access(fields)``: the :class:`Access` of a tuple of all its nine fields, in order (the
#: accessors' fast construction: no keyword or default handling).
new_access = functools.partial(tuple.__new__, Access)


class ViewSite(tuple):
    """The site of an access through a memref view that bounds it: an LDS access outside the
    bounds given with it is reported as :meth:`overrun` says."""

    def overrun(self, addr: int, nbytes: int) -> tuple[str, str]:   # pragma: no cover - abstract
        """``(check, message)`` of an access of ``nbytes`` at LDS byte ``addr`` outside the view."""
        raise NotImplementedError


class Checker:
    """Base of the checkers: ``report`` is the launch's Reporter, set by the memory that
    installs the checker (raising until then)."""

    report = RAISE


# ---------------------------------------------------------------- helpers of the model and the checkers
_UW = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def byte_index(offs, size):
    """Byte offsets of accesses of ``size`` bytes at ``offs``: ``offs`` itself for size 1, else flat."""
    if size == 1:
        return offs
    return (offs[:, None] + np.arange(size, dtype=np.int64)[None, :]).reshape(-1)


def subset(x, sel):
    """``x[sel]`` for a per-access array; scalars (and ``sel`` None) pass through."""
    return x if sel is None or x is None or ndim(x) == 0 else x[sel]


def at(x, j):
    """Element ``j`` of a per-access array as an int; a scalar as it is (None stays None)."""
    if x is None:
        return None
    return int(x[j]) if ndim(x) else int(x)


def accesses(bad, nbytes):
    """How many accesses of ``nbytes`` bytes the per-byte flags ``bad`` touch (flat, or one row per access)."""
    if bad.ndim == 2:
        return int(np.count_nonzero(bad.any(1)))
    if nbytes == 1 or bad.shape[0] % nbytes:
        return int(np.count_nonzero(bad))
    return int(np.count_nonzero(bad.reshape(-1, nbytes).any(1)))


def weighted(bad, weights):
    """How many lanes the flagged accesses ``bad`` stand for (each one lane when ``weights`` is None)."""
    if weights is None:
        return int(np.count_nonzero(bad))
    return int(np.asarray(weights)[bad].sum())


def first_lane_of_wave(lanes, wave, wave_size):
    """The first of the (ascending) ``lanes`` in ``wave``; None when ``lanes`` is None."""
    if lanes is None:
        return None
    return int(lanes[np.searchsorted(lanes, wave * wave_size)])
