"""Memory model of one launch (global memory and LDS) and the sanitizer's checkers beside it.

The model (:mod:`.global_memory`, :mod:`.lds`) stores and loads bytes and knows
nothing of checks; with the sanitizer on it installs checkers and hands each
access to their hooks as one :class:`~.access.Access` (:mod:`.access`); both hand
the launch's reporter to their checkers alike (:mod:`.checked`):

* :mod:`.bounds` -- global accesses outside every tensor, LDS accesses outside
  their allocation or memref view;
* :mod:`.uninit` -- LDS and output-only tensor bytes read before written;
* :mod:`.lds_race` -- two waves touching an LDS word between barriers;
* :mod:`.global_race` -- two workgroups touching a global byte in a launch,
  two waves of one workgroup between barriers;
* :mod:`.atomic_races` -- atomics against plain accesses (the race checkers'
  atomic shadows).

With the sanitizer off no checker is installed and the accessors call none
(the global bounds report excepted: no host memory lies outside the tensors).
Atomics are applied by :mod:`kernels.emu.atomic_memory` through the same hooks.
"""
from .access import (
                     ALL_WAVES,
                     ATOMIC,
                     LOAD,
                     MANY_WAVES,
                     NO_WAVE,
                     NO_WORKGROUP,
                     NOBODY,
                     SEVERAL_WORKGROUPS,
                     STORE,
                     Access,
                     Accessor,
                     ViewSite,
)
from .global_memory import Allocation, GlobalMemory
from .lds import LDS

__all__ = ["ALL_WAVES", "ATOMIC", "LOAD", "MANY_WAVES", "NO_WAVE", "NO_WORKGROUP", "NOBODY", "SEVERAL_WORKGROUPS",
           "STORE", "Access", "Accessor", "Allocation", "GlobalMemory", "LDS", "ViewSite"]
