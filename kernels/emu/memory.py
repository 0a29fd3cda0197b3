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
  - Atomics: :mod:`kernels.emu.atomic_memory` applies them and keeps their
    own shadow in ``LDS.atomics`` / ``Allocation.atomics`` (None while no
    atomic touched the memory); plain accesses are checked against it there.
  - Output-only tensors (:func:`kernels.emu.mark_output_only`): a written-byte
    map per launch; reading a byte not written in this launch is an
    :class:`UninitializedReadError`.  All other caller tensors count as
    initialized.
"""
from __future__ import annotations

import bisect
import ctypes

import numpy as np

from . import provenance
from .arrays import ndim
from .findings import RAISE


class Allocation:
    __slots__ = ("start", "end", "bytes", "name", "output_only", "wr", "rd", "wr_wv", "wr_ep", "rd_wv",
                 "rd_ep", "gran", "init", "_views", "pending", "pending_bytes", "pending_ids", "atomics")

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
        self.gran = 1              # bytes per entry of the race shadows (see GlobalMemory._apply_pending)
        self.pending = []          # reads not yet applied to the race shadows (see GlobalMemory._track)
        self.pending_bytes = 0
        self.pending_ids = set()   # ids of the arrays the log holds (counted once in pending_bytes)
        self.init = np.zeros(int(nbytes), bool) if output_only else None
        self.atomics = None        # atomic shadow of this launch (kernels.emu.atomic_memory), None without atomics
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
    return nbytes == 1 or (nbytes in _UW and not np.count_nonzero(o & (nbytes - 1)))


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
        self._start_list = [a.start for a in self.allocs]
        self._disjoint = all(a.end <= b.start for a, b in zip(self.allocs, self.allocs[1:]))
        self.sanitize = sanitize
        self.report = RAISE          # the launch's Reporter (set by the executor)
        self.wg = 0
        self._last = None
        self._last_k = 0

    def begin_launch(self):
        for a in self.allocs:
            a.wr = None
            a.rd = None
            a.pending = []
            a.pending_bytes = 0
            a.pending_ids = set()
            a.atomics = None
            if a.output_only:
                a.init[:] = False

    # -- address resolution
    def _locate(self, addr, size, info, lanes=None):
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
                return None, None, self._oob(addr, ~ok, size, info, lanes)
            return None, addr - a.start, None
        k = np.searchsorted(self.starts, addr, side="right") - 1
        ok = (k >= 0) & (addr + size <= self.ends[np.maximum(k, 0)])
        if not ok.all():
            return None, None, self._oob(addr, ~ok, size, info, lanes)
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

    def _find1(self, addr, size, info):
        """The allocation holding ``[addr, addr + size)``; None (after a recorded
        report) when none does."""
        a = self._last
        if a is not None and a.start <= addr and addr + size <= a.end:
            return a
        for a in self.allocs:
            if a.start <= addr and addr + size <= a.end:
                self._last = a
                return a
        self._oob(np.array([addr], np.int64), np.array([True]), size, info, None)
        return None

    def read_uniform(self, addr, nbytes, info, wg=0, wave=None, ep=0, lanes=None):
        a = self._find1(addr, nbytes, info)
        if a is None:
            return np.zeros(nbytes, np.uint8)
        o = addr - a.start
        if self.sanitize:
            if a.output_only and not a.init[o:o + nbytes].all():
                self.report("uninitialized-output",
                            f"read of output-only tensor {a.name} at byte {o} not written in this launch",
                            info, wg=wg, addr=addr)
            self._track(a, np.array([o], np.int64), nbytes, wg, False, info, wave, ep)
        return a.bytes[o:o + nbytes].copy()

    def write_uniform(self, addr, raw, info, wg=0, wave=None, ep=0, lanes=None):
        nbytes = raw.shape[0]
        a = self._find1(addr, nbytes, info)
        if a is None:
            return
        o = addr - a.start
        if self.sanitize:
            if not np.array_equal(a.bytes[o:o + nbytes], raw):
                self._track(a, np.array([o], np.int64), nbytes, wg, True, info,
                            ALL_WAVES if wave == MANY_WAVES else wave, ep)
            if a.output_only:
                a.init[o:o + nbytes] = True
        a.bytes[o:o + nbytes] = raw
        if provenance.active():
            provenance.note(a, slice(o, o + nbytes), self.report.kernel, info)

    def name_at(self, addr) -> str:
        """Name of the allocation holding byte ``addr`` ("an unknown buffer" if none)."""
        for a in self.allocs:
            if a.start <= addr < a.end:
                return a.name
        return "an unknown buffer"

    def _oob(self, addr, bad, size, info, lanes):
        """Report the accesses ``bad`` of ``addr`` (outside every allocation); return ``bad``."""
        j = int(np.flatnonzero(bad)[0])
        near = ", ".join(f"{a.name}=[0x{a.start:x},0x{a.end:x})" for a in self.allocs) or "none"
        self.report("global-out-of-bounds",
                    f"global access of {size} bytes at 0x{int(addr[j]):x} is outside every live allocation ({near})",
                    info, lane=None if lanes is None else _at(lanes, j), addr=int(addr[j]),
                    count=int(np.count_nonzero(bad)))
        return bad

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
    def read(self, addr, nbytes, info, wg=0, wave=None, ep=0, lanes=None):
        """Bytes (n, nbytes) at host addresses ``addr`` (1-D int64).  ``wg``, ``wave``
        and ``ep`` (workgroup, wave in it, its barrier epoch) name the accessing
        lanes for the race check, ``lanes`` their lane ids for reports: scalars, or
        one per address."""
        k, offs, outside = self._locate(addr, nbytes, info, lanes)
        if outside is not None:                 # recorded: those lanes read 0
            out = np.zeros((addr.shape[0], nbytes), np.uint8)
            ok = ~outside
            if ok.any():
                out[ok] = self.read(addr[ok], nbytes, info, _sel(wg, ok), _sel(wave, ok), _sel(ep, ok),
                                    _sel(lanes, ok))
            return out
        if not isinstance(k, np.ndarray):       # one allocation
            return self.read_at(self.allocs[k or 0], offs, nbytes, info, wg, wave, ep, lanes)
        out = np.empty((addr.shape[0], nbytes), np.uint8)
        for a, o, sel in self._groups(k, offs):
            out[sel] = self.read_at(a, o, nbytes, info, _sel(wg, sel), _sel(wave, sel), _sel(ep, sel),
                                    _sel(lanes, sel))
        return out

    def read_at(self, a, o, nbytes, info, wg=0, wave=None, ep=0, lanes=None):
        """:meth:`read` of accesses all inside allocation ``a``, at its byte offsets ``o`` (int64)."""
        if self.sanitize:
            if a.output_only:
                idx = _byte_index(o, nbytes)
                if not a.init[idx].all():
                    j = int(np.flatnonzero(~a.init[idx])[0])
                    self.report("uninitialized-output",
                                f"read of output-only tensor {a.name} at byte {int(idx[j])} not written in "
                                f"this launch", info, lane=_lane_at(lanes, j // nbytes),
                                wg=_at(wg, j // nbytes), addr=a.start + int(idx[j]),
                                count=int(np.count_nonzero(~a.init[idx].reshape(-1, nbytes).all(1))))
            self._track(a, o, nbytes, wg, False, info, wave, ep, lanes)
        if _aligned(o, nbytes):
            return a.view(nbytes)[o // nbytes].view(np.uint8).reshape(-1, nbytes)
        return a.bytes[_byte_index(o, nbytes)].reshape(-1, nbytes)

    def write(self, addr, data, info, wg=0, wave=None, ep=0, lanes=None):
        """Store ``data`` (n, nbytes) uint8 at host addresses ``addr`` (accessors as in :meth:`read`)."""
        nbytes = data.shape[1]
        k, offs, outside = self._locate(addr, nbytes, info, lanes)
        if outside is not None:                 # recorded: those stores are dropped
            ok = ~outside
            if ok.any():
                self.write(addr[ok], data[ok], info, _sel(wg, ok), _sel(wave, ok), _sel(ep, ok), _sel(lanes, ok))
            return
        for a, o, sel in self._groups(k, offs):
            self.write_at(a, o, data if sel is None else data[sel], info, _sel(wg, sel), _sel(wave, sel),
                          _sel(ep, sel), _sel(lanes, sel))

    def write_at(self, a, o, d, info, wg=0, wave=None, ep=0, lanes=None):
        """:meth:`write` of accesses all inside allocation ``a``, at its byte offsets ``o`` (int64)."""
        nbytes = d.shape[1]
        if _aligned(o, nbytes):
            v = a.view(nbytes)
            wi = o // nbytes
            dw = np.ascontiguousarray(d).view(_UW[nbytes]).reshape(-1)
            if self.sanitize:
                ch = v[wi] != dw
                nch = np.count_nonzero(ch)
                if nch:
                    ch = None if nch == ch.shape[0] else ch     # (all changed: no selection)
                    self._track(a, o if ch is None else o[ch], nbytes, _sel(wg, ch), True, info,
                                _sel(wave, ch), _sel(ep, ch), _sel(lanes, ch))
                if a.output_only:
                    a.init[_byte_index(o, nbytes)] = True
            v[wi] = dw
            if provenance.active():
                provenance.note(a, _byte_index(o, nbytes), self.report.kernel, info)
            return
        idx = _byte_index(o, nbytes)
        if self.sanitize:
            ch = (a.bytes[idx].reshape(-1, nbytes) != d).any(axis=1)
            if ch.any():
                self._track(a, o[ch], nbytes, _sel(wg, ch), True, info, _sel(wave, ch), _sel(ep, ch),
                            _sel(lanes, ch))
            if a.output_only:
                a.init[idx] = True
        a.bytes[idx] = d.reshape(-1)
        if provenance.active():
            provenance.note(a, idx, self.report.kernel, info)

    def _track(self, a, o, nbytes, wg, is_write, info, wave=None, ep=0, lanes=None):
        """Race check of one access of ``nbytes`` at byte offsets ``o`` of ``a``.

        ``wg``/``wave``/``ep``/``lanes`` are scalars or one per offset; ``wave`` None skips
        the check between waves of one workgroup.  Tracked per byte: stores of different
        bytes of one dword do not conflict (the memory system writes with byte enables).
        A race found is reported; when the reporter records it, the access proceeds
        and the shadows are updated as for any other access.
        """
        if a.wr is None:
            if not is_write and a.pending_bytes < _PENDING_LIMIT:
                # No byte of ``a`` was written in this launch yet, so a read can race with nothing
                # so far: only the reader shadows change, and nothing reads them before the first
                # write.  Reads of tensors a launch never writes (its inputs) so cost a list append;
                # the first write (or a long log) applies them in their order (_apply_pending).
                a.pending.append((o, nbytes, wg, info, wave, ep, lanes))
                a.pending_bytes += _new_bytes(a.pending_ids, (o, wg, wave, ep, lanes))
                return
            self._apply_pending(a)
        return self._track_now(a, o, nbytes, wg, is_write, info, wave, ep, lanes)

    def _apply_pending(self, a):
        """Allocate ``a``'s race shadows and apply its logged reads to them, in order.

        The shadows have one entry per dword (``a.gran`` 4) while every access tracked in
        them is of whole aligned dwords: each byte of a dword then has the shadow values of
        the dword, which :meth:`_byte_shadows` spreads to one entry per byte (``a.gran`` 1)
        at the first other access."""
        nb = a.end - a.start
        a.gran = 4 if _WORD_SHADOWS else 1
        n = -(-nb // a.gran)
        a.wr = np.full(n, -1, np.int32)
        a.rd = np.full(n, -1, np.int32)
        a.wr_wv = np.full(n, NO_WAVE, np.int32)
        a.wr_ep = np.zeros(n, np.int32)
        a.rd_wv = np.full(n, NO_WAVE, np.int32)
        a.rd_ep = np.zeros(n, np.int32)
        pending, a.pending, a.pending_bytes, a.pending_ids = a.pending, [], 0, set()
        for o, nbytes, wg, info, wave, ep, lanes in pending:
            self._track_now(a, o, nbytes, wg, False, info, wave, ep, lanes)

    def _byte_shadows(self, a):
        """``a``'s race shadows with one entry per byte (each byte of a dword entry takes its values)."""
        if a.gran != 1:
            nb = a.end - a.start
            for name in ("wr", "rd", "wr_wv", "wr_ep", "rd_wv", "rd_ep"):
                setattr(a, name, np.repeat(getattr(a, name), a.gran)[:nb])
            a.gran = 1

    def _track_now(self, a, o, nbytes, wg, is_write, info, wave=None, ep=0, lanes=None):
        """:meth:`_track` on allocated shadows.  Works on ``(n, per)`` arrays of shadow
        entries (bytes, or dwords while the shadows are per dword: ``per`` entries of ``g``
        bytes an access); per-access values broadcast over the entries of their access.
        Reports name the first byte of the first flagged entry: the byte the per-byte
        shadows would flag first."""
        nb = a.end - a.start
        clamped = o.shape[0] and int(np.maximum.reduce(o)) + nbytes > nb
        if a.gran != 1 and (clamped or not _whole_dwords(o, nbytes)):
            self._byte_shadows(a)
        if a.atomics is not None:          # plain against atomic accesses (kernels.emu.atomic_memory)
            a.atomics.plain(self, a, o, nbytes, wg, wave, ep, is_write, info, lanes)
        g = a.gran
        per = nbytes // g
        e = o >> 2 if g == 4 else o
        words = e[:, None] if per == 1 else e[:, None] + _BYTE_STEPS[per] if per in _BYTE_STEPS else \
            e[:, None] + np.arange(per, dtype=np.int64)[None, :]
        if clamped:
            words = np.minimum(words, nb - 1)
        wg1, ep1, wave1 = wg, ep, (NO_WAVE if wave is None else wave)
        wg, ep, wave = _column(wg1), _column(ep1), _column(wave1)
        kind = "writes" if is_write else "reads"

        def report(bad, text):
            j = int(np.flatnonzero(bad)[0])
            self.report("global-race", text(j), info, lane=_lane_at(lanes, j // per), wg=_at(wg1, j // per),
                        addr=a.start + int(words.flat[j]) * g, count=_accesses(bad, per))

        wr = a.wr[words]
        rd = a.rd[words]
        # bytes nobody wrote in this launch (and, for a write, nobody read): no race is possible
        untouched = not np.count_nonzero(wr >= 0) and (not is_write or not np.count_nonzero(rd != -1))
        if not untouched:
            bad = (wr >= 0) & (wr != wg)
            if bad.any():
                report(bad, lambda j: f"global byte {int(words.flat[j]) * g} of {a.name}: workgroup "
                                      f"{_at(wg1, j // per)} {kind} it after workgroup {int(wr.flat[j])} wrote it "
                                      f"in the same launch")
            if is_write:
                bad = (rd == -2) | ((rd >= 0) & (rd != wg))
                if bad.any():
                    report(bad, lambda j: f"global byte {int(words.flat[j]) * g} of {a.name}: workgroup "
                                          f"{_at(wg1, j // per)} writes it after another workgroup read it in the "
                                          f"same launch")
            if ndim(wave) or wave != NO_WAVE:
                self._wave_race(a, words, wg, wave, ep, wr, rd, is_write, info, lanes, per, wg1, wave1)
        shared = (ndim(wg) or ndim(wave)) and (clamped or _may_share_bytes(o, nbytes))
        if is_write:
            a.wr[words] = wg
            a.wr_wv[words] = wave
            a.wr_ep[words] = ep
            if ndim(wave) and shared:       # several waves stored to one byte in this instruction
                a.wr_wv[words[a.wr_wv[words] != wave]] = ALL_WAVES
            if ndim(wg) and shared:
                back = a.wr[words]
                if (back != wg).any():
                    report(back != wg, lambda j: f"global byte {int(words.flat[j]) * g} of {a.name} written by "
                                                 f"workgroups {_at(wg1, j // per)} and {int(back.flat[j])} in "
                                                 f"one instruction")
        else:
            # readers of this epoch of this workgroup: one wave, or MANY_WAVES
            same = (rd == wg) & (a.rd_ep[words] == ep)
            prev = a.rd_wv[words]
            a.rd_wv[words] = np.where(same & (prev != wave), MANY_WAVES, wave)
            a.rd_ep[words] = ep
            a.rd[words] = np.where((rd == -1) | (rd == wg), wg, -2)
            if shared:
                back_wv = a.rd_wv[words]
                a.rd_wv[words[back_wv != wave]] = MANY_WAVES
                back = a.rd[words]
                multi = (back != wg) & (back != -2)
                if multi.any():
                    a.rd[words[multi]] = -2

    def _wave_race(self, a, words, wg, wave, ep, wr, rd, is_write, info, lanes, per, wg1, wave1):
        """Two waves of one workgroup touching a byte in one barrier epoch, one writing
        (``words``: the shadow entries of the accesses, ``per`` of each)."""
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
            j = int(np.flatnonzero(bad)[0])
            self.report(
                "wave-race",
                f"global byte {int(words.flat[j]) * a.gran} of {a.name}: {_wave_name(_at(wave1, j // per))} of "
                f"workgroup {_at(wg1, j // per)} {'writes' if is_write else 'reads'} it after another wave {what} it, "
                f"with no barrier between (missing gpu.barrier?)", info, lane=_lane_at(lanes, j // per),
                wg=_at(wg1, j // per), addr=a.start + int(words.flat[j]) * a.gran, count=_accesses(bad, per))


#: Byte steps of an access of 1, 2, 4, 8 or 16 bytes, as a row to add to its offsets.
_BYTE_STEPS = {n: np.arange(n, dtype=np.int64)[None, :] for n in (1, 2, 4, 8, 16)}


#: Race shadows per dword while a tensor's accesses are of whole aligned dwords (else per byte).
_WORD_SHADOWS = True


def _whole_dwords(o, nbytes):
    """Whether accesses of ``nbytes`` at byte offsets ``o`` cover whole aligned dwords."""
    return not nbytes & 3 and not np.count_nonzero(o & 3)


def _may_share_bytes(o, nbytes):
    """Whether accesses of ``nbytes`` at byte offsets ``o`` may touch one byte twice: False
    when the offsets ascend by at least ``nbytes`` (the common lane-ordered access)."""
    return o.shape[0] > 1 and np.count_nonzero(o[1:] - o[:-1] < nbytes) != 0


def _repeats(words):
    """Whether the word indices ``words`` may hold one word twice: False when they ascend."""
    return words.shape[0] > 1 and np.count_nonzero(words[1:] <= words[:-1]) != 0


def _column(x):
    """A per-access array as a column (broadcasts over the bytes of each access); scalars as they are."""
    return x[:, None] if ndim(x) else x


#: Bytes of arrays an allocation's log of reads holds before it is applied to its shadows.
_PENDING_LIMIT = 128 << 20


def _new_bytes(seen, arrays):
    """Bytes of the arrays among ``arrays`` not in ``seen`` (ids, updated): what a log entry adds
    to the memory the log holds (arrays it shares with earlier entries, such as a batch's lane
    tables, count once; the log keeps them alive, so their ids stay theirs)."""
    n = 0
    for x in arrays:
        if isinstance(x, np.ndarray) and id(x) not in seen:
            seen.add(id(x))
            n += x.nbytes
    return n
#: Wave codes of the global race shadow besides real wave ids (>= 0).
NO_WAVE, MANY_WAVES, ALL_WAVES = -1, -2, -4


def _wave_name(w: int) -> str:
    return {MANY_WAVES: "several waves", ALL_WAVES: "every wave"}.get(w, f"wave {w}")


def _at(x, j):
    return int(x[j]) if ndim(x) else int(x)


def _lane_at(lanes, j):
    """The lane id of access ``j`` (None when the caller named no lanes)."""
    if lanes is None:
        return None
    return int(lanes[j]) if ndim(lanes) else int(lanes)


def _accesses(bad, nbytes):
    """How many accesses of ``nbytes`` bytes the per-byte flags ``bad`` touch (flat, or one row per access)."""
    if bad.ndim == 2:
        return int(np.count_nonzero(bad.any(1)))
    if nbytes == 1 or bad.shape[0] % nbytes:
        return int(np.count_nonzero(bad))
    return int(np.count_nonzero(bad.reshape(-1, nbytes).any(1)))


def _weighted(bad, weights):
    """How many lanes the flagged accesses ``bad`` stand for (each one lane when ``weights`` is None)."""
    if weights is None:
        return int(np.count_nonzero(bad))
    return int(np.asarray(weights)[bad].sum())


def _sel(x, sel):
    """``x[sel]`` for a per-access array; scalars (and ``sel`` None) pass through."""
    return x if sel is None or x is None or ndim(x) == 0 else x[sel]


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
        self.report = RAISE                             # the launch's Reporter (set by the executor)
        self.W = wave_size
        self.epoch = np.ones(copies, np.int32)          # barrier epoch per workgroup copy
        self._lcache = (None, None, None)
        self.atomics = None     # atomic shadow of the current workgroups (kernels.emu.atomic_memory), None without
        if sanitize:
            nw = (total + 3) // 4
            self.init = np.zeros(total, bool)
            self.init32 = self.init.view(np.uint32)       # 0x01010101 = all four bytes written
            self.wr_ep = np.zeros(nw, np.int32)
            self.wr_wave = np.zeros(nw, np.int32)
            self.rd_ep = np.zeros(nw, np.int32)
            self.rd_wave = np.zeros(nw, np.int32)

    def reset(self, garbage):
        """New workgroup: contents are ``garbage``, shadows cleared.  ``garbage`` is a
        32-bit word repeated over the memory (little-endian), or None: the bytes stay as
        the previous workgroup left them.  The shadows never depend on the bytes: every
        byte is unwritten for the uninitialized-read check and every first store counts
        as a write for the race check, whatever the contents."""
        if garbage is not None:
            self.mem32[:] = garbage
        self.epoch[:] = 1
        self.atomics = None
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

    def _check(self, offs, nbytes, lo, hi, info, lanes=None, weights=None):
        """Report accesses outside ``[lo, hi)``.  Returns None when all are inside (or
        the sanitizer is off), else the mask of those outside (the report recorded).
        ``weights``: how many lanes each access stands for (reported counts), default 1."""
        if not self.sanitize:
            return None
        bad = (offs < lo) | (offs + nbytes > hi)
        if not bad.any():
            return None
        j = int(np.flatnonzero(bad)[0])
        if hasattr(info, "overrun"):       # [lo, hi) is a memref view's (runtime.views.ViewAccess)
            check, text = info.overrun(int(offs[j]), nbytes)
        else:
            check, text = "lds-out-of-bounds", (f"LDS access of {nbytes} bytes at offset {int(offs[j])} is "
                                                f"outside its shared allocation [{lo}, {hi})")
        self.report(check, text, info, lane=None if lanes is None else int(lanes[j]),
                    addr=f"LDS+{int(offs[j])}", count=_weighted(bad, weights))
        return bad

    def _lane_facts(self, lanes):
        """(byte base of each lane's workgroup copy, wave of each lane), cached per lane array."""
        c = self._lcache
        if c[0] is lanes:
            return c[1], c[2]
        base = (lanes // self.Lp) * self.stride if self.copies > 1 else 0
        waves = lanes // self.W
        self._lcache = (lanes, base, waves)
        return base, waves

    def _phys(self, offs, lanes):
        if self.copies == 1:
            return offs
        return offs + self._lane_facts(lanes)[0]

    def _waves(self, lanes):
        return self._lane_facts(lanes)[1]

    def _hw_read(self, offs, nbytes, lanes):
        """What the hardware does, unchecked: LDS reads past the workgroup's allocation
        return 0, reads inside it return its bytes."""
        ok = (offs >= 0) & (offs + nbytes <= self.nbytes)
        if nbytes in _UW and ok.all():
            p = self._phys(offs, lanes)
            if not (p & (nbytes - 1)).any():       # aligned words: one gather of a word view
                return self.mem.view(_UW[nbytes])[p // nbytes].view(np.uint8).reshape(-1, nbytes)
        out = np.zeros((offs.shape[0], nbytes), np.uint8)
        if ok.any():
            out[ok] = self.mem[_byte_index(self._phys(offs[ok], lanes[ok]), nbytes)].reshape(-1, nbytes)
        return out

    def _hw_write(self, offs, data, lanes):
        """What the hardware does, unchecked: LDS writes past the workgroup's allocation
        are dropped, writes inside it land (and count as initializing the bytes)."""
        nbytes = data.shape[1]
        ok = (offs >= 0) & (offs + nbytes <= self.nbytes)
        if ok.any():
            idx = _byte_index(self._phys(offs[ok], lanes[ok]), nbytes)
            self.mem[idx] = data[ok].reshape(-1)
            if self.sanitize:
                self.init[idx] = True

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
            outside = self._check(offs, nbytes, lo, hi, info, lanes, weights)
            if outside is not None:        # recorded: those lanes read what the hardware reads
                out = self._hw_read(offs, nbytes, lanes)
                ok = ~outside
                if ok.any():
                    out[ok] = self.read(offs[ok], nbytes, lanes[ok], lo, hi, info,
                                        None if weights is None else weights[ok])
                return out
            offs = self._phys(offs, lanes)
            aligned = nbytes == 4 and not np.count_nonzero(offs & 3)
        if aligned:                                       # aligned dwords: word views
            w = offs >> 2
            unset = self.init32[w] != 0x01010101
            if np.count_nonzero(unset):
                self._uninit(offs, unset, lanes, info, weights)
            self._race(offs, 4, self._waves(lanes), False, info, lanes=lanes, weights=weights, aligned=True)
            return self.mem32[w].view(np.uint8).reshape(-1, 4)
        idx = _byte_index(offs, nbytes)
        ini = self.init[idx]
        if not ini.all():
            self._uninit(offs, ~ini.reshape(-1, nbytes).all(1), lanes, info, weights)
        self._race(offs, nbytes, self._waves(lanes), False, info, lanes=lanes, weights=weights)
        return self.mem[idx].reshape(-1, nbytes)

    def _uninit(self, offs, unset, lanes, info, weights=None):
        j = int(np.flatnonzero(unset)[0])
        self.report("uninitialized-lds", f"LDS byte {int(offs[j])} read before any write in this launch", info,
                    lane=int(lanes[j]), addr=f"LDS+{int(offs[j])}", count=_weighted(unset, weights))

    def write(self, offs, data, lanes, lo, hi, info, order=None):
        nbytes = data.shape[1]
        outside = self._check(offs, nbytes, lo, hi, info, lanes)
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
        offs = self._phys(offs, lanes)
        if not self.sanitize and self._store_words(offs, data, nbytes):
            return
        if self.sanitize and nbytes == 4 and not (offs & 3).any():     # aligned dwords: word views
            w = offs >> 2
            d = np.ascontiguousarray(data).view(np.uint32).reshape(-1)
            old = self.mem32[w]
            self.mem32[w] = d
            # the first store to a word is always a write: its old content was undefined
            agree = self.mem32[w] == d
            changed = (old != d) | ~agree | (self.init32[w] != 0x01010101)
            nch = np.count_nonzero(changed)
            if nch:
                sel = changed if nch != changed.shape[0] else slice(None)
                self._race(offs[sel], 4, self._waves(lanes)[sel], True, info, agree[sel], lanes[sel], aligned=True)
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
                self._race(offs[sel], nbytes, self._waves(lanes)[sel], True, info, agree[sel], lanes[sel])
            self.init[idx] = True
        else:
            self.mem[idx] = data.reshape(-1)

    def _store_words(self, offs, data, nbytes):
        """Unchecked aligned store of ``nbytes``-wide words (physical offsets); False when unaligned."""
        if nbytes not in _UW or (offs & (nbytes - 1)).any():
            return False
        self.mem.view(_UW[nbytes])[offs // nbytes] = np.ascontiguousarray(data).view(_UW[nbytes]).reshape(-1)
        return True

    def read_uniform(self, off, nbytes, waves, lo, hi, info):
        if not self.sanitize:
            if 0 <= off and off + nbytes <= self.nbytes:
                return self.mem[off:off + nbytes].copy()
            return np.zeros(nbytes, np.uint8)           # hardware: LDS reads past the allocation give 0
        if (off < lo or off + nbytes > hi) and self._check(np.array([off]), nbytes, lo, hi, info) is not None:
            return self._hw_read(np.array([off]), nbytes, np.zeros(1, np.int64))[0]
        if not self.init[off:off + nbytes].all():
            self.report("uninitialized-lds", f"LDS byte {off} read before any write in this launch", info,
                        addr=f"LDS+{off}")
        self._race1(off, nbytes, waves, False, info)
        return self.mem[off:off + nbytes].copy()

    def write_uniform(self, off, raw, waves, lo, hi, info):
        nbytes = raw.shape[0]
        if not self.sanitize and (off < 0 or off + nbytes > self.nbytes):
            return
        if (off < lo or off + nbytes > hi) and self._check(np.array([off]), nbytes, lo, hi, info) is not None:
            self._hw_write(np.array([off]), raw.reshape(1, -1), np.zeros(1, np.int64))
            return
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
        if self.atomics is not None:        # plain against atomic accesses (kernels.emu.atomic_memory)
            self.atomics.plain_uniform(self, off, nbytes, waves, info)
        reported = False
        for w in range(off >> 2, ((off + nbytes - 1) >> 2) + 1):
            wcur = self.wr_ep[w] == ep
            for wv in waves:
                bad = wcur and self.wr_wave[w] != wv and (is_write or self.wr_wave[w] != ALL_WAVES)
                if is_write and not bad and self.rd_ep[w] == ep:
                    rw = self.rd_wave[w]
                    bad = rw == -2 or rw != wv
                if bad and not reported:
                    reported = True
                    self.report("lds-race",
                                f"LDS word {w} (byte {w * 4}) touched by wave {wv} and another wave between two "
                                f"barriers, at least one writing (missing gpu.barrier?)", info,
                                lane=wv * self.W, addr=f"LDS+{w * 4}")
            if is_write:
                self.wr_ep[w] = ep
                self.wr_wave[w] = waves[0] if len(waves) == 1 else ALL_WAVES
            else:
                if self.rd_ep[w] != ep:
                    self.rd_ep[w] = ep
                    self.rd_wave[w] = waves[0] if len(waves) == 1 else -2
                elif len(waves) > 1 or self.rd_wave[w] != waves[0]:
                    self.rd_wave[w] = -2

    def _race(self, offs, nbytes, waves, is_write, info, agree=None, lanes=None, weights=None, aligned=False):
        """Race check of a per-lane access; ``agree`` (writes): per lane, whether its bytes
        are what the word holds after the instruction (lanes of several waves storing one
        value to one word in one instruction are benign; different values race).
        ``lanes`` name the accessing lanes in reports; ``aligned``: the offsets are known
        to be multiples of 4."""
        per = 1
        if nbytes == 4 and aligned:
            words = offs >> 2
        elif nbytes > 4 or ((offs & 3) + nbytes > 4).any():
            per = (nbytes + 3) // 4 + 1
            words = ((offs >> 2)[:, None] + np.arange(per)[None, :])
            words = np.minimum(words, self.wr_ep.shape[0] - 1).reshape(-1)
            waves = np.repeat(waves, per)
            if agree is not None:
                agree = np.repeat(agree, per)
        else:
            words = offs >> 2

        def report(bad, message):
            j = int(np.nonzero(bad)[0][0])
            self.report("lds-race", message(j), info,
                        lane=None if lanes is None else int(lanes[j // per]),
                        addr=f"LDS+{(int(words[j]) * 4) % self.stride}",
                        count=_accesses(bad, per) if weights is None else _weighted(bad.reshape(-1, per).any(1),
                                                                                     weights))

        ep = self._ep(words)
        if self.atomics is not None:        # plain against atomic accesses (kernels.emu.atomic_memory)
            self.atomics.plain(self, words, ep, waves, info, lanes, per)
        wcur = self.wr_ep[words] == ep
        conflict = None
        if np.count_nonzero(wcur):           # a word written in this epoch: by another wave?
            ww = self.wr_wave[words]
            conflict = wcur & (ww != waves)
            if not is_write:
                conflict &= ww != ALL_WAVES     # every wave stored that value itself
        if is_write:
            rcur = self.rd_ep[words] == ep
            rw = self.rd_wave[words]
            after_read = rcur & ((rw == -2) | (rw != waves))
            conflict = after_read if conflict is None else conflict | after_read
        if conflict is not None and np.count_nonzero(conflict):
            report(conflict, lambda j: f"LDS word {int(words[j])} (byte {int(words[j]) * 4}) touched by wave "
                                       f"{int(waves[j])} and another wave between two barriers, at least one "
                                       f"writing (missing gpu.barrier?)")
        if is_write:
            self.wr_ep[words] = ep
            self.wr_wave[words] = waves
            multi = self.wr_wave[words] != waves if _repeats(words) else None
            if multi is not None and multi.any():
                bad = multi if agree is None else multi & ~agree
                if bad.any():
                    report(bad, lambda j: f"LDS word {int(words[j])} written with different values by two waves "
                                          f"in one instruction")
                self.wr_wave[words[multi]] = ALL_WAVES
        else:
            old_ep = self.rd_ep[words]
            old = np.where(old_ep == ep, self.rd_wave[words], waves)
            self.rd_ep[words] = ep
            self.rd_wave[words] = waves
            multi = old != waves
            if _repeats(words):                  # a word read by several lanes here
                multi |= self.rd_wave[words] != waves
            if np.count_nonzero(multi):
                self.rd_wave[words[multi]] = -2
