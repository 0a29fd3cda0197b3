"""Atomic accesses to LDS and global memory, and the sanitizer's view of them.

:func:`lds_atomic` and :func:`global_atomic` apply the accesses of one atomic
instruction (each of one element of ``nbytes``) in the order given, through
a read-modify-write ``rmw(keys, cur, vals, cmps) -> (old, new, ok)`` on raw
bytes (:func:`kernels.emu.atomic_ops.apply` behind it): every access gets the
bytes its address held before its own update.

Sanitizer (when the memory's ``sanitize`` is on):

* Atomics never race with atomics.  An atomic and a plain access (load or
  store) to one LDS word race when different waves make them in one barrier
  epoch (``lds-race``); to one global halfword when different workgroups
  make them in one launch (``global-race``), or different waves of one
  workgroup in one barrier epoch (``wave-race``).  Each memory keeps, where an
  atomic touched it, an atomic shadow (:class:`LdsAtomicShadow`,
  :class:`GlobalAtomicShadow`: who made atomics there, in which epoch) in its
  ``atomics`` attribute; plain accesses consult it through that attribute
  (None while no atomic touched the memory in this launch).
* An atomic outside its LDS allocation or outside every global allocation is
  reported as any access is; when recorded, it acts as the hardware does: an
  LDS atomic inside the workgroup's LDS still applies, one past it or outside
  every tensor is dropped and returns 0.
* An atomic reading LDS bytes never written in the launch is an
  ``uninitialized-lds`` finding, one reading an output-only tensor's bytes not
  written in this launch ``uninitialized-output``; the atomic initializes them.
"""
from __future__ import annotations

import numpy as np

from . import provenance
from .arrays import ndim
from .memory import MANY_WAVES, NO_WAVE, _byte_index, _sel

#: Marker of an atomic shadow entry touched by several waves / workgroups.
_SEVERAL = -2


def _last_writes(keys):
    """Positions of the last access to each distinct key (the one that leaves the final value)."""
    rev = keys[::-1]
    _, first = np.unique(rev, return_index=True)
    return keys.shape[0] - 1 - first


def _rmw_bytes(mem, phys, nbytes, rmw, vals, cmps):
    """Apply ``rmw`` to the byte array ``mem`` at byte offsets ``phys``: the old bytes of each access."""
    idx = _byte_index(phys, nbytes)
    cur = mem[idx].reshape(-1, nbytes)
    old, new, ok = rmw(phys, cur, vals, cmps)
    last = _last_writes(phys)
    mem[_byte_index(phys[last], nbytes)] = new[last].reshape(-1)
    return old, ok


def _zeros(n, nbytes):
    return np.zeros((n, nbytes), np.uint8), np.zeros(n, bool)


# ---------------------------------------------------------------- LDS
class LdsAtomicShadow:
    """Per LDS word: the barrier epoch of the last atomic and the wave that made it
    (:data:`_SEVERAL` when several waves did in that epoch)."""

    def __init__(self, nwords):
        self.ep = np.zeros(nwords, np.int32)
        self.wave = np.zeros(nwords, np.int32)

    def atomic(self, lds, words, waves, info, lanes):
        """Check atomics by ``waves`` on ``words`` against plain accesses of this epoch; record them."""
        ep = lds._ep(words)
        wcur = (lds.wr_ep[words] == ep) & (lds.wr_wave[words] != waves)
        rw = lds.rd_wave[words]
        rcur = (lds.rd_ep[words] == ep) & ((rw == -2) | (rw != waves))
        bad = wcur | rcur
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            what = "written" if wcur[j] else "read"
            lds.report("lds-race", f"LDS word {int(words[j])} (byte {int(words[j]) * 4}) updated by an atomic of wave "
                                   f"{int(waves[j])} and {what} by a plain access of another wave between two barriers "
                                   f"(missing gpu.barrier?)", info, lane=int(lanes[j]),
                       addr=f"LDS+{(int(words[j]) * 4) % lds.stride}", count=int(np.count_nonzero(bad)))
        prev = np.where(self.ep[words] == ep, self.wave[words], waves)
        self.ep[words] = ep
        self.wave[words] = waves
        several = (prev != waves) | (self.wave[words] != waves)
        if several.any():
            self.wave[words[several]] = _SEVERAL

    def plain(self, lds, words, ep, waves, info, lanes, per):
        """Check plain accesses by ``waves`` (one per entry of ``words``) against this epoch's atomics."""
        aw = self.wave[words]
        bad = (self.ep[words] == ep) & ((aw == _SEVERAL) | (aw != waves))
        if np.count_nonzero(bad):
            j = int(np.flatnonzero(bad)[0])
            lds.report("lds-race", f"LDS word {int(words[j])} (byte {int(words[j]) * 4}) accessed plainly by wave "
                                   f"{int(waves[j])} and updated by an atomic of another wave between two barriers "
                                   f"(missing gpu.barrier?)", info,
                       lane=None if lanes is None else int(lanes[j // per]),
                       addr=f"LDS+{(int(words[j]) * 4) % lds.stride}", count=int(np.count_nonzero(bad)))

    def plain_uniform(self, lds, off, nbytes, waves, info):
        """:meth:`plain` of one access by every wave in ``waves`` (a uniform access)."""
        words = np.arange(off >> 2, ((off + nbytes - 1) >> 2) + 1)
        for wv in waves:
            self.plain(lds, words, lds.epoch[0], np.full(words.shape[0], wv, np.int32), info,
                       np.full(words.shape[0], wv * lds.W), 1)


def lds_atomic(lds, offs, lanes, lo, hi, info, nbytes, rmw, vals, cmps=None):
    """Atomic accesses of ``nbytes`` at LDS offsets ``offs`` by ``lanes`` (bounded by ``[lo, hi)``), applied in
    the order given; returns ``(old bytes (n, nbytes), success (n,))``."""
    n = offs.shape[0]
    outside = lds._check(offs, nbytes, lo, hi, info, lanes)
    inside = slice(None)
    if outside is not None or not lds.sanitize:
        inside = (offs >= 0) & (offs + nbytes <= lds.nbytes)          # the hardware drops the rest
        if outside is not None:
            unchecked = outside & inside
            if unchecked.any():
                old, ok = _zeros(n, nbytes)
                old[unchecked], ok[unchecked] = _rmw_bytes(lds.mem, lds._phys(offs[unchecked], lanes[unchecked]),
                                                           nbytes, rmw, vals[unchecked], _sel(cmps, unchecked))
                rest = inside & ~outside
                if rest.any():
                    old[rest], ok[rest] = lds_atomic(lds, offs[rest], lanes[rest], lo, hi, info, nbytes, rmw,
                                                     vals[rest], _sel(cmps, rest))
                return old, ok
            inside &= ~outside
        if not inside.any():
            return _zeros(n, nbytes)
        if inside.all():
            inside = slice(None)
    o, ln, v, c = offs[inside], lanes[inside], vals[inside], _sel(cmps, inside)
    phys = lds._phys(o, ln)
    if lds.sanitize:
        idx = _byte_index(phys, nbytes)
        unset = ~lds.init[idx].reshape(-1, nbytes).all(1)
        if unset.any():
            lds._uninit(phys, unset, ln, info)
        if lds.atomics is None:
            lds.atomics = LdsAtomicShadow(lds.wr_ep.shape[0])
        per = max(1, nbytes // 4)
        words = (phys >> 2)[:, None] + np.arange(per)[None, :]
        lds.atomics.atomic(lds, words.reshape(-1), np.repeat(lds._waves(ln), per), info, np.repeat(ln, per))
        lds.init[idx] = True
    old, ok = _rmw_bytes(lds.mem, phys, nbytes, rmw, v, c)
    if isinstance(inside, slice):
        return old, ok
    out, oks = _zeros(n, nbytes)
    out[inside], oks[inside] = old, ok
    return out, oks


# ---------------------------------------------------------------- global
class GlobalAtomicShadow:
    """Per halfword of one allocation: the workgroup that made atomics there in this launch
    (-1 none, :data:`_SEVERAL` several), the wave (or ``MANY_WAVES``) and its barrier epoch."""

    def __init__(self, nbytes):
        n = (nbytes + 1) >> 1
        self.wg = np.full(n, -1, np.int32)
        self.wave = np.full(n, NO_WAVE, np.int32)
        self.ep = np.zeros(n, np.int32)

    @staticmethod
    def _entries(o, nbytes, n):
        """Halfword entries of accesses of ``nbytes`` at byte offsets ``o``: ``(entries, valid)``, one row
        per access (rows padded to the widest; ``valid`` marks the real entries), clamped below ``n``."""
        per = ((o & 1) + nbytes + 1) >> 1
        width = int(per.max()) if per.shape[0] else 1
        steps = np.arange(width)[None, :]
        return np.minimum((o >> 1)[:, None] + steps, n - 1), steps < per[:, None]

    def atomic(self, gmem, a, o, nbytes, wg, wave, ep, info, lanes):
        """Check atomics at byte offsets ``o`` of ``a`` against plain accesses of this launch; record them."""
        g = a.gran
        e = (o // g)[:, None] + np.arange(max(1, nbytes // g))[None, :]
        wgc, wvc, epc = _col(wg), _col(NO_WAVE if wave is None else wave), _col(ep)
        wr, rd = a.wr[e], a.rd[e]
        bad = ((wr >= 0) & (wr != wgc)) | (rd == -2) | ((rd >= 0) & (rd != wgc))
        if bad.any():
            j = int(np.flatnonzero(bad.any(1))[0])
            gmem.report("global-race", f"global byte {int(o[j])} of {a.name}: atomic by workgroup {_at(wg, j)} and a "
                                       f"plain access by another workgroup in the same launch", info,
                        lane=_at(lanes, j), wg=_at(wg, j), addr=a.start + int(o[j]),
                        count=int(np.count_nonzero(bad.any(1))))
        elif wave is not None:
            wwv, rwv = a.wr_wv[e], a.rd_wv[e]
            bad = ((wr == wgc) & (a.wr_ep[e] == epc) & (wwv != wvc)) | \
                  ((rd == wgc) & (a.rd_ep[e] == epc) & ((rwv == MANY_WAVES) | (rwv != wvc)))
            if bad.any():
                j = int(np.flatnonzero(bad.any(1))[0])
                gmem.report("wave-race", f"global byte {int(o[j])} of {a.name}: atomic by wave {_at(wave, j)} of "
                                         f"workgroup {_at(wg, j)} and a plain access by another wave, with no barrier "
                                         f"between (missing gpu.barrier?)", info, lane=_at(lanes, j), wg=_at(wg, j),
                            addr=a.start + int(o[j]), count=int(np.count_nonzero(bad.any(1))))
        h, valid = self._entries(o, nbytes, self.wg.shape[0])
        wgr, wvr, epr = (np.broadcast_to(_col(x), h.shape)[valid] for x in (wg, NO_WAVE if wave is None else wave, ep))
        h = h[valid]
        pwg, pwv, pep = self.wg[h], self.wave[h], self.ep[h]
        self.wg[h], self.wave[h], self.ep[h] = wgr, wvr, epr
        several_wg = ((pwg >= 0) & (pwg != wgr)) | (pwg == _SEVERAL) | (self.wg[h] != wgr)
        several_wv = (pwg == wgr) & (pep == epr) & (pwv != wvr) | (self.wave[h] != wvr)
        if several_wg.any():
            self.wg[h[several_wg]] = _SEVERAL
        if several_wv.any():
            self.wave[h[several_wv]] = MANY_WAVES

    def plain(self, gmem, a, o, nbytes, wg, wave, ep, is_write, info, lanes):
        """Check plain accesses at byte offsets ``o`` of ``a`` against this launch's atomics."""
        h, valid = self._entries(o, nbytes, self.wg.shape[0])
        at = self.wg[h]
        wgc = _col(wg)
        bad = valid & ((at == _SEVERAL) | ((at >= 0) & (at != wgc)))
        kind = "global-race"
        if not bad.any() and wave is not None:
            aw = self.wave[h]
            bad = valid & (at == wgc) & (self.ep[h] == _col(ep)) & ((aw == MANY_WAVES) | (aw != _col(wave)))
            kind = "wave-race"
        if bad.any():
            j = int(np.flatnonzero(bad.any(1))[0])
            who = "another workgroup in the same launch" if kind == "global-race" else \
                "another wave of its workgroup, with no barrier between (missing gpu.barrier?)"
            gmem.report(kind, f"global byte {int(o[j])} of {a.name}: plain {'store' if is_write else 'load'} by "
                              f"workgroup {_at(wg, j)} and an atomic by {who}", info, lane=_at(lanes, j),
                        wg=_at(wg, j), addr=a.start + int(o[j]), count=int(np.count_nonzero(bad.any(1))))


def _col(x):
    return x[:, None] if ndim(x) else x


def _at(x, j):
    if x is None:
        return None
    return int(x[j]) if ndim(x) else int(x)


def global_atomic(gmem, addr, nbytes, rmw, vals, cmps, info, wg=0, wave=None, ep=0, lanes=None):
    """Atomic accesses of ``nbytes`` at host addresses ``addr``, applied in the order given (accessors as
    in :meth:`~kernels.emu.memory.GlobalMemory.read`); returns ``(old bytes (n, nbytes), success (n,))``."""
    n = addr.shape[0]
    k, offs, outside = gmem._locate(addr, nbytes, info, lanes)
    if outside is not None:                       # recorded: those accesses are dropped and return 0
        old, ok = _zeros(n, nbytes)
        keep = ~outside
        if keep.any():
            old[keep], ok[keep] = global_atomic(gmem, addr[keep], nbytes, rmw, vals[keep], _sel(cmps, keep), info,
                                                _sel(wg, keep), _sel(wave, keep), _sel(ep, keep), _sel(lanes, keep))
        return old, ok
    old, ok = _zeros(n, nbytes)
    for a, o, sel in gmem._groups(k, offs):
        w = dict(wg=_sel(wg, sel), wave=_sel(wave, sel), ep=_sel(ep, sel), lanes=_sel(lanes, sel))
        v, c = (vals, cmps) if sel is None else (vals[sel], _sel(cmps, sel))
        o = np.asarray(o, np.int64)
        if gmem.sanitize:
            _check_global(gmem, a, o, nbytes, info, **w)
        r, s = _rmw_bytes(a.bytes, o, nbytes, rmw, v, c)
        if provenance.active():
            provenance.note(a, _byte_index(o, nbytes), gmem.report.kernel, info)
        if sel is None:
            old, ok = r, s
        else:
            old[sel], ok[sel] = r, s
    return old, ok


def _check_global(gmem, a, o, nbytes, info, wg, wave, ep, lanes):
    """Sanitizer part of a global atomic: output-only bytes read before written, races with plain accesses."""
    if a.output_only:
        idx = _byte_index(o, nbytes)
        unset = ~a.init[idx].reshape(-1, nbytes).all(1)
        if unset.any():
            j = int(np.flatnonzero(unset)[0])
            gmem.report("uninitialized-output", f"atomic on output-only tensor {a.name} at byte {int(o[j])} reads it "
                                                f"before anything wrote it in this launch", info, lane=_at(lanes, j),
                        wg=_at(wg, j), addr=a.start + int(o[j]), count=int(np.count_nonzero(unset)))
        a.init[idx] = True
    if a.wr is None:
        gmem._apply_pending(a)
    if a.gran != 1 and (nbytes & 3 or np.count_nonzero(o & 3)):
        gmem._byte_shadows(a)
    if a.atomics is None:
        a.atomics = GlobalAtomicShadow(a.end - a.start)
    a.atomics.atomic(gmem, a, o, nbytes, wg, wave, ep, info, lanes)
