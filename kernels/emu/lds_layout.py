"""Where a kernel's static LDS arrays lie, as the AMDGPU backend places them.

FlyDSL's ``SharedAllocator`` (static mode) emits one ``addrspace(3)`` global per
array; the order of those globals in the module says nothing about their
addresses.  LLVM's AMDGPU backend (``AMDGPULowerModuleLDS``) gathers the
variables a kernel uses into one struct, taking them in symbol-name order, and
lays the struct out with ``performOptimizedStructLayout`` (documented in
``llvm/Support/OptimizedStructLayout.h``).  With no field at a fixed offset,
that layout places one field after another, each time taking the field that

1. needs the least padding after the end of the fields placed so far,
2. then the more aligned one,
3. then the larger one,
4. then the one earlier in name order,

at the first offset at or after that end that its alignment allows.  A kernel's
dynamic LDS follows the static struct.

Where the arrays lie matters only to a kernel that reads or writes outside one
of them: on the hardware such an access lands in the neighbour the backend put
there, or outside the workgroup's LDS.  Measured on a gfx942 code object built
here (``tests/emu/test_lds_layout.py`` holds the figures): arrays of 132, 132,
1056 and 32 bytes, 16-byte aligned, declared in that order, lie at 1056, 1200,
0 and 1344, 1376 bytes in all; twelve equal arrays named ``__shared_alloc_0`` .. ``_11``
lie in the order 0, 1, 10, 11, 2, ..., 9 (names compared as strings).

Contract: :func:`struct_layout` takes ``(name, size, align)`` triples and
returns ``({name: offset}, end)``; :func:`kernel_globals` names the LDS
globals one kernel's body refers to.
"""
from __future__ import annotations

#: Ops that name a global by symbol, and the attribute holding the symbol.
_GLOBAL_REFS = {"llvm.mlir.addressof": "global_name", "memref.get_global": "name"}


def align_up(offset: int, align: int) -> int:
    """``offset`` rounded up to a multiple of ``align``."""
    return -(-offset // align) * align


def struct_layout(fields) -> tuple:
    """Offsets of ``fields`` (``(name, size, align)``; ``align`` a power of two) as
    ``performOptimizedStructLayout`` places them with no fixed offsets (module
    docstring), and the end of the last field."""
    remaining = [(rank, name, int(size), int(align))
                 for rank, (name, size, align) in enumerate(sorted(fields, key=lambda f: f[0]))]
    offsets: dict = {}
    end = 0
    while remaining:
        best = min(remaining, key=lambda f: (align_up(end, f[3]) - end, -f[3], -f[2], f[0]))
        _, name, size, align = best
        offsets[name] = align_up(end, align)
        end = offsets[name] + size
        remaining.remove(best)
    return offsets, end


def kernel_globals(body, names) -> set:
    """The symbols among ``names`` that ops of ``body`` (an ``irload.Block``, nested
    regions included) refer to."""
    used: set = set()
    stack = [body]
    while stack:
        block = stack.pop()
        for op in block.ops:
            attr = _GLOBAL_REFS.get(op.name)
            if attr is not None and op.attrs.get(attr) in names:
                used.add(op.attrs[attr])
            stack.extend(op.regions)
    return used
