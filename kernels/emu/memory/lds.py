"""LDS of the workgroups of a batch, with checker hooks.

One byte array per workgroup (``nbytes`` = the module's static ``addrspace(3)``
globals laid out in order, plus the launch's dynamic shared memory); a batch of
``copies`` workgroups holds one copy each, ``stride`` bytes apart.  LDS
pointers are byte offsets; a flat (generic) pointer to LDS is
:data:`kernels.emu.amdgpu.LDS_APERTURE` + offset.  Each access comes with
``[lo, hi)``: the allocation (global symbol) its pointer was derived from when
that is known statically, else the workgroup's LDS.

Without checkers the accessors do what the hardware does: reads past the
workgroup's LDS give 0, writes past it are dropped.  With ``sanitize`` on,
:class:`~.bounds.LdsBounds`, :class:`~.uninit.LdsUninit` and
:class:`~.lds_race.LdsRace` are installed and each access is handed to them as
an :class:`~.access.Access` (bounds first: an access it reports as outside
``[lo, hi)`` then acts as on the hardware, unchecked otherwise).  A barrier
advances the workgroups' ``epoch`` (the race check's barrier count).
"""
from __future__ import annotations

import numpy as np

from ..arrays import ndim
from ..findings import RAISE
from .access import _UW, LOAD, STORE, Access, byte_index, new_access
from .bounds import LdsBounds
from .checked import CheckedMemory
from .lds_race import LdsRace
from .uninit import LdsUninit


class LDS(CheckedMemory):
    """Shared memory of the workgroups of a batch.  ``bounds``, ``uninit``, ``race``: the
    installed checkers (None without the sanitizer)."""

    def __init__(self, nbytes, wave_size, sanitize=True, copies=1, lanes_per_wg=0):
        """``copies`` workgroups run together (batched); lane l belongs to workgroup
        ``l // lanes_per_wg`` and its LDS starts at ``(l // lanes_per_wg) * nbytes``."""
        self.nbytes = nbytes
        self.copies = copies
        self.Lp = lanes_per_wg
        self.stride = (nbytes + 15) // 16 * 16          # bytes between workgroup copies
        self.wpc = max(self.stride // 4, 1)             # words per copy
        total = self.stride * copies if copies > 1 else self.stride
        self.mem = np.zeros(total, np.uint8)
        self.mem32 = self.mem.view(np.uint32)
        self.sanitize = sanitize
        self.W = wave_size
        self.epoch = np.ones(copies, np.int32)          # barrier epoch per workgroup copy
        self._lcache = (None, None, None)
        self.bounds = self.uninit = self.race = None
        if sanitize:
            self.bounds = LdsBounds()
            self.uninit = LdsUninit(total)
            self.race = LdsRace((total + 3) // 4, self.epoch, self.wpc, self.stride, wave_size,
                                self.uninit.written)
        self.report = RAISE

    def reset(self, garbage):
        """New workgroup: contents are ``garbage``, shadows cleared.  ``garbage`` is a
        32-bit word repeated over the memory (little-endian), or None: the bytes stay as
        the previous workgroup left them.  The shadows never depend on the bytes: every
        byte is unwritten for the uninitialized-read check and every first store counts
        as a write for the race check, whatever the contents."""
        if garbage is not None:
            self.mem32[:] = garbage
        self.epoch[:] = 1
        if self.sanitize:
            self.uninit.on_reset()
            self.race.on_reset()

    def barrier(self, copies=None):
        """A barrier of the workgroups ``copies`` (all when None) starts their new epoch."""
        if copies is None:
            self.epoch += 1
        else:
            self.epoch[copies] += 1

    def outside(self, offs, nbytes, lo, hi, info, lanes=None, weights=None):
        """Report accesses outside ``[lo, hi)`` (the bounds check).  Returns None when all are
        inside (or the sanitizer is off), else the mask of those outside (the report recorded).
        ``weights``: how many lanes each access stands for (reported counts), default 1."""
        if not self.sanitize:
            return None
        return self.bounds.outside(Access(LOAD, info, offs, nbytes, lanes=lanes, weights=weights), lo, hi)

    # -- lanes and physical offsets
    def _lane_facts(self, lanes):
        """(byte base of each lane's workgroup copy, wave of each lane), cached per lane array."""
        c = self._lcache
        if c[0] is lanes:
            return c[1], c[2]
        base = (lanes // self.Lp) * self.stride if self.copies > 1 else 0
        waves = lanes // self.W
        self._lcache = (lanes, base, waves)
        return base, waves

    def phys(self, offs, lanes):
        """Physical offsets of the workgroup offsets ``offs`` accessed by ``lanes``."""
        if self.copies == 1:
            return offs
        return offs + self._lane_facts(lanes)[0]

    def waves(self, lanes):
        """The wave of each of ``lanes``."""
        return self._lane_facts(lanes)[1]

    # -- what the hardware does
    def _hw_read(self, offs, nbytes, lanes):
        """What the hardware does, unchecked: LDS reads past the workgroup's allocation
        return 0, reads inside it return its bytes."""
        ok = (offs >= 0) & (offs + nbytes <= self.nbytes)
        if nbytes in _UW and ok.all():
            p = self.phys(offs, lanes)
            if not (p & (nbytes - 1)).any():       # aligned words: one gather of a word view
                return self.mem.view(_UW[nbytes])[p // nbytes].view(np.uint8).reshape(-1, nbytes)
        out = np.zeros((offs.shape[0], nbytes), np.uint8)
        if ok.any():
            out[ok] = self.mem[byte_index(self.phys(offs[ok], lanes[ok]), nbytes)].reshape(-1, nbytes)
        return out

    def _hw_write(self, offs, data, lanes):
        """What the hardware does, unchecked: LDS writes past the workgroup's allocation
        are dropped, writes inside it land (and count as initializing the bytes)."""
        nbytes = data.shape[1]
        ok = (offs >= 0) & (offs + nbytes <= self.nbytes)
        if ok.any():
            idx = byte_index(self.phys(offs[ok], lanes[ok]), nbytes)
            self.mem[idx] = data[ok].reshape(-1)
            if self.sanitize:
                self.uninit.on_store_unchecked(idx)

    def _store_words(self, offs, data, nbytes):
        """Unchecked aligned store of ``nbytes``-wide words (physical offsets); False when unaligned."""
        if nbytes not in _UW or (offs & (nbytes - 1)).any():
            return False
        self.mem.view(_UW[nbytes])[offs // nbytes] = np.ascontiguousarray(data).view(_UW[nbytes]).reshape(-1)
        return True

    # -- per-lane accesses
    def read(self, offs, nbytes, lanes, lo, hi, info, weights=None):
        """Bytes ``(n, nbytes)`` at LDS offsets ``offs`` read by ``lanes``, inside ``[lo, hi)``.
        ``weights`` (default 1 each): how many lanes of the same wave and address each access
        stands for, when one access is read for a whole wave (reported counts).  ``offs`` may
        be one offset (an int) that every lane reads."""
        if ndim(offs) == 0:
            off = int(offs)
            if not self.sanitize or nbytes != 4 or off & 3 or off < lo or off + 4 > hi:
                return self.read(np.full(lanes.shape[0], off, np.int64), nbytes, lanes, lo, hi, info, weights)
            base = self._lane_facts(lanes)[0]      # inside its allocation, aligned: straight to the word views
            offs = base + off if ndim(base) else np.full(lanes.shape[0], off, np.int64)
            aligned = True
        else:
            if not self.sanitize:
                return self._hw_read(offs, nbytes, lanes)
            outside = self.bounds.outside(new_access((LOAD, info, offs, nbytes, None, None, None, lanes, weights)), lo, hi)
            if outside is not None:        # recorded: those lanes read what the hardware reads
                out = self._hw_read(offs, nbytes, lanes)
                ok = ~outside
                if ok.any():
                    out[ok] = self.read(offs[ok], nbytes, lanes[ok], lo, hi, info,
                                        None if weights is None else weights[ok])
                return out
            offs = self.phys(offs, lanes)
            aligned = nbytes == 4 and not np.count_nonzero(offs & 3)
        words = offs >> 2 if aligned else None
        acc = new_access((LOAD, info, offs, nbytes, None, self.waves(lanes), None, lanes, weights))
        self.uninit.on_load(acc, words)
        self.race.on_load(acc, words)
        if aligned:                                       # aligned dwords: word views
            return self.mem32[words].view(np.uint8).reshape(-1, 4)
        return self.mem[byte_index(offs, nbytes)].reshape(-1, nbytes)

    def write(self, offs, data, lanes, lo, hi, info, order=None):
        """Store ``data`` ``(n, nbytes)`` at LDS offsets ``offs`` from ``lanes``, inside ``[lo, hi)``;
        ``order``: a permutation of the lanes (the order of stores to one address)."""
        nbytes = data.shape[1]
        outside = None if not self.sanitize else \
            self.bounds.outside(new_access((STORE, info, offs, nbytes, None, None, None, lanes, None)), lo, hi)
        if outside is not None:        # recorded: those stores land as on the hardware, unchecked
            self._hw_write(offs[outside], data[outside], lanes[outside])
            ok = ~outside
            if not ok.any():
                return
            if order is not None:      # the permutation, restricted to the lanes inside
                order = (np.cumsum(ok) - 1)[order[ok[order]]]
            offs, data, lanes = offs[ok], data[ok], lanes[ok]
        if order is not None:        # schedule perturbation: another lane order for same-address stores
            offs, data, lanes = offs[order], data[order], lanes[order]
        if not self.sanitize:
            ok = (offs >= 0) & (offs + nbytes <= self.nbytes)     # hardware drops out-of-range LDS writes
            if not ok.all():
                offs, data, lanes = offs[ok], data[ok], lanes[ok]
            offs = self.phys(offs, lanes)
            if not self._store_words(offs, data, nbytes):
                self.mem[byte_index(offs, nbytes)] = data.reshape(-1)
            return
        offs = self.phys(offs, lanes)
        acc = new_access((STORE, info, offs, nbytes, None, self.waves(lanes), None, lanes, None))
        if nbytes == 4 and not (offs & 3).any():     # aligned dwords: word views
            w = offs >> 2
            d = np.ascontiguousarray(data).view(np.uint32).reshape(-1)
            old = self.mem32[w]
            self.mem32[w] = d
            agree = self.mem32[w] == d
            self.race.on_store(acc, (old != d) | ~agree, agree, w)
            self.uninit.on_store(acc, w)
            return
        idx = byte_index(offs, nbytes)
        old = self.mem[idx].reshape(-1, nbytes)
        self.mem[idx] = data.reshape(-1)
        # a store that leaves the bytes as they were (and agrees with every other lane
        # storing there) is benign and not tracked as a write
        agree = (self.mem[idx].reshape(-1, nbytes) == data).all(axis=1)
        self.race.on_store(acc, (old != data).any(axis=1) | ~agree, agree, None)
        self.uninit.on_store(acc, None)

    # -- uniform accesses: one offset for every active lane of one workgroup
    def read_uniform(self, off, nbytes, waves, lo, hi, info, lanes=None):
        """The ``nbytes`` bytes at LDS offset ``off`` read by ``lanes`` (ascending; None: unnamed)
        of the waves ``waves``; findings name the first lane (of the wave concerned)."""
        if not self.sanitize:
            if 0 <= off and off + nbytes <= self.nbytes:
                return self.mem[off:off + nbytes].copy()
            return np.zeros(nbytes, np.uint8)           # hardware: LDS reads past the allocation give 0
        if (off < lo or off + nbytes > hi) and self._outside1(LOAD, off, nbytes, lo, hi, info, lanes):
            return self._hw_read(np.array([off]), nbytes, np.zeros(1, np.int64))[0]
        acc = new_access((LOAD, info, off, nbytes, None, waves, None, lanes, None))
        self.uninit.on_uniform_load(acc)
        self.race.on_uniform_load(acc)
        return self.mem[off:off + nbytes].copy()

    def write_uniform(self, off, raw, waves, lo, hi, info, lanes=None):
        """Store ``raw`` at LDS offset ``off`` from ``lanes`` of the waves ``waves`` (one value)."""
        nbytes = raw.shape[0]
        if not self.sanitize:
            if 0 <= off and off + nbytes <= self.nbytes:
                self.mem[off:off + nbytes] = raw
            return
        if (off < lo or off + nbytes > hi) and self._outside1(STORE, off, nbytes, lo, hi, info, lanes):
            self._hw_write(np.array([off]), raw.reshape(1, -1), np.zeros(1, np.int64))
            return
        # every active lane stores the same value at the same address: only a
        # change of the bytes counts as a write for the race check
        acc = new_access((STORE, info, off, nbytes, None, waves, None, lanes, None))
        self.race.on_uniform_store(acc, not np.array_equal(self.mem[off:off + nbytes], raw))
        self.uninit.on_uniform_store(acc)
        self.mem[off:off + nbytes] = raw

    def _outside1(self, op, off, nbytes, lo, hi, info, lanes):
        """The bounds check of a uniform access (findings name its first lane)."""
        first = None if lanes is None else lanes[:1]
        return self.bounds.outside(Access(op, info, np.array([off]), nbytes, lanes=first), lo, hi) is not None
