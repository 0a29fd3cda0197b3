"""Memory model of one launch, with the sanitizer's shadow state.

* Global memory is the caller's CPU torch tensors: each is an
  :class:`Allocation` (its whole storage, ``[start, end)`` in the host address
  space) viewed as a NumPy byte array, so stores land in the tensors.
  Raw pointers are host addresses; an access outside every allocation is an
  :class:`OutOfBoundsError`.
* LDS is one byte array per workgroup (``lds_bytes`` = the module's static
  ``addrspace(3)`` globals laid out in order, plus the launch's dynamic shared
  memory).  LDS pointers are byte offsets; a flat (generic) pointer to LDS is
  :data:`kernels.emu.amdgpu.LDS_APERTURE` + offset.  An LDS access must stay
  inside the allocation (global symbol) its pointer was derived from when
  that is known statically, else inside the workgroup's LDS.
* Sanitizer shadows (only when ``sanitize``):
  - LDS: a written-byte map (uninitialized read check) and, per 4-byte word,
    the epoch/wave of the last writer and of readers; ``barrier()`` starts a
    new epoch.  A word touched by two waves in one epoch, one writing, is a
    :class:`RaceError`.  Every first store to a word is a write (LDS starts
    undefined, whatever pattern the interpreter fills it with); a store that
    leaves a word as it was is not.  One value stored by several waves (a
    uniform store, or lanes of several waves in one instruction) counts as
    each wave's own write; different values so stored are a race.
  - Global: per allocation (lazily), per byte, the workgroup, wave and barrier
    epoch of its last writer and of its readers during this launch.  Two
    workgroups touching one byte, one writing, is a :class:`RaceError`; so are
    two waves of one workgroup touching it between two barriers, one writing
    (per byte, because global stores carry byte enables: different bytes of one
    dword never clobber).  A uniform store executed by several waves (the same
    value from each), or one store instruction whose lanes of several waves hit
    the same byte, counts as every wave's own write: later reads of it in the
    same epoch are not a race.
  - Output-only tensors (:func:`kernels.emu.mark_output_only`): a written-byte
    map per launch; reading a byte not written in this launch is an
    :class:`UninitializedReadError`.  All other caller tensors count as
    initialized.
"""
from __future__ import annotations

import ctypes

import numpy as np

from .errors import OutOfBoundsError, RaceError, UninitializedReadError


class Allocation:
    __slots__ = ("start", "end", "bytes", "name", "output_only", "wr", "rd", "wr_wv", "wr_ep", "rd_wv",
                 "rd_ep", "init", "_views")

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
        self.wr = self.rd = self.wr_wv = self.wr_ep = self.rd_wv = self.rd_ep = None
        self.init = np.zeros(int(nbytes), bool) if output_only else None
        self._views = {}

    def view(self, nbytes):
        """The allocation as an array of nbytes-wide unsigned words (aligned accesses)."""
        v = self._views.get(nbytes)
        if v is None:
            n = self.bytes.shape[0] // nbytes * nbytes
            v = self.bytes[:n].view(_UW[nbytes])
            self._views[nbytes] = v
        return v


_UW = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _aligned(o, nbytes):
    return nbytes in _UW and not (o & (nbytes - 1)).any()


def _byte_index(offs, size):
    if size == 1:
        return offs
    return (offs[:, None] + np.arange(size, dtype=np.int64)[None, :]).reshape(-1)


class GlobalMemory:
    """The caller's tensors as the global address space of a launch."""

    def __init__(self, allocations, sanitize=True):
        self.allocs = sorted(allocations, key=lambda a: a.start)
        self.starts = np.array([a.start for a in self.allocs], dtype=np.int64)
        self.ends = np.array([a.end for a in self.allocs], dtype=np.int64)
        self.sanitize = sanitize
        self.wg = 0
        self._last = None

    def begin_launch(self):
        for a in self.allocs:
            a.wr = None
            a.rd = None
            if a.output_only:
                a.init[:] = False

    # -- address resolution
    def _locate(self, addr, size, info):
        """Map host addresses to (allocation index array, byte offsets); raise if outside."""
        addr = np.asarray(addr, dtype=np.int64)
        if len(self.allocs) == 1:
            a = self.allocs[0]
            ok = (addr >= a.start) & (addr + size <= a.end)
            if not ok.all():
                self._oob(addr[~ok][0], size, info)
            return None, addr - a.start
        k = np.searchsorted(self.starts, addr, side="right") - 1
        if (k < 0).any():
            self._oob(addr[k < 0][0], size, info)
        ok = addr + size <= self.ends[k]
        if not ok.all():
            self._oob(addr[~ok][0], size, info)
        k0 = k[0]
        if (k == k0).all():
            a = self.allocs[k0]
            return int(k0), addr - a.start
        return k, addr - self.starts[k]

    def _find1(self, addr, size, info):
        a = self._last
        if a is not None and a.start <= addr and addr + size <= a.end:
            return a
        for a in self.allocs:
            if a.start <= addr and addr + size <= a.end:
                self._last = a
                return a
        self._oob(addr, size, info)

    def read_uniform(self, addr, nbytes, info, wg=0, wave=None, ep=0):
        a = self._find1(addr, nbytes, info)
        o = addr - a.start
        if self.sanitize:
            if a.output_only and not a.init[o:o + nbytes].all():
                raise UninitializedReadError(
                    f"read of output-only tensor {a.name} at byte {o} not written in this launch",
                    op=info[0], loc=info[1])
            self._track(a, np.array([o], np.int64), nbytes, wg, False, info, wave, ep)
        return a.bytes[o:o + nbytes].copy()

    def write_uniform(self, addr, raw, info, wg=0, wave=None, ep=0):
        nbytes = raw.shape[0]
        a = self._find1(addr, nbytes, info)
        o = addr - a.start
        if self.sanitize:
            if not np.array_equal(a.bytes[o:o + nbytes], raw):
                self._track(a, np.array([o], np.int64), nbytes, wg, True, info,
                            ALL_WAVES if wave == MANY_WAVES else wave, ep)
            if a.output_only:
                a.init[o:o + nbytes] = True
        a.bytes[o:o + nbytes] = raw

    def name_at(self, addr) -> str:
        """Name of the allocation holding byte ``addr`` ("an unknown buffer" if none)."""
        for a in self.allocs:
            if a.start <= addr < a.end:
                return a.name
        return "an unknown buffer"

    def _oob(self, addr, size, info):
        near = ", ".join(f"{a.name}=[0x{a.start:x},0x{a.end:x})" for a in self.allocs) or "none"
        raise OutOfBoundsError(
            f"global access of {size} bytes at 0x{int(addr):x} is outside every live allocation ({near})",
            op=info[0], loc=info[1])

    def _groups(self, k, offs):
        if k is None:
            yield self.allocs[0], offs, None
            return
        if isinstance(k, int):
            yield self.allocs[k], offs, None
            return
        for j in np.unique(k):
            sel = k == j
            yield self.allocs[j], offs[sel], sel

    # -- accesses
    def read(self, addr, nbytes, info, wg=0, wave=None, ep=0):
        """Bytes (n, nbytes) at host addresses ``addr`` (1-D int64).  ``wg``, ``wave``
        and ``ep`` (workgroup, wave in it, its barrier epoch) name the accessing
        lanes for the race check: scalars, or one per address."""
        k, offs = self._locate(addr, nbytes, info)
        out = np.empty((addr.shape[0], nbytes), np.uint8)
        for a, o, sel in self._groups(k, offs):
            if self.sanitize:
                if a.output_only:
                    idx = _byte_index(o, nbytes)
                    if not a.init[idx].all():
                        bad = idx[~a.init[idx]][0]
                        raise UninitializedReadError(
                            f"read of output-only tensor {a.name} at byte {int(bad)} not written in this launch",
                            op=info[0], loc=info[1])
                self._track(a, o, nbytes, _sel(wg, sel), False, info, _sel(wave, sel), _sel(ep, sel))
            if _aligned(o, nbytes):
                vals = a.view(nbytes)[o // nbytes].view(np.uint8).reshape(-1, nbytes)
            else:
                vals = a.bytes[_byte_index(o, nbytes)].reshape(-1, nbytes)
            if sel is None:
                out = vals
            else:
                out[sel] = vals
        return out

    def write(self, addr, data, info, wg=0, wave=None, ep=0):
        """Store ``data`` (n, nbytes) uint8 at host addresses ``addr`` (accessors as in :meth:`read`)."""
        nbytes = data.shape[1]
        k, offs = self._locate(addr, nbytes, info)
        for a, o, sel in self._groups(k, offs):
            d = data if sel is None else data[sel]
            if _aligned(o, nbytes):
                v = a.view(nbytes)
                wi = o // nbytes
                dw = np.ascontiguousarray(d).view(_UW[nbytes]).reshape(-1)
                if self.sanitize:
                    ch = v[wi] != dw
                    if ch.any():
                        self._track(a, o[ch], nbytes, _sel(_sel(wg, sel), ch), True, info,
                                    _sel(_sel(wave, sel), ch), _sel(_sel(ep, sel), ch))
                    if a.output_only:
                        a.init[_byte_index(o, nbytes)] = True
                v[wi] = dw
                continue
            idx = _byte_index(o, nbytes)
            if self.sanitize:
                ch = (a.bytes[idx].reshape(-1, nbytes) != d).any(axis=1)
                if ch.any():
                    self._track(a, o[ch], nbytes, _sel(_sel(wg, sel), ch), True, info,
                                _sel(_sel(wave, sel), ch), _sel(_sel(ep, sel), ch))
                if a.output_only:
                    a.init[idx] = True
            a.bytes[idx] = d.reshape(-1)

    def _track(self, a, o, nbytes, wg, is_write, info, wave=None, ep=0):
        """Race check of one access of ``nbytes`` at byte offsets ``o`` of ``a``.

        ``wg``/``wave``/``ep`` are scalars or one per offset; ``wave`` None skips the
        check between waves of one workgroup.  Tracked per byte: stores of different
        bytes of one dword do not conflict (the memory system writes with byte enables).
        """
        nb = a.end - a.start
        if a.wr is None:
            a.wr = np.full(nb, -1, np.int32)
            a.rd = np.full(nb, -1, np.int32)
            a.wr_wv = np.full(nb, NO_WAVE, np.int32)
            a.wr_ep = np.zeros(nb, np.int32)
            a.rd_wv = np.full(nb, NO_WAVE, np.int32)
            a.rd_ep = np.zeros(nb, np.int32)
        words = np.minimum(o[:, None] + np.arange(nbytes)[None, :], nb - 1).reshape(-1)
        wg, ep = _per_byte(wg, nbytes), _per_byte(ep, nbytes)
        wave = NO_WAVE if wave is None else _per_byte(wave, nbytes)
        kind = "writes" if is_write else "reads"
        wr = a.wr[words]
        bad = (wr >= 0) & (wr != wg)
        if bad.any():
            j = int(np.nonzero(bad)[0][0])
            raise RaceError(
                f"global byte {int(words[j])} of {a.name}: workgroup {_at(wg, j)} {kind} it "
                f"after workgroup {int(wr[j])} wrote it in the same launch", op=info[0], loc=info[1])
        rd = a.rd[words]
        if is_write:
            bad = (rd == -2) | ((rd >= 0) & (rd != wg))
            if bad.any():
                j = int(np.nonzero(bad)[0][0])
                raise RaceError(
                    f"global byte {int(words[j])} of {a.name}: workgroup {_at(wg, j)} writes it after another "
                    f"workgroup read it in the same launch", op=info[0], loc=info[1])
        if np.ndim(wave) or wave != NO_WAVE:
            self._wave_race(a, words, wg, wave, ep, wr, rd, is_write, info)
        if is_write:
            a.wr[words] = wg
            a.wr_wv[words] = wave
            a.wr_ep[words] = ep
            if np.ndim(wave):                  # several waves stored to one byte in this instruction
                a.wr_wv[words[a.wr_wv[words] != wave]] = ALL_WAVES
            if np.ndim(wg):
                back = a.wr[words]
                if (back != wg).any():
                    j = int(np.nonzero(back != wg)[0][0])
                    raise RaceError(
                        f"global byte {int(words[j])} of {a.name} written with different values by workgroups "
                        f"{int(wg[j])} and {int(back[j])} in the same launch", op=info[0], loc=info[1])
        else:
            # readers of this epoch of this workgroup: one wave, or MANY_WAVES
            same = (rd == wg) & (a.rd_ep[words] == ep)
            prev = a.rd_wv[words]
            a.rd_wv[words] = np.where(same & (prev != wave), MANY_WAVES, wave)
            a.rd_ep[words] = ep
            a.rd[words] = np.where((rd == -1) | (rd == wg), wg, -2)
            if np.ndim(wg) or np.ndim(wave):
                back_wv = a.rd_wv[words]
                a.rd_wv[words[back_wv != wave]] = MANY_WAVES
                back = a.rd[words]
                multi = (back != wg) & (back != -2)
                if multi.any():
                    a.rd[words[multi]] = -2

    @staticmethod
    def _wave_race(a, words, wg, wave, ep, wr, rd, is_write, info):
        """Two waves of one workgroup touching a byte in one barrier epoch, one writing."""
        wwv = a.wr_wv[words]
        bad = (wr == wg) & (a.wr_ep[words] == ep) & (wwv != wave)
        if not is_write:
            bad &= wwv != ALL_WAVES            # every wave wrote it itself (a uniform store)
        what = "wrote"
        if is_write and not bad.any():
            rwv = a.rd_wv[words]
            bad = (rd == wg) & (a.rd_ep[words] == ep) & ((rwv == MANY_WAVES) | (rwv != wave))
            what = "read"
        if bad.any():
            j = int(np.nonzero(bad)[0][0])
            raise RaceError(
                f"global byte {int(words[j])} of {a.name}: {_wave_name(_at(wave, j))} of workgroup {_at(wg, j)} "
                f"{'writes' if is_write else 'reads'} it after another wave {what} it, with no barrier between "
                f"(missing gpu.barrier?)", op=info[0], loc=info[1])


#: Wave codes of the global race shadow besides real wave ids (>= 0).
NO_WAVE, MANY_WAVES, ALL_WAVES = -1, -2, -4


def _wave_name(w: int) -> str:
    return {MANY_WAVES: "several waves", ALL_WAVES: "every wave"}.get(w, f"wave {w}")


def _per_byte(x, nbytes):
    return np.repeat(x, nbytes) if np.ndim(x) else x


def _at(x, j):
    return int(x[j]) if np.ndim(x) else int(x)


def _sel(x, sel):
    """``x[sel]`` for a per-access array; scalars (and ``sel`` None) pass through."""
    return x if sel is None or x is None or np.ndim(x) == 0 else x[sel]


class LDS:
    """Shared memory of one workgroup, with sanitizer shadows."""

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
        if sanitize:
            nw = (total + 3) // 4
            self.init = np.zeros(total, bool)
            self.init32 = self.init.view(np.uint32)       # 0x01010101 = all four bytes written
            self.wr_ep = np.zeros(nw, np.int32)
            self.wr_wave = np.zeros(nw, np.int32)
            self.rd_ep = np.zeros(nw, np.int32)
            self.rd_wave = np.zeros(nw, np.int32)

    def reset(self, garbage):
        """New workgroup: contents are ``garbage`` (a byte pattern), shadows cleared.
        Under the sanitizer every first store to a byte counts as a write for the
        race check, whatever the pattern."""
        self.mem[:] = garbage
        self.epoch[:] = 1
        if self.sanitize:
            self.init[:] = False
            self.wr_ep[:] = 0
            self.rd_ep[:] = 0

    def barrier(self, copies=None):
        """A barrier of the workgroups ``copies`` (all when None) starts their new epoch."""
        if copies is None:
            self.epoch += 1
        else:
            self.epoch[copies] += 1

    def _ep(self, words):
        if self.copies == 1:
            return self.epoch[0]
        return self.epoch[np.minimum(words // self.wpc, self.copies - 1)]

    def _check(self, offs, nbytes, lo, hi, info):
        if not self.sanitize:
            return
        bad = (offs < lo) | (offs + nbytes > hi)
        if bad.any():
            raise OutOfBoundsError(
                f"LDS access of {nbytes} bytes at offset {int(offs[bad][0])} is outside its shared "
                f"allocation [{lo}, {hi})", op=info[0], loc=info[1])

    def _phys(self, offs, lanes):
        if self.copies == 1:
            return offs
        return offs + (lanes // self.Lp) * self.stride

    def _hw_read(self, offs, nbytes, lanes):
        """Without the sanitizer: what the hardware does -- LDS reads past the workgroup's
        allocation return 0."""
        ok = (offs >= 0) & (offs + nbytes <= self.nbytes)
        out = np.zeros((offs.shape[0], nbytes), np.uint8)
        if ok.any():
            out[ok] = self.mem[_byte_index(self._phys(offs[ok], lanes[ok]), nbytes)].reshape(-1, nbytes)
        return out

    def read(self, offs, nbytes, lanes, lo, hi, info):
        if not self.sanitize:
            return self._hw_read(offs, nbytes, lanes)
        self._check(offs, nbytes, lo, hi, info)
        offs = self._phys(offs, lanes)
        if nbytes == 4 and not (offs & 3).any():         # aligned dwords: word views
            w = offs >> 2
            if (self.init32[w] != 0x01010101).any():
                b = int(offs[self.init32[w] != 0x01010101][0])
                raise UninitializedReadError(
                    f"LDS byte {b} read before any write in this launch", op=info[0], loc=info[1])
            self._race(offs, 4, lanes // self.W, False, info)
            return self.mem32[w].view(np.uint8).reshape(-1, 4)
        idx = _byte_index(offs, nbytes)
        if self.sanitize:
            ini = self.init[idx]
            if not ini.all():
                b = idx[~ini][0]
                raise UninitializedReadError(
                    f"LDS byte {int(b)} read before any write in this launch", op=info[0], loc=info[1])
            self._race(offs, nbytes, lanes // self.W, False, info)
        return self.mem[idx].reshape(-1, nbytes)

    def write(self, offs, data, lanes, lo, hi, info, order=None):
        nbytes = data.shape[1]
        self._check(offs, nbytes, lo, hi, info)
        if order is not None:        # schedule perturbation: another lane order for same-address stores
            offs, data, lanes = offs[order], data[order], lanes[order]
        if not self.sanitize:
            ok = (offs >= 0) & (offs + nbytes <= self.nbytes)     # hardware drops out-of-range LDS writes
            if not ok.all():
                offs, data, lanes = offs[ok], data[ok], lanes[ok]
        offs = self._phys(offs, lanes)
        if self.sanitize and nbytes == 4 and not (offs & 3).any():     # aligned dwords: word views
            w = offs >> 2
            d = np.ascontiguousarray(data).view(np.uint32).reshape(-1)
            old = self.mem32[w]
            self.mem32[w] = d
            # the first store to a word is always a write: its old content was undefined
            agree = self.mem32[w] == d
            changed = (old != d) | ~agree | (self.init32[w] != 0x01010101)
            if changed.any():
                sel = changed if not changed.all() else slice(None)
                self._race(offs[sel], 4, (lanes // self.W)[sel], True, info, agree[sel])
            self.init32[w] = 0x01010101
            return
        idx = _byte_index(offs, nbytes)
        if self.sanitize:
            old = self.mem[idx].reshape(-1, nbytes)
            self.mem[idx] = data.reshape(-1)
            final = self.mem[idx].reshape(-1, nbytes)
            # a store that leaves the bytes as they were (and agrees with every other lane
            # storing there) is benign and not tracked as a write
            agree = (final == data).all(axis=1)
            changed = ((old != data).any(axis=1) | ~agree
                       | ~self.init[idx].reshape(-1, nbytes).all(axis=1))
            if changed.any():
                sel = changed if not changed.all() else slice(None)
                self._race(offs[sel], nbytes, (lanes // self.W)[sel], True, info, agree[sel])
            self.init[idx] = True
        else:
            self.mem[idx] = data.reshape(-1)

    def read_uniform(self, off, nbytes, waves, lo, hi, info):
        if not self.sanitize:
            if 0 <= off and off + nbytes <= self.nbytes:
                return self.mem[off:off + nbytes].copy()
            return np.zeros(nbytes, np.uint8)           # hardware: LDS reads past the allocation give 0
        if off < lo or off + nbytes > hi:
            self._check(np.array([off]), nbytes, lo, hi, info)
        if self.sanitize:
            if not self.init[off:off + nbytes].all():
                raise UninitializedReadError(
                    f"LDS byte {off} read before any write in this launch", op=info[0], loc=info[1])
            self._race1(off, nbytes, waves, False, info)
        return self.mem[off:off + nbytes].copy()

    def write_uniform(self, off, raw, waves, lo, hi, info):
        nbytes = raw.shape[0]
        if not self.sanitize and (off < 0 or off + nbytes > self.nbytes):
            return
        if off < lo or off + nbytes > hi:
            self._check(np.array([off]), nbytes, lo, hi, info)
        if self.sanitize:
            # every active lane stores the same value at the same address: only a
            # change of the bytes counts as a write for the race check
            if not np.array_equal(self.mem[off:off + nbytes], raw) or not self.init[off:off + nbytes].all():
                self._race1(off, nbytes, waves, True, info)
            self.init[off:off + nbytes] = True
        self.mem[off:off + nbytes] = raw

    def _race1(self, off, nbytes, waves, is_write, info):
        """Race check of a uniform access by ``waves`` (one value from all of them)."""
        ep = self.epoch[0]
        for w in range(off >> 2, ((off + nbytes - 1) >> 2) + 1):
            wcur = self.wr_ep[w] == ep
            for wv in waves:
                bad = wcur and self.wr_wave[w] != wv and (is_write or self.wr_wave[w] != ALL_WAVES)
                if is_write and not bad and self.rd_ep[w] == ep:
                    rw = self.rd_wave[w]
                    bad = rw == -2 or rw != wv
                if bad:
                    raise RaceError(
                        f"LDS word {w} (byte {w * 4}) touched by wave {wv} and another wave between two "
                        f"barriers, at least one writing (missing gpu.barrier?)", op=info[0], loc=info[1])
            if is_write:
                self.wr_ep[w] = ep
                self.wr_wave[w] = waves[0] if len(waves) == 1 else ALL_WAVES
            else:
                if self.rd_ep[w] != ep:
                    self.rd_ep[w] = ep
                    self.rd_wave[w] = waves[0] if len(waves) == 1 else -2
                elif len(waves) > 1 or self.rd_wave[w] != waves[0]:
                    self.rd_wave[w] = -2

    def _race(self, offs, nbytes, waves, is_write, info, agree=None):
        """Race check of a per-lane access; ``agree`` (writes): per lane, whether its bytes
        are what the word holds after the instruction (lanes of several waves storing one
        value to one word in one instruction are benign; different values race)."""
        w0 = offs >> 2
        if nbytes > 4 or ((offs & 3) + nbytes > 4).any():
            nwd = (nbytes + 3) // 4 + 1
            words = (w0[:, None] + np.arange(nwd)[None, :])
            words = np.minimum(words, self.wr_ep.shape[0] - 1).reshape(-1)
            waves = np.repeat(waves, nwd)
            if agree is not None:
                agree = np.repeat(agree, nwd)
        else:
            words = w0
        ep = self._ep(words)
        wcur = self.wr_ep[words] == ep
        conflict = wcur & (self.wr_wave[words] != waves)
        if not is_write:
            conflict &= self.wr_wave[words] != ALL_WAVES     # every wave stored that value itself
        if is_write:
            rcur = self.rd_ep[words] == ep
            rw = self.rd_wave[words]
            conflict |= rcur & ((rw == -2) | (rw != waves))
        if conflict.any():
            j = np.nonzero(conflict)[0][0]
            raise RaceError(
                f"LDS word {int(words[j])} (byte {int(words[j]) * 4}) touched by wave {int(waves[j])} and another "
                f"wave between two barriers, at least one writing (missing gpu.barrier?)", op=info[0], loc=info[1])
        if is_write:
            self.wr_ep[words] = ep
            self.wr_wave[words] = waves
            multi = self.wr_wave[words] != waves
            if multi.any():
                bad = multi if agree is None else multi & ~agree
                if bad.any():
                    j = np.nonzero(bad)[0][0]
                    raise RaceError(
                        f"LDS word {int(words[j])} written with different values by two waves in one "
                        f"instruction", op=info[0], loc=info[1])
                self.wr_wave[words[multi]] = ALL_WAVES
        else:
            old_ep = self.rd_ep[words]
            old = np.where(old_ep == ep, self.rd_wave[words], waves)
            self.rd_ep[words] = ep
            self.rd_wave[words] = waves
            back = self.rd_wave[words]
            multi = (old != waves) | (back != waves)
            if multi.any():
                self.rd_wave[words[multi]] = -2
