"""Token counts worth aiming at: kernel path boundaries and generic edges.

``path_boundaries(E, topk, unit_size)`` asks every FlyDSL backend that
reports paths (through ``kernels.moesort.path_thresholds`` when importable)
for the T at which its path changes, on each emulated target, and returns the
sorted set.  ``interesting_tokens`` adds the generic edges (0, 1, wave and
workgroup sizes, powers of two).
"""
from __future__ import annotations

import functools

TARGETS = ("gfx942", "gfx950")
GENERIC_EDGES = (0, 1, 2, 3, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257,
                 511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097)


@functools.lru_cache(maxsize=4096)
def path_boundaries(num_experts: int, topk: int, unit_size: int) -> tuple[int, ...]:
    """T values at which some FlyDSL backend switches path (first T of the new path)."""
    try:
        from kernels.moesort import path_thresholds
    except ImportError:
        return ()
    found = set()
    for target in TARGETS:
        try:
            found.update(int(t) for t in path_thresholds(num_experts, topk, unit_size, target))
        except ValueError:
            continue  # shape outside what that kernel supports on this target
    return tuple(sorted(t for t in found if t >= 0))


def interesting_tokens(num_experts: int, topk: int, unit_size: int, max_tokens: int) -> tuple[int, ...]:
    """Boundaries ±1 and generic edges, capped at ``max_tokens``."""
    near = {b + d for b in path_boundaries(num_experts, topk, unit_size) for d in (-1, 0, 1)}
    return tuple(sorted(t for t in near | set(GENERIC_EDGES) if 0 <= t <= max_tokens))
