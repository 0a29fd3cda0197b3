"""Global memory of a launch: the caller's tensors, with checker hooks.

Global memory is the caller's CPU torch tensors: each is an :class:`Allocation`
(its whole storage, ``[start, end)`` in the host address space) viewed as a
NumPy byte array, so stores land in the tensors.  Raw pointers are host
addresses.  An access outside every allocation has no host memory behind it:
:class:`~.bounds.GlobalBounds` reports it whether the sanitizer is on or not;
when the reporter records instead of raising, such loads read 0 and such
stores are dropped.

With ``sanitize`` on, the checkers :class:`~.uninit.OutputInit` (output-only
tensors read before written) and :class:`~.global_race.GlobalRace` are
installed; the accessors hand them one :class:`~.access.Access` per access
(``on_load``, ``on_store``, ``on_launch_begin``; atomics through
:mod:`kernels.emu.atomic_memory`).  With it off the accessors call no checker.
"""
from __future__ import annotations

import bisect
import ctypes

import numpy as np

from .. import provenance
from ..findings import RAISE
from .access import _UW, LOAD, NOBODY, STORE, byte_index, new_access
from .bounds import GlobalBounds
from .checked import CheckedMemory
from .global_race import GlobalRace
from .uninit import OutputInit


class Allocation:
    """One caller tensor's storage: host bytes ``[start, end)``, its ``name`` for findings, and
    whether it is ``output_only`` (its bytes count as unwritten at each launch)."""

    __slots__ = ("start", "end", "bytes", "name", "output_only", "_views")

    def __init__(self, start, nbytes, name, output_only=False):
        self.start = int(start)
        self.end = int(start) + int(nbytes)
        self.name = name
        self.output_only = output_only
        if nbytes:
            buf = (ctypes.c_uint8 * int(nbytes)).from_address(int(start))
            self.bytes = np.ctypeslib.as_array(buf)
        else:
            self.bytes = np.zeros(0, np.uint8)
        self._views = {}

    def view(self, nbytes):
        """The allocation as an array of nbytes-wide unsigned words (aligned accesses)."""
        v = self._views.get(nbytes)
        if v is None:
            n = self.bytes.shape[0] // nbytes * nbytes
            v = self.bytes[:n].view(_UW[nbytes])
            self._views[nbytes] = v
        return v


def _aligned(o, nbytes):
    return nbytes == 1 or (nbytes in _UW and not np.count_nonzero(o & (nbytes - 1)))


class GlobalMemory(CheckedMemory):
    """The caller's tensors as the global address space of a launch.

    ``uninit`` and ``race`` are the installed checkers (None while ``sanitize`` is off),
    ``bounds`` the always-on report of accesses outside every allocation."""

    def __init__(self, allocations, sanitize=True):
        self.allocs = sorted(allocations, key=lambda a: a.start)
        self.starts = np.array([a.start for a in self.allocs], dtype=np.int64)
        self.ends = np.array([a.end for a in self.allocs], dtype=np.int64)
        self._start_list = [a.start for a in self.allocs]
        self._disjoint = all(a.end <= b.start for a, b in zip(self.allocs, self.allocs[1:]))
        self.bounds = GlobalBounds(self.allocs)
        self.uninit = self.race = None
        self._report = RAISE
        self.sanitize = sanitize
        self._last = None
        self._last_k = 0

    # -- checkers
    @property
    def sanitize(self) -> bool:
        """Whether the checkers are installed (setting it installs fresh ones or removes them)."""
        return self.race is not None

    @sanitize.setter
    def sanitize(self, on: bool) -> None:
        if on and self.race is None:
            self.uninit, self.race = OutputInit(self.allocs), GlobalRace(self.allocs)
        elif not on:
            self.uninit = self.race = None
        self.report = self._report

    def begin_launch(self):
        """A new launch: the checkers forget the previous one."""
        if self.race is not None:
            self.uninit.on_launch_begin()
            self.race.on_launch_begin()

    # -- address resolution
    def locate(self, addr, size, info, lanes=None):
        """Map host addresses to (allocation index array, byte offsets, outside).

        An access outside every allocation is reported; when the reporter records
        instead of raising, ``outside`` masks those accesses (the caller reads 0 for
        them and drops their stores), else it is None."""
        addr = np.asarray(addr, dtype=np.int64)
        if len(self.allocs) > 1 and addr.shape[0]:
            k0 = self.holder(int(addr.min()), int(addr.max()) + size)
            if k0 is not None:
                return k0, addr - self.allocs[k0].start, None
        if len(self.allocs) == 1:
            a = self.allocs[0]
            ok = (addr >= a.start) & (addr + size <= a.end)
            if not ok.all():
                return None, None, self.bounds.outside(addr, ~ok, size, info, lanes)
            return None, addr - a.start, None
        k = np.searchsorted(self.starts, addr, side="right") - 1
        ok = (k >= 0) & (addr + size <= self.ends[np.maximum(k, 0)])
        if not ok.all():
            return None, None, self.bounds.outside(addr, ~ok, size, info, lanes)
        return k, addr - self.starts[k], None

    def holder(self, lo, hi):
        """Index of the allocation holding the host addresses ``[lo, hi)``, None when none
        holds them all (the one of the previous access is tried first)."""
        k0 = self._last_k                   # most accesses stay in the allocation of the previous one
        if not self.allocs:
            return None
        a = self.allocs[k0]
        if a.start <= lo and hi <= a.end:
            return k0
        if self._disjoint:                  # the last allocation starting at or before lo
            k0 = bisect.bisect_right(self._start_list, lo) - 1
            if k0 >= 0 and hi <= self.allocs[k0].end:
                self._last_k = k0
                return k0
            return None
        for k0, a in enumerate(self.allocs):
            if a.start <= lo and hi <= a.end:
                self._last_k = k0
                return k0
        return None

    def _find1(self, addr, size, info, lanes):
        """The allocation holding ``[addr, addr + size)``; None (after a recorded
        report) when none does."""
        a = self._last
        if a is not None and a.start <= addr and addr + size <= a.end:
            return a
        for a in self.allocs:
            if a.start <= addr and addr + size <= a.end:
                self._last = a
                return a
        self.bounds.outside(np.array([addr], np.int64), np.array([True]), size, info, lanes)
        return None

    def name_at(self, addr) -> str:
        """Name of the allocation holding byte ``addr`` ("an unknown buffer" if none)."""
        for a in self.allocs:
            if a.start <= addr < a.end:
                return a.name
        return "an unknown buffer"

    def groups(self, k, offs):
        """``(allocation, its byte offsets, selection)`` per allocation of :meth:`locate`'s ``k``
        (selection None: every access)."""
        if k is None:
            yield self.allocs[0], offs, None
            return
        if isinstance(k, int):
            yield self.allocs[k], offs, None
            return
        for j in np.unique(k):
            sel = k == j
            yield self.allocs[j], offs[sel], sel

    # -- uniform accesses: one address for every active lane of one workgroup
    def read_uniform(self, addr, nbytes, info, by=NOBODY):
        """The ``nbytes`` bytes at host address ``addr``, read by every lane of ``by`` (its
        ``lanes`` the accessing lanes; findings name the first)."""
        a = self._find1(addr, nbytes, info, by.lanes)
        if a is None:
            return np.zeros(nbytes, np.uint8)
        o = addr - a.start
        if self.race is not None:
            acc = new_access((LOAD, info, o, nbytes) + by + (None,))
            if a.output_only:
                self.uninit.on_uniform_load(a, acc)
            self.race.on_uniform_load(a, acc)
        return a.bytes[o:o + nbytes].copy()

    def write_uniform(self, addr, raw, info, by=NOBODY):
        """Store ``raw`` at host address ``addr`` from every lane of ``by`` (one value)."""
        nbytes = raw.shape[0]
        a = self._find1(addr, nbytes, info, by.lanes)
        if a is None:
            return
        o = addr - a.start
        if self.race is not None:
            acc = new_access((STORE, info, o, nbytes) + by + (None,))
            if not np.array_equal(a.bytes[o:o + nbytes], raw):
                self.race.on_uniform_store(a, acc)
            if a.output_only:
                self.uninit.on_uniform_store(a, acc)
        a.bytes[o:o + nbytes] = raw
        if provenance.active():
            provenance.note(a, slice(o, o + nbytes), self._report.kernel, info)

    # -- per-lane accesses
    def read(self, addr, nbytes, info, by=NOBODY):
        """Bytes (n, nbytes) at host addresses ``addr`` (1-D int64), read by ``by`` (an
        :class:`~.access.Accessor`: scalars, or one value per address)."""
        k, offs, outside = self.locate(addr, nbytes, info, by.lanes)
        if outside is not None:                 # recorded: those lanes read 0
            out = np.zeros((addr.shape[0], nbytes), np.uint8)
            ok = ~outside
            if ok.any():
                out[ok] = self.read(addr[ok], nbytes, info, by.select(ok))
            return out
        if not isinstance(k, np.ndarray):       # one allocation
            return self.read_at(self.allocs[k or 0], offs, nbytes, info, by)
        out = np.empty((addr.shape[0], nbytes), np.uint8)
        for a, o, sel in self.groups(k, offs):
            out[sel] = self.read_at(a, o, nbytes, info, by.select(sel))
        return out

    def read_at(self, a, o, nbytes, info, by=NOBODY):
        """:meth:`read` of accesses all inside allocation ``a``, at its byte offsets ``o`` (int64)."""
        if self.race is not None:
            acc = new_access((LOAD, info, o, nbytes) + by + (None,))
            if a.output_only:
                self.uninit.on_load(a, acc)
            self.race.on_load(a, acc)
        if _aligned(o, nbytes):
            return a.view(nbytes)[o // nbytes].view(np.uint8).reshape(-1, nbytes)
        return a.bytes[byte_index(o, nbytes)].reshape(-1, nbytes)

    def write(self, addr, data, info, by=NOBODY):
        """Store ``data`` (n, nbytes) uint8 at host addresses ``addr`` (accessor as in :meth:`read`)."""
        nbytes = data.shape[1]
        k, offs, outside = self.locate(addr, nbytes, info, by.lanes)
        if outside is not None:                 # recorded: those stores are dropped
            ok = ~outside
            if ok.any():
                self.write(addr[ok], data[ok], info, by.select(ok))
            return
        for a, o, sel in self.groups(k, offs):
            self.write_at(a, o, data if sel is None else data[sel], info, by.select(sel))

    def write_at(self, a, o, d, info, by=NOBODY):
        """:meth:`write` of accesses all inside allocation ``a``, at its byte offsets ``o`` (int64).
        The race check sees the stores that change the bytes (a store leaving them as they were
        is not a write)."""
        nbytes = d.shape[1]
        if _aligned(o, nbytes):
            v = a.view(nbytes)
            wi = o // nbytes
            dw = np.ascontiguousarray(d).view(_UW[nbytes]).reshape(-1)
            if self.race is not None:
                acc = new_access((STORE, info, o, nbytes) + by + (None,))
                self.race.on_store(a, acc, v[wi] != dw)
                if a.output_only:
                    self.uninit.on_store(a, acc)
            v[wi] = dw
            if provenance.active():
                provenance.note(a, byte_index(o, nbytes), self._report.kernel, info)
            return
        idx = byte_index(o, nbytes)
        if self.race is not None:
            acc = new_access((STORE, info, o, nbytes) + by + (None,))
            self.race.on_store(a, acc, (a.bytes[idx].reshape(-1, nbytes) != d).any(axis=1))
            if a.output_only:
                self.uninit.on_store(a, acc)
        a.bytes[idx] = d.reshape(-1)
        if provenance.active():
            provenance.note(a, idx, self._report.kernel, info)
