"""Cross-lane ops of generated code: the AMD semantics of :mod:`kernels.emu.amdgpu`
applied to the workgroup's lane arrays (uniform operands broadcast first)."""
from __future__ import annotations

from .. import amdgpu
from .lanes import full


def dpp(X, old, src, m, ctrl, row_mask, bank_mask, bound_ctrl, rank):
    """``rocdl.update.dpp``."""
    if rank == 0 and X.full and (m is X.m0 or m.all()):
        return amdgpu.dpp(old, full(X, src, rank), ctrl, row_mask, bank_mask, bound_ctrl, m, X.W)
    return amdgpu.dpp(full(X, old, rank), full(X, src, rank), ctrl, row_mask, bank_mask, bound_ctrl, m, X.W)


def bpermute(X, addr, src, m, rank):
    """``rocdl.ds_bpermute``."""
    return amdgpu.bpermute(full(X, addr), full(X, src, rank), m, X.W)


def shuffle(X, val, off, width, mode, m, rank):
    """``gpu.shuffle``: (value, valid)."""
    return amdgpu.shuffle(full(X, val, rank), off, width, mode, m, X.W)


def ballot(X, pred, m, dt):
    """``rocdl.ballot``."""
    return amdgpu.ballot(full(X, pred), m, X.W, dt)


def readfirstlane(X, val, m, rank):
    """``rocdl.readfirstlane``."""
    return amdgpu.readfirstlane(full(X, val, rank), m, X.W)


def readlane(X, val, lane, m, rank):
    """``rocdl.readlane``."""
    return amdgpu.readlane(full(X, val, rank), lane, m, X.W)


def mbcnt_lo(X, mask, base):
    """``rocdl.mbcnt.lo``."""
    return amdgpu.mbcnt_lo(mask, base, X.lane64)


def mbcnt_hi(X, mask, base):
    """``rocdl.mbcnt.hi``."""
    return amdgpu.mbcnt_hi(mask, base, X.lane64)
