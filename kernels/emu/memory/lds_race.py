"""Races in LDS: two waves of one workgroup touching a word between two barriers, one writing.

Per 4-byte word, the barrier epoch and wave of the last writer and of the
readers; a barrier starts a new epoch (the LDS's ``epoch``, per workgroup copy
of a batch).  A word touched by two waves in one epoch, one writing, is an
``lds-race``.

* Every first store to a word is a write (LDS starts undefined, whatever
  pattern it holds): the checker consults the written-byte map it is given
  (the :class:`~.uninit.LdsUninit` map, which marks a store's bytes after this
  checker saw it).  A store that leaves a word as it was is not a write.
* One value stored by several waves (a uniform store, or lanes of several
  waves in one instruction) counts as each wave's own write
  (:data:`~.access.ALL_WAVES`); different values so stored are a race.
* Atomics keep a shadow of their own (:class:`~.atomic_races.LdsAtomicShadow`).

Offsets are physical (workgroup copy ``c`` at ``c * stride``); findings name
the byte inside the workgroup's LDS.
"""
from __future__ import annotations

import numpy as np

from .access import ALL_WAVES, MANY_WAVES, WORD_WRITTEN, Checker, accesses, byte_index, first_lane_of_wave, weighted
from .atomic_races import LdsAtomicShadow


class LdsRace(Checker):
    """Race shadows of ``nwords`` LDS words: ``epoch`` is the LDS's barrier epoch per workgroup
    copy (shared, the LDS advances it), ``words_per_copy`` and ``stride`` (bytes) the layout of
    the copies, ``wave_size`` the lanes of a wave, ``written`` the written-byte map."""

    def __init__(self, nwords, epoch, words_per_copy, stride, wave_size, written):
        self.wr_ep = np.zeros(nwords, np.int32)
        self.wr_wave = np.zeros(nwords, np.int32)
        self.rd_ep = np.zeros(nwords, np.int32)
        self.rd_wave = np.zeros(nwords, np.int32)
        self.epoch = epoch
        self.copies = epoch.shape[0]
        self.wpc = words_per_copy
        self.stride = stride
        self.W = wave_size
        self.written = written
        self.written32 = written.view(np.uint32)
        self.atomics = None     # atomic shadow of the current workgroups, None without atomics

    def on_reset(self):
        """New workgroups: no word was touched."""
        self.wr_ep[:] = 0
        self.rd_ep[:] = 0
        self.atomics = None

    def epoch_of(self, words):
        """The barrier epoch of the workgroup copy holding each of ``words``."""
        if self.copies == 1:
            return self.epoch[0]
        return self.epoch[np.minimum(words // self.wpc, self.copies - 1)]

    # -- hooks
    def on_load(self, acc, words):
        """A per-lane load; ``words``: its dword indices when it is of whole aligned dwords, else None."""
        self._race(acc.offsets, acc.nbytes, acc.wave, False, acc.site, lanes=acc.lanes, weights=acc.weights,
                   words=words)

    def on_store(self, acc, changed, agree, words):
        """A per-lane store: ``changed`` marks the lanes whose store changed the bytes, ``agree``
        those whose bytes are what memory holds after the instruction; ``words`` as for :meth:`on_load`."""
        offs, nbytes, waves, lanes = acc.offsets, acc.nbytes, acc.wave, acc.lanes
        if words is not None:
            # the first store to a word is always a write: its old content was undefined
            changed = changed | (self.written32[words] != WORD_WRITTEN)
            nch = np.count_nonzero(changed)
            if nch:
                sel = changed if nch != changed.shape[0] else slice(None)
                self._race(offs[sel], 4, waves[sel], True, acc.site, agree[sel], lanes[sel], words=words[sel])
            return
        changed = changed | ~self.written[byte_index(offs, nbytes)].reshape(-1, nbytes).all(axis=1)
        if changed.any():
            sel = changed if not changed.all() else slice(None)
            self._race(offs[sel], nbytes, waves[sel], True, acc.site, agree[sel], lanes[sel])

    def on_uniform_load(self, acc):
        """A load of one offset by every lane of ``acc`` (its ``wave``: their waves)."""
        self._race1(acc.offsets, acc.nbytes, acc.wave, False, acc.site, acc.lanes)

    def on_uniform_store(self, acc, changed):
        """A store of one value to one offset by every lane of ``acc``; ``changed``: it changes the bytes."""
        off, nbytes = acc.offsets, acc.nbytes
        if changed or not (self.written32[off >> 2] == WORD_WRITTEN if nbytes == 4 and not off & 3
                           else self.written[off:off + nbytes].all()):
            self._race1(off, nbytes, acc.wave, True, acc.site, acc.lanes)

    def on_atomic(self, acc):
        """Atomics: checked against this epoch's plain accesses, recorded in the atomic shadow."""
        per = max(1, acc.nbytes // 4)
        words = (acc.offsets >> 2)[:, None] + np.arange(per)[None, :]
        if self.atomics is None:
            self.atomics = LdsAtomicShadow(self.wr_ep.shape[0])
        self.atomics.atomic(self, words.reshape(-1), np.repeat(acc.wave, per), acc.site, np.repeat(acc.lanes, per))

    # -- the check
    def _race1(self, off, nbytes, waves, is_write, site, lanes):
        """Race check of a uniform access by ``waves`` (one value from all of them) and
        ``lanes`` (findings name the first lane of the wave)."""
        ep = self.epoch[0]
        if self.atomics is not None:        # plain against atomic accesses
            self.atomics.plain_uniform(self, off, nbytes, waves, site, lanes)
        reported = False
        for w in range(off >> 2, ((off + nbytes - 1) >> 2) + 1):
            wcur = self.wr_ep[w] == ep
            for wv in waves:
                bad = wcur and self.wr_wave[w] != wv and (is_write or self.wr_wave[w] != ALL_WAVES)
                if is_write and not bad and self.rd_ep[w] == ep:
                    rw = self.rd_wave[w]
                    bad = rw == MANY_WAVES or rw != wv
                if bad and not reported:
                    reported = True
                    self.report("lds-race",
                                f"LDS word {w} (byte {w * 4}) touched by wave {wv} and another wave between two "
                                f"barriers, at least one writing (missing gpu.barrier?)", site,
                                lane=wv * self.W if lanes is None else first_lane_of_wave(lanes, wv, self.W),
                                addr=f"LDS+{w * 4}")
            if is_write:
                self.wr_ep[w] = ep
                self.wr_wave[w] = waves[0] if len(waves) == 1 else ALL_WAVES
            else:
                if self.rd_ep[w] != ep:
                    self.rd_ep[w] = ep
                    self.rd_wave[w] = waves[0] if len(waves) == 1 else MANY_WAVES
                elif len(waves) > 1 or self.rd_wave[w] != waves[0]:
                    self.rd_wave[w] = MANY_WAVES

    def _race(self, offs, nbytes, waves, is_write, site, agree=None, lanes=None, weights=None, words=None):
        """Race check of a per-lane access; ``agree`` (writes): per lane, whether its bytes
        are what the word holds after the instruction (lanes of several waves storing one
        value to one word in one instruction are benign; different values race).
        ``lanes`` name the accessing lanes in reports; ``words``: the dword indices of an
        access of whole aligned dwords (None: computed here)."""
        per = 1
        if words is not None:
            pass
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
            self.report("lds-race", message(j), site,
                        lane=None if lanes is None else int(lanes[j // per]),
                        addr=f"LDS+{(int(words[j]) * 4) % self.stride}",
                        count=accesses(bad, per) if weights is None else weighted(bad.reshape(-1, per).any(1),
                                                                                   weights))

        ep = self.epoch_of(words)
        if self.atomics is not None:        # plain against atomic accesses
            self.atomics.plain(self, words, ep, waves, site, lanes, per)
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
            after_read = rcur & ((rw == MANY_WAVES) | (rw != waves))
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
                self.rd_wave[words[multi]] = MANY_WAVES


def _repeats(words):
    """Whether the word indices ``words`` may hold one word twice: False when they ascend."""
    return words.shape[0] > 1 and np.count_nonzero(words[1:] <= words[:-1]) != 0
