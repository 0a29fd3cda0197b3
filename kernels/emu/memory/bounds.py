"""Bounds checks: global accesses outside every allocation, LDS accesses outside their allocation.

* :class:`GlobalBounds` -- an address outside every tensor of the launch is
  ``global-out-of-bounds``.  Always installed (there is no host memory behind
  such an address).
* :class:`LdsBounds` -- an LDS access must stay inside ``[lo, hi)``: the
  allocation (global symbol) its pointer was derived from when that is known
  statically, else the workgroup's LDS (``lds-out-of-bounds``); through a
  memref view that bounds it (:class:`~.access.ViewSite`), inside the view, as
  the view says (``lds-view-out-of-bounds``).  Installed with the sanitizer.

Each returns the mask of the accesses outside after reporting them (when the
reporter records, the memory then does what the hardware does with them), or
None when every access is inside.
"""
from __future__ import annotations

import numpy as np

from .access import Checker, ViewSite, at, weighted


class GlobalBounds(Checker):
    """Reports global accesses outside every allocation of ``allocs``."""

    def __init__(self, allocs):
        self.allocs = allocs

    def outside(self, addr, bad, size, site, lanes):
        """Report the accesses ``bad`` of ``size`` bytes at host addresses ``addr`` (made by
        ``lanes``, None: unnamed), which lie outside every allocation; return ``bad``."""
        j = int(np.flatnonzero(bad)[0])
        near = ", ".join(f"{a.name}=[0x{a.start:x},0x{a.end:x})" for a in self.allocs) or "none"
        self.report("global-out-of-bounds",
                    f"global access of {size} bytes at 0x{int(addr[j]):x} is outside every live allocation ({near})",
                    site, lane=at(lanes, j), addr=int(addr[j]), count=int(np.count_nonzero(bad)))
        return bad


class LdsBounds(Checker):
    """Reports LDS accesses outside the allocation that bounds them."""

    def outside(self, acc, lo, hi):
        """Report the accesses of ``acc`` (offsets in the workgroup's LDS, an array) outside
        ``[lo, hi)``; None when all are inside, else the mask of those outside."""
        offs, nbytes, lanes = acc.offsets, acc.nbytes, acc.lanes
        bad = (offs < lo) | (offs + nbytes > hi)
        if not bad.any():
            return None
        j = int(np.flatnonzero(bad)[0])
        if isinstance(acc.site, ViewSite):       # [lo, hi) is the view's
            check, text = acc.site.overrun(int(offs[j]), nbytes)
        else:
            check, text = "lds-out-of-bounds", (f"LDS access of {nbytes} bytes at offset {int(offs[j])} is "
                                                f"outside its shared allocation [{lo}, {hi})")
        self.report(check, text, acc.site, lane=None if lanes is None else int(lanes[j]),
                    addr=f"LDS+{int(offs[j])}", count=weighted(bad, acc.weights))
        return bad
