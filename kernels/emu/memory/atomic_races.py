"""Atomics against plain accesses: the race checkers' shadows of atomic accesses.

Atomics never race with atomics.  An atomic and a plain access (load or store)
to one LDS word race when different waves make them in one barrier epoch
(``lds-race``); to one global halfword when different workgroups make them in
one launch (``global-race``), or different waves of one workgroup in one
barrier epoch (``wave-race``).  The race checkers (:class:`~.lds_race.LdsRace`,
:class:`~.global_race.GlobalRace`) keep one of these shadows where an atomic
touched their memory in this launch, check plain accesses against it and
atomics against their own plain-access shadows.
"""
from __future__ import annotations

import numpy as np

from ..arrays import ndim
from .access import MANY_WAVES, NO_WAVE, NO_WORKGROUP, SEVERAL_WORKGROUPS, at, first_lane_of_wave


class LdsAtomicShadow:
    """Per LDS word: the barrier epoch of the last atomic and the wave that made it
    (:data:`~.access.MANY_WAVES` when several waves did in that epoch)."""

    def __init__(self, nwords):
        self.ep = np.zeros(nwords, np.int32)
        self.wave = np.zeros(nwords, np.int32)

    def atomic(self, race, words, waves, site, lanes):
        """Check atomics by ``waves`` on ``words`` against the plain accesses of this epoch in the
        shadows of ``race`` (the :class:`~.lds_race.LdsRace`); record them."""
        ep = race.epoch_of(words)
        wcur = (race.wr_ep[words] == ep) & (race.wr_wave[words] != waves)
        rw = race.rd_wave[words]
        rcur = (race.rd_ep[words] == ep) & ((rw == MANY_WAVES) | (rw != waves))
        bad = wcur | rcur
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            what = "written" if wcur[j] else "read"
            race.report("lds-race", f"LDS word {int(words[j])} (byte {int(words[j]) * 4}) updated by an atomic of wave "
                                    f"{int(waves[j])} and {what} by a plain access of another wave between two barriers "
                                    f"(missing gpu.barrier?)", site, lane=int(lanes[j]),
                        addr=f"LDS+{(int(words[j]) * 4) % race.stride}", count=int(np.count_nonzero(bad)))
        prev = np.where(self.ep[words] == ep, self.wave[words], waves)
        self.ep[words] = ep
        self.wave[words] = waves
        several = (prev != waves) | (self.wave[words] != waves)
        if several.any():
            self.wave[words[several]] = MANY_WAVES

    def plain(self, race, words, ep, waves, site, lanes, per):
        """Check plain accesses by ``waves`` (one per entry of ``words``) against this epoch's atomics."""
        aw = self.wave[words]
        bad = (self.ep[words] == ep) & ((aw == MANY_WAVES) | (aw != waves))
        if np.count_nonzero(bad):
            j = int(np.flatnonzero(bad)[0])
            race.report("lds-race", f"LDS word {int(words[j])} (byte {int(words[j]) * 4}) accessed plainly by wave "
                                    f"{int(waves[j])} and updated by an atomic of another wave between two barriers "
                                    f"(missing gpu.barrier?)", site,
                        lane=None if lanes is None else int(lanes[j // per]),
                        addr=f"LDS+{(int(words[j]) * 4) % race.stride}", count=int(np.count_nonzero(bad)))

    def plain_uniform(self, race, off, nbytes, waves, site, lanes):
        """:meth:`plain` of one access by every wave in ``waves`` (a uniform access by ``lanes``:
        findings name the first lane of the wave)."""
        words = np.arange(off >> 2, ((off + nbytes - 1) >> 2) + 1)
        for wv in waves:
            lane = wv * race.W if lanes is None else first_lane_of_wave(lanes, wv, race.W)
            self.plain(race, words, race.epoch[0], np.full(words.shape[0], wv, np.int32), site,
                       np.full(words.shape[0], lane), 1)


class GlobalAtomicShadow:
    """Per halfword of one allocation: the workgroup that made atomics there in this launch
    (:data:`~.access.NO_WORKGROUP` none, :data:`~.access.SEVERAL_WORKGROUPS` several), the
    wave (or :data:`~.access.MANY_WAVES`) and its barrier epoch."""

    def __init__(self, nbytes):
        n = (nbytes + 1) >> 1
        self.wg = np.full(n, NO_WORKGROUP, np.int32)
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

    def atomic(self, report, a, s, acc):
        """Check the atomics ``acc`` in allocation ``a`` against the plain accesses of this launch in
        ``s`` (its :class:`~.global_race.RaceShadow`); record them."""
        o, nbytes, wg, wave, ep, site, lanes = (acc.offsets, acc.nbytes, acc.workgroup, acc.wave, acc.epoch,
                                                acc.site, acc.lanes)
        g = s.gran
        e = (o // g)[:, None] + np.arange(max(1, nbytes // g))[None, :]
        wgc, wvc, epc = _col(wg), _col(NO_WAVE if wave is None else wave), _col(ep)
        wr, rd = s.wr[e], s.rd[e]
        bad = ((wr >= 0) & (wr != wgc)) | (rd == SEVERAL_WORKGROUPS) | ((rd >= 0) & (rd != wgc))
        if bad.any():
            j = int(np.flatnonzero(bad.any(1))[0])
            report("global-race", f"global byte {int(o[j])} of {a.name}: atomic by workgroup {at(wg, j)} and a "
                                  f"plain access by another workgroup in the same launch", site,
                   lane=at(lanes, j), wg=at(wg, j), addr=a.start + int(o[j]),
                   count=int(np.count_nonzero(bad.any(1))))
        elif wave is not None:
            wwv, rwv = s.wr_wv[e], s.rd_wv[e]
            bad = ((wr == wgc) & (s.wr_ep[e] == epc) & (wwv != wvc)) | \
                  ((rd == wgc) & (s.rd_ep[e] == epc) & ((rwv == MANY_WAVES) | (rwv != wvc)))
            if bad.any():
                j = int(np.flatnonzero(bad.any(1))[0])
                report("wave-race", f"global byte {int(o[j])} of {a.name}: atomic by wave {at(wave, j)} of "
                                    f"workgroup {at(wg, j)} and a plain access by another wave, with no barrier "
                                    f"between (missing gpu.barrier?)", site, lane=at(lanes, j), wg=at(wg, j),
                       addr=a.start + int(o[j]), count=int(np.count_nonzero(bad.any(1))))
        h, valid = self._entries(o, nbytes, self.wg.shape[0])
        wgr, wvr, epr = (np.broadcast_to(_col(x), h.shape)[valid] for x in (wg, NO_WAVE if wave is None else wave, ep))
        h = h[valid]
        pwg, pwv, pep = self.wg[h], self.wave[h], self.ep[h]
        self.wg[h], self.wave[h], self.ep[h] = wgr, wvr, epr
        several_wg = ((pwg >= 0) & (pwg != wgr)) | (pwg == SEVERAL_WORKGROUPS) | (self.wg[h] != wgr)
        several_wv = (pwg == wgr) & (pep == epr) & (pwv != wvr) | (self.wave[h] != wvr)
        if several_wg.any():
            self.wg[h[several_wg]] = SEVERAL_WORKGROUPS
        if several_wv.any():
            self.wave[h[several_wv]] = MANY_WAVES

    def plain(self, report, a, acc, is_write):
        """Check the plain accesses ``acc`` in allocation ``a`` against this launch's atomics."""
        o, wg, wave, lanes = acc.offsets, acc.workgroup, acc.wave, acc.lanes
        h, valid = self._entries(o, acc.nbytes, self.wg.shape[0])
        aw_g = self.wg[h]
        wgc = _col(wg)
        bad = valid & ((aw_g == SEVERAL_WORKGROUPS) | ((aw_g >= 0) & (aw_g != wgc)))
        kind = "global-race"
        if not bad.any() and wave is not None:
            aw = self.wave[h]
            bad = valid & (aw_g == wgc) & (self.ep[h] == _col(acc.epoch)) & ((aw == MANY_WAVES) | (aw != _col(wave)))
            kind = "wave-race"
        if bad.any():
            j = int(np.flatnonzero(bad.any(1))[0])
            who = "another workgroup in the same launch" if kind == "global-race" else \
                "another wave of its workgroup, with no barrier between (missing gpu.barrier?)"
            report(kind, f"global byte {int(o[j])} of {a.name}: plain {'store' if is_write else 'load'} by "
                         f"workgroup {at(wg, j)} and an atomic by {who}", acc.site, lane=at(lanes, j),
                   wg=at(wg, j), addr=a.start + int(o[j]), count=int(np.count_nonzero(bad.any(1))))


def _col(x):
    return x[:, None] if ndim(x) else x
