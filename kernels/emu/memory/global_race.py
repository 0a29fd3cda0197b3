"""Races in global memory: between workgroups of a launch, and between waves of one workgroup.

Per allocation (:class:`RaceShadow`, made at the first write), per byte, the
workgroup, wave and barrier epoch of its last writer and of its readers during
this launch.  Two workgroups touching one byte, one writing, is a
``global-race``; so are two waves of one workgroup touching it between two
barriers, one writing (``wave-race``).  Tracked per byte, because global stores
carry byte enables: different bytes of one dword never clobber.  While every
access tracked in a tensor is of whole aligned dwords, the shadows have one
entry per dword (the same findings, a quarter of the work).

A uniform store executed by several waves (the same value from each), or one
store instruction whose lanes of several waves hit the same byte, counts as
every wave's own write (:data:`~.access.ALL_WAVES`): later reads of it in the
same epoch are not a race.  A store that leaves the bytes as they were is not a
write (the memory hands only the changing stores to :meth:`GlobalRace.on_store`).

Reads before a tensor's first write cannot race with anything yet: they are
logged and applied to the shadows at the first write (a tensor only read costs
a list append per read).  Atomics keep a shadow of their own
(:class:`~.atomic_races.GlobalAtomicShadow`) that plain accesses are checked
against, and are checked against the plain accesses' shadows.

A race found is reported; when the reporter records it, the access proceeds and
the shadows are updated as for any other access.
"""
from __future__ import annotations

import numpy as np

from ..arrays import ndim
from .access import ALL_WAVES, MANY_WAVES, NO_WAVE, NO_WORKGROUP, SEVERAL_WORKGROUPS, Access, Checker, accesses, at
from .atomic_races import GlobalAtomicShadow

#: Byte steps of an access of 1, 2, 4, 8 or 16 bytes, as a row to add to its offsets.
_BYTE_STEPS = {n: np.arange(n, dtype=np.int64)[None, :] for n in (1, 2, 4, 8, 16)}

#: Race shadows per dword while a tensor's accesses are of whole aligned dwords (else per byte).
WORD_SHADOWS = True

#: Bytes of arrays an allocation's log of reads holds before it is applied to its shadows.
PENDING_LIMIT = 128 << 20

_SHADOWS = ("wr", "rd", "wr_wv", "wr_ep", "rd_wv", "rd_ep")


class RaceShadow:
    """The race shadows of one allocation during a launch: per entry (a byte, or a dword
    while ``gran`` is 4), the last writer's workgroup ``wr`` (:data:`~.access.NO_WORKGROUP`
    none), wave ``wr_wv`` and epoch ``wr_ep``, and the readers' workgroup ``rd``
    (:data:`~.access.SEVERAL_WORKGROUPS` several), wave ``rd_wv`` (:data:`~.access.MANY_WAVES`
    several) and epoch ``rd_ep``; None until the first write.  ``pending``: the reads logged
    before it; ``atomics``: the atomic shadow (None without atomics)."""

    __slots__ = _SHADOWS + ("gran", "pending", "pending_bytes", "pending_ids", "atomics")

    def __init__(self):
        self.wr = self.rd = self.wr_wv = self.wr_ep = self.rd_wv = self.rd_ep = None
        self.gran = 1
        self.pending = []
        self.pending_bytes = 0
        self.pending_ids = set()   # ids of the arrays the log holds (counted once in pending_bytes)
        self.atomics = None


class GlobalRace(Checker):
    """The global race check of the allocations ``allocs``."""

    def __init__(self, allocs):
        self.allocs = allocs
        self.shadows = {a: RaceShadow() for a in allocs}

    def on_launch_begin(self):
        self.shadows = {a: RaceShadow() for a in self.allocs}

    def shadow(self, a) -> RaceShadow:
        """Allocation ``a``'s shadows, allocated (and its logged reads applied)."""
        s = self.shadows[a]
        if s.wr is None:
            self._apply_pending(a, s)
        return s

    # -- hooks
    def on_load(self, a, acc):
        """Loads at byte offsets ``acc.offsets`` of ``a``."""
        s = self.shadows[a]
        if s.wr is None:
            if s.pending_bytes < PENDING_LIMIT:
                # No byte of ``a`` was written in this launch yet, so a read can race with nothing
                # so far: only the reader shadows change, and nothing reads them before the first
                # write.  Reads of tensors a launch never writes (its inputs) so cost a list append;
                # the first write (or a long log) applies them in their order (_apply_pending).
                s.pending.append(acc)
                s.pending_bytes += _new_bytes(s.pending_ids, (acc.offsets, acc.workgroup, acc.wave, acc.epoch,
                                                              acc.lanes))
                return
            self._apply_pending(a, s)
        self._track(a, s, acc, False)

    def on_store(self, a, acc, changed=None):
        """Stores at byte offsets ``acc.offsets`` of ``a``; ``changed`` (None: all) marks those that
        change the bytes: only they are writes."""
        if changed is not None:
            nch = np.count_nonzero(changed)
            if not nch:
                return
            if nch != changed.shape[0]:
                acc = acc.select(changed)
        s = self.shadows[a]
        if s.wr is None:
            self._apply_pending(a, s)
        self._track(a, s, acc, True)

    def on_uniform_load(self, a, acc):
        """A load of one offset by every accessing lane (findings name the first)."""
        self.on_load(a, _one(acc, acc.wave))

    def on_uniform_store(self, a, acc):
        """A store of one value to one offset that changes it, by every accessing lane: when several
        waves store it, it is every wave's own write."""
        self.on_store(a, _one(acc, ALL_WAVES if acc.wave == MANY_WAVES else acc.wave))

    def on_atomic(self, a, acc):
        """Atomics at byte offsets ``acc.offsets`` of ``a``: checked against plain accesses, recorded."""
        s = self.shadow(a)
        if s.gran != 1 and (acc.nbytes & 3 or np.count_nonzero(acc.offsets & 3)):
            self._byte_shadows(a, s)
        if s.atomics is None:
            s.atomics = GlobalAtomicShadow(a.end - a.start)
        s.atomics.atomic(self.report, a, s, acc)

    # -- shadows
    def _apply_pending(self, a, s):
        """Allocate ``a``'s race shadows and apply its logged reads to them, in order.

        The shadows have one entry per dword (``gran`` 4) while every access tracked in
        them is of whole aligned dwords: each byte of a dword then has the shadow values of
        the dword, which :meth:`_byte_shadows` spreads to one entry per byte (``gran`` 1)
        at the first other access."""
        nb = a.end - a.start
        s.gran = 4 if WORD_SHADOWS else 1
        n = -(-nb // s.gran)
        s.wr = np.full(n, NO_WORKGROUP, np.int32)
        s.rd = np.full(n, NO_WORKGROUP, np.int32)
        s.wr_wv = np.full(n, NO_WAVE, np.int32)
        s.wr_ep = np.zeros(n, np.int32)
        s.rd_wv = np.full(n, NO_WAVE, np.int32)
        s.rd_ep = np.zeros(n, np.int32)
        pending, s.pending, s.pending_bytes, s.pending_ids = s.pending, [], 0, set()
        for acc in pending:
            self._track(a, s, acc, False)

    def _byte_shadows(self, a, s):
        """``a``'s race shadows with one entry per byte (each byte of a dword entry takes its values)."""
        if s.gran != 1:
            nb = a.end - a.start
            for name in _SHADOWS:
                setattr(s, name, np.repeat(getattr(s, name), s.gran)[:nb])
            s.gran = 1

    def _track(self, a, s, acc, is_write):
        """Race check of the accesses ``acc`` on allocated shadows.  Works on ``(n, per)``
        arrays of shadow entries (bytes, or dwords while the shadows are per dword: ``per``
        entries of ``g`` bytes an access); per-access values broadcast over the entries of
        their access.  Reports name the first byte of the first flagged entry: the byte the
        per-byte shadows would flag first."""
        o, nbytes, site, lanes = acc.offsets, acc.nbytes, acc.site, acc.lanes
        nb = a.end - a.start
        clamped = o.shape[0] and int(np.maximum.reduce(o)) + nbytes > nb
        if s.gran != 1 and (clamped or not _whole_dwords(o, nbytes)):
            self._byte_shadows(a, s)
        if s.atomics is not None:          # plain against atomic accesses
            s.atomics.plain(self.report, a, acc, is_write)
        g = s.gran
        per = nbytes // g
        e = o >> 2 if g == 4 else o
        words = e[:, None] if per == 1 else e[:, None] + _BYTE_STEPS[per] if per in _BYTE_STEPS else \
            e[:, None] + np.arange(per, dtype=np.int64)[None, :]
        if clamped:
            words = np.minimum(words, nb - 1)
        wg1, ep1, wave1 = acc.workgroup, acc.epoch, (NO_WAVE if acc.wave is None else acc.wave)
        wg, ep, wave = _column(wg1), _column(ep1), _column(wave1)
        kind = "writes" if is_write else "reads"

        def report(bad, text):
            j = int(np.flatnonzero(bad)[0])
            self.report("global-race", text(j), site, lane=at(lanes, j // per), wg=at(wg1, j // per),
                        addr=a.start + int(words.flat[j]) * g, count=accesses(bad, per))

        wr = s.wr[words]
        rd = s.rd[words]
        # bytes nobody wrote in this launch (and, for a write, nobody read): no race is possible
        untouched = not np.count_nonzero(wr >= 0) and (not is_write or not np.count_nonzero(rd != NO_WORKGROUP))
        if not untouched:
            bad = (wr >= 0) & (wr != wg)
            if bad.any():
                report(bad, lambda j: f"global byte {int(words.flat[j]) * g} of {a.name}: workgroup "
                                      f"{at(wg1, j // per)} {kind} it after workgroup {int(wr.flat[j])} wrote it "
                                      f"in the same launch")
            if is_write:
                bad = (rd == SEVERAL_WORKGROUPS) | ((rd >= 0) & (rd != wg))
                if bad.any():
                    report(bad, lambda j: f"global byte {int(words.flat[j]) * g} of {a.name}: workgroup "
                                          f"{at(wg1, j // per)} writes it after another workgroup read it in the "
                                          f"same launch")
            if ndim(wave) or wave != NO_WAVE:
                self._wave_race(a, s, acc, words, wg, wave, ep, wr, rd, is_write, per, wave1)
        shared = (ndim(wg) or ndim(wave)) and (clamped or _may_share_bytes(o, nbytes))
        if is_write:
            s.wr[words] = wg
            s.wr_wv[words] = wave
            s.wr_ep[words] = ep
            if ndim(wave) and shared:       # several waves stored to one byte in this instruction
                s.wr_wv[words[s.wr_wv[words] != wave]] = ALL_WAVES
            if ndim(wg) and shared:
                back = s.wr[words]
                if (back != wg).any():
                    report(back != wg, lambda j: f"global byte {int(words.flat[j]) * g} of {a.name} written by "
                                                 f"workgroups {at(wg1, j // per)} and {int(back.flat[j])} in "
                                                 f"one instruction")
        else:
            # readers of this epoch of this workgroup: one wave, or MANY_WAVES
            same = (rd == wg) & (s.rd_ep[words] == ep)
            prev = s.rd_wv[words]
            s.rd_wv[words] = np.where(same & (prev != wave), MANY_WAVES, wave)
            s.rd_ep[words] = ep
            s.rd[words] = np.where((rd == NO_WORKGROUP) | (rd == wg), wg, SEVERAL_WORKGROUPS)
            if shared:
                back_wv = s.rd_wv[words]
                s.rd_wv[words[back_wv != wave]] = MANY_WAVES
                back = s.rd[words]
                multi = (back != wg) & (back != SEVERAL_WORKGROUPS)
                if multi.any():
                    s.rd[words[multi]] = SEVERAL_WORKGROUPS

    def _wave_race(self, a, s, acc, words, wg, wave, ep, wr, rd, is_write, per, wave1):
        """Two waves of one workgroup touching a byte in one barrier epoch, one writing
        (``words``: the shadow entries of the accesses, ``per`` of each)."""
        wwv = s.wr_wv[words]
        bad = (wr == wg) & (s.wr_ep[words] == ep) & (wwv != wave)
        if not is_write:
            bad &= wwv != ALL_WAVES            # every wave wrote it itself (a uniform store)
        what = "wrote"
        if is_write and not bad.any():
            rwv = s.rd_wv[words]
            bad = (rd == wg) & (s.rd_ep[words] == ep) & ((rwv == MANY_WAVES) | (rwv != wave))
            what = "read"
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            wg1 = acc.workgroup
            self.report(
                "wave-race",
                f"global byte {int(words.flat[j]) * s.gran} of {a.name}: {wave_name(at(wave1, j // per))} of "
                f"workgroup {at(wg1, j // per)} {'writes' if is_write else 'reads'} it after another wave {what} it, "
                f"with no barrier between (missing gpu.barrier?)", acc.site, lane=at(acc.lanes, j // per),
                wg=at(wg1, j // per), addr=a.start + int(words.flat[j]) * s.gran, count=accesses(bad, per))


def _one(acc, wave):
    """A uniform access (one offset) as a one-element access by ``wave``."""
    return Access(acc.op, acc.site, np.array([acc.offsets], np.int64), acc.nbytes, acc.workgroup, wave, acc.epoch,
                  acc.lanes)


def wave_name(w: int) -> str:
    return {MANY_WAVES: "several waves", ALL_WAVES: "every wave"}.get(w, f"wave {w}")


def _whole_dwords(o, nbytes):
    """Whether accesses of ``nbytes`` at byte offsets ``o`` cover whole aligned dwords."""
    return not nbytes & 3 and not np.count_nonzero(o & 3)


def _may_share_bytes(o, nbytes):
    """Whether accesses of ``nbytes`` at byte offsets ``o`` may touch one byte twice: False
    when the offsets ascend by at least ``nbytes`` (the common lane-ordered access)."""
    return o.shape[0] > 1 and np.count_nonzero(o[1:] - o[:-1] < nbytes) != 0


def _column(x):
    """A per-access array as a column (broadcasts over the bytes of each access); scalars as they are."""
    return x[:, None] if ndim(x) else x


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
