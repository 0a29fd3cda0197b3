"""Uninitialized reads: LDS bytes and output-only tensor bytes read before anything wrote them.

* :class:`LdsUninit` -- a written-byte map of the workgroups' LDS (cleared at
  each workgroup start: LDS holds whatever the hardware left).  A load or an
  atomic of a byte not written since is ``uninitialized-lds``.
* :class:`OutputInit` -- a written-byte map per output-only tensor
  (:func:`kernels.emu.mark_output_only`), cleared at each launch.  A load or an
  atomic of a byte not written in this launch is ``uninitialized-output``.
  Every other caller tensor counts as initialized.

Stores and atomics mark the bytes they write.  Offsets are an
:class:`~.access.Access`'s (physical LDS offsets; an allocation's offsets);
findings name the first flagged access and count the flagged ones.
"""
from __future__ import annotations

import numpy as np

from .access import WORD_WRITTEN, Checker, at, byte_index, weighted


class LdsUninit(Checker):
    """Written-byte map of ``nbytes`` bytes of LDS (every workgroup copy of a batch)."""

    def __init__(self, nbytes):
        self.written = np.zeros(nbytes, bool)
        self.written32 = self.written.view(np.uint32)     # WORD_WRITTEN: all four bytes of a word written

    def on_reset(self):
        """New workgroups: nothing is written."""
        self.written[:] = False

    def _report(self, offs, unset, acc):
        j = int(np.flatnonzero(unset)[0])
        self.report("uninitialized-lds", f"LDS byte {int(offs[j])} read before any write in this launch", acc.site,
                    lane=int(acc.lanes[j]), addr=f"LDS+{int(offs[j])}", count=weighted(unset, acc.weights))

    def on_load(self, acc, words):
        """A per-lane load; ``words``: its dword indices when it is of whole aligned dwords, else None."""
        offs, nbytes = acc.offsets, acc.nbytes
        if words is not None:
            unset = self.written32[words] != WORD_WRITTEN
            if np.count_nonzero(unset):
                self._report(offs, unset, acc)
            return
        ini = self.written[byte_index(offs, nbytes)]
        if not ini.all():
            self._report(offs, ~ini.reshape(-1, nbytes).all(1), acc)

    def on_uniform_load(self, acc):
        """A load of one offset by every accessing lane (findings name the first)."""
        off = acc.offsets
        if not self.all_written(off, acc.nbytes):
            self.report("uninitialized-lds", f"LDS byte {off} read before any write in this launch", acc.site,
                        lane=None if acc.lanes is None else int(acc.lanes[0]), addr=f"LDS+{off}")

    def all_written(self, off, nbytes) -> bool:
        """Whether the bytes ``[off, off + nbytes)`` are all written."""
        if nbytes == 4 and not off & 3:
            return self.written32[off >> 2] == WORD_WRITTEN
        return self.written[off:off + nbytes].all()

    def on_store(self, acc, words):
        """A per-lane store; ``words`` as for :meth:`on_load`."""
        if words is not None:
            self.written32[words] = WORD_WRITTEN
        else:
            self.written[byte_index(acc.offsets, acc.nbytes)] = True

    def on_uniform_store(self, acc):
        self.written[acc.offsets:acc.offsets + acc.nbytes] = True

    def on_store_unchecked(self, idx):
        """Bytes ``idx`` written by stores the bounds check reported (they land as on the hardware)."""
        self.written[idx] = True

    def on_atomic(self, acc):
        """An atomic reads its bytes, then writes them."""
        idx = byte_index(acc.offsets, acc.nbytes)
        unset = ~self.written[idx].reshape(-1, acc.nbytes).all(1)
        if unset.any():
            self._report(acc.offsets, unset, acc)
        self.written[idx] = True


class OutputInit(Checker):
    """Written-byte maps of the output-only allocations among ``allocs``."""

    def __init__(self, allocs):
        self.written = {a: np.zeros(a.end - a.start, bool) for a in allocs if a.output_only}

    def on_launch_begin(self):
        for w in self.written.values():
            w[:] = False

    def on_load(self, a, acc):
        o, nbytes = acc.offsets, acc.nbytes
        idx = byte_index(o, nbytes)
        ini = self.written[a][idx]
        if not ini.all():
            j = int(np.flatnonzero(~ini)[0])
            self.report("uninitialized-output",
                        f"read of output-only tensor {a.name} at byte {int(idx[j])} not written in this launch",
                        acc.site, lane=at(acc.lanes, j // nbytes), wg=at(acc.workgroup, j // nbytes),
                        addr=a.start + int(idx[j]), count=int(np.count_nonzero(~ini.reshape(-1, nbytes).all(1))))

    def on_uniform_load(self, a, acc):
        o = acc.offsets
        if not self.written[a][o:o + acc.nbytes].all():
            self.report("uninitialized-output",
                        f"read of output-only tensor {a.name} at byte {o} not written in this launch", acc.site,
                        lane=None if acc.lanes is None else int(acc.lanes[0]), wg=acc.workgroup, addr=a.start + o)

    def on_store(self, a, acc):
        self.written[a][byte_index(acc.offsets, acc.nbytes)] = True

    def on_uniform_store(self, a, acc):
        self.written[a][acc.offsets:acc.offsets + acc.nbytes] = True

    def on_atomic(self, a, acc):
        """An atomic reads its bytes, then writes them."""
        o, nbytes = acc.offsets, acc.nbytes
        idx = byte_index(o, nbytes)
        w = self.written[a]
        unset = ~w[idx].reshape(-1, nbytes).all(1)
        if unset.any():
            j = int(np.flatnonzero(unset)[0])
            self.report("uninitialized-output", f"atomic on output-only tensor {a.name} at byte {int(o[j])} reads it "
                                                f"before anything wrote it in this launch", acc.site,
                        lane=at(acc.lanes, j), wg=at(acc.workgroup, j), addr=a.start + int(o[j]),
                        count=int(np.count_nonzero(unset)))
        w[idx] = True
