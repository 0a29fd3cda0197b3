"""The runtime of generated kernel code: every helper it calls, as ``rt.<name>``.

Contract: every helper takes the workgroup context ``X`` (see
:class:`kernels.emu.simt.WG`) and the active-lane mask ``m`` where lanes
matter; values are NumPy scalars (uniform) or lane arrays of length ``X.L``.
Inactive lanes never touch memory; a load returns 0 in inactive lanes.

Modules: :mod:`.lanes` (lane bookkeeping), :mod:`.access` (``llvm.load`` /
``llvm.store``), :mod:`.buffers` (buffer descriptors and accesses),
:mod:`.atomics` (``llvm.atomicrmw`` / ``cmpxchg``, buffer atomics),
:mod:`.crosslane` (DPP, permutes, ballot, readlane, mbcnt), :mod:`.control`
(barriers, uniformity, selects and per-lane merges), :mod:`.values` (vectors,
aggregates, casts), :mod:`.views` (the index check of ``memref`` accesses).
"""
from .access import load, load_uniform, store
from .atomics import AtomicLog, atomicrmw, buffer_atomic, cmpxchg
from .buffers import MASKED_OFFSET_FLOOR, buffer_load, buffer_store, make_rsrc
from .control import (
                      Arrival,
                      barrier,
                      check_div,
                      divergent_switch,
                      for_bounds,
                      keep,
                      merge,
                      merge_any,
                      merge_mask,
                      sel,
                      selv,
                      uniform,
)
from .crosslane import ballot, bpermute, dpp, mbcnt_hi, mbcnt_lo, readfirstlane, readlane, shuffle
from .lanes import full
from .values import (
                      broadcast,
                      ext_i1_signed,
                      from_elements,
                      insert,
                      reshape,
                      shaped_bitcast,
                      vbitcast,
                      vextract_dyn,
                      vinsert,
                      vinsert_dyn,
                      widen_offset,
)
from .views import view_check

__all__ = [
    "MASKED_OFFSET_FLOOR", "Arrival", "AtomicLog", "atomicrmw", "ballot", "barrier", "bpermute", "broadcast", "buffer_atomic", "buffer_load", "buffer_store", "check_div", "cmpxchg",
    "divergent_switch", "dpp", "ext_i1_signed", "for_bounds", "from_elements", "full", "insert", "keep", "load", "load_uniform",
    "make_rsrc", "mbcnt_hi", "mbcnt_lo", "merge", "merge_any", "merge_mask", "readfirstlane", "readlane", "reshape",
    "sel", "selv", "shaped_bitcast", "shuffle", "store", "uniform", "vbitcast", "vextract_dyn", "vinsert",
    "view_check", "vinsert_dyn", "widen_offset",
]
