"""Atomic accesses to LDS and global memory: applied in order, handed to the checkers.

:func:`lds_atomic` and :func:`global_atomic` apply the accesses of one atomic
instruction (each of one element of ``nbytes``) in the order given, through
a read-modify-write ``rmw(keys, cur, vals, cmps) -> (old, new, ok)`` on raw
bytes (:func:`kernels.emu.atomic_ops.apply` behind it): every access gets the
bytes its address held before its own update.

With the sanitizer on, each instruction goes to the memory's checkers as one
:class:`~kernels.emu.memory.access.Access` of op ``ATOMIC``:

* bounds: an atomic outside its LDS allocation or outside every global
  allocation is reported as any access is; when recorded, it acts as the
  hardware does: an LDS atomic inside the workgroup's LDS still applies, one
  past it or outside every tensor is dropped and returns 0;
* uninitialized reads (``on_atomic``): an atomic reading LDS bytes never
  written in the launch is an ``uninitialized-lds`` finding, one reading an
  output-only tensor's bytes not written in this launch
  ``uninitialized-output``; the atomic initializes them;
* races (``on_atomic``): atomics never race with atomics; an atomic and a
  plain access race as :mod:`kernels.emu.memory.atomic_races` says.
"""
from __future__ import annotations

import numpy as np

from . import provenance
from .memory import ATOMIC, NOBODY
from .memory.access import byte_index, new_access, subset


def _last_writes(keys):
    """Positions of the last access to each distinct key (the one that leaves the final value)."""
    rev = keys[::-1]
    _, first = np.unique(rev, return_index=True)
    return keys.shape[0] - 1 - first


def _rmw_bytes(mem, phys, nbytes, rmw, vals, cmps):
    """Apply ``rmw`` to the byte array ``mem`` at byte offsets ``phys``: the old bytes of each access."""
    idx = byte_index(phys, nbytes)
    cur = mem[idx].reshape(-1, nbytes)
    old, new, ok = rmw(phys, cur, vals, cmps)
    last = _last_writes(phys)
    mem[byte_index(phys[last], nbytes)] = new[last].reshape(-1)
    return old, ok


def _zeros(n, nbytes):
    return np.zeros((n, nbytes), np.uint8), np.zeros(n, bool)


def lds_atomic(lds, offs, lanes, lo, hi, info, nbytes, rmw, vals, cmps=None):
    """Atomic accesses of ``nbytes`` at LDS offsets ``offs`` by ``lanes`` (bounded by ``[lo, hi)``), applied in
    the order given; returns ``(old bytes (n, nbytes), success (n,))``."""
    n = offs.shape[0]
    outside = lds.outside(offs, nbytes, lo, hi, info, lanes)
    inside = slice(None)
    if outside is not None or not lds.sanitize:
        inside = (offs >= 0) & (offs + nbytes <= lds.nbytes)          # the hardware drops the rest
        if outside is not None:
            unchecked = outside & inside
            if unchecked.any():
                old, ok = _zeros(n, nbytes)
                old[unchecked], ok[unchecked] = _rmw_bytes(lds.mem, lds.phys(offs[unchecked], lanes[unchecked]),
                                                           nbytes, rmw, vals[unchecked], subset(cmps, unchecked))
                rest = inside & ~outside
                if rest.any():
                    old[rest], ok[rest] = lds_atomic(lds, offs[rest], lanes[rest], lo, hi, info, nbytes, rmw,
                                                     vals[rest], subset(cmps, rest))
                return old, ok
            inside &= ~outside
        if not inside.any():
            return _zeros(n, nbytes)
        if inside.all():
            inside = slice(None)
    o, ln, v, c = offs[inside], lanes[inside], vals[inside], subset(cmps, inside)
    phys = lds.phys(o, ln)
    if lds.sanitize:
        acc = new_access((ATOMIC, info, phys, nbytes, None, lds.waves(ln), None, ln, None))
        lds.uninit.on_atomic(acc)
        lds.race.on_atomic(acc)
    old, ok = _rmw_bytes(lds.mem, phys, nbytes, rmw, v, c)
    if isinstance(inside, slice):
        return old, ok
    out, oks = _zeros(n, nbytes)
    out[inside], oks[inside] = old, ok
    return out, oks


def global_atomic(gmem, addr, nbytes, rmw, vals, cmps, info, by=NOBODY):
    """Atomic accesses of ``nbytes`` at host addresses ``addr`` by ``by`` (an
    :class:`~kernels.emu.memory.Accessor`), applied in the order given; returns
    ``(old bytes (n, nbytes), success (n,))``."""
    n = addr.shape[0]
    k, offs, outside = gmem.locate(addr, nbytes, info, by.lanes)
    if outside is not None:                       # recorded: those accesses are dropped and return 0
        old, ok = _zeros(n, nbytes)
        keep = ~outside
        if keep.any():
            old[keep], ok[keep] = global_atomic(gmem, addr[keep], nbytes, rmw, vals[keep], subset(cmps, keep), info,
                                                by.select(keep))
        return old, ok
    old, ok = _zeros(n, nbytes)
    for a, o, sel in gmem.groups(k, offs):
        v, c = (vals, cmps) if sel is None else (vals[sel], subset(cmps, sel))
        o = np.asarray(o, np.int64)
        if gmem.sanitize:
            acc = new_access((ATOMIC, info, o, nbytes) + by.select(sel) + (None,))
            if a.output_only:
                gmem.uninit.on_atomic(a, acc)
            gmem.race.on_atomic(a, acc)
        r, s = _rmw_bytes(a.bytes, o, nbytes, rmw, v, c)
        if provenance.active():
            provenance.note(a, byte_index(o, nbytes), gmem.report.kernel, info)
        if sel is None:
            old, ok = r, s
        else:
            old[sel], ok[sel] = r, s
    return old, ok
