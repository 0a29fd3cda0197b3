"""Compile a function of the Python IR (:mod:`kernels.emu.irload`) into Python source.

``compile_function(func, kind, profile=False, lds_layout=None) -> Compiled``
returns a Python function ``fn(X, m0, args)`` generated as straight-line
NumPy code: one local per SSA value, structured control flow emitted as
Python control flow with lane masks, so running a kernel never walks IR
objects.

The ops it knows are the entries of one table, :data:`OPS` (op name ->
:class:`~.table.OpEntry`), filled by the handler families imported here:

* :mod:`.scalar`   -- ``arith`` / ``math`` and their ``llvm`` spellings;
* :mod:`.memory`   -- pointers, ``getelementptr``, ``llvm.load`` / ``llvm.store``;
* :mod:`.atomic`   -- ``llvm.atomicrmw`` / ``cmpxchg`` / ``fence``, the raw buffer atomics;
* :mod:`.memref`   -- ``memref`` views of LDS (FlyDSL's legacy ``SmemAllocator``);
* :mod:`.vector`   -- the ``vector`` dialect and ``llvm`` aggregates;
* :mod:`.amd`      -- ids, barriers, cross-lane ops, buffer accesses (``gpu``, ``rocdl``);
* :mod:`.control`  -- ``scf`` control flow and region terminators;
* :mod:`.host`     -- ``gpu.launch_func``.

``python -m kernels.emu ops`` prints the table.
"""
from __future__ import annotations

from . import amd, atomic, control, host, memory, memref, scalar, vector  # noqa: F401  (each fills OPS)
from .emitter import Compiled, FunctionCodegen
from .table import OPS, OpEntry, entries

__all__ = ["OPS", "Compiled", "FunctionCodegen", "OpEntry", "compile_function", "entries"]


def compile_function(func, kind: str, profile: bool = False, lds_layout=None, uniform: bool = True,
                     interleave: bool = False) -> Compiled:
    """Generate and compile ``func`` (``kind``: ``"kernel"`` or ``"host"``); see :class:`FunctionCodegen`
    (``uniform``: use the uniformity analysis, :mod:`.uniformity`; ``interleave``: the per-wave
    generator of the interleaved mode)."""
    return FunctionCodegen(func, kind, profile=profile, lds_layout=lds_layout, uniform=uniform,
                           interleave=interleave).build()
