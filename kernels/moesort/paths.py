"""Path selection for the suite's FlyDSL MoE sort: pure Python, no FlyDSL import.

Three paths, chosen from ``tokens`` = M (the rows that count, ``num_local_tokens``
or T), the expert count E, topk and the target's LDS size:

``small``  (M <= ``small_max_tokens``): one kernel.  Workgroup 0 keeps an
    M x E token-by-expert mesh of int32 cells in LDS (cell = slot + 1, 0 empty)
    and does histogram, prefix sum and scatter; the other workgroups zero
    ``moe_buf``.
``medium`` (small_max_tokens < M <= ``MEDIUM_MAX_TOKENS``): two kernels through
    an HBM workspace (per-expert mesh rows + counts, then prefix + scatter).
``large``  (M > ``MEDIUM_MAX_TOKENS``): four kernels (clear, scatter, count,
    prefix + scatter) through the same workspace layout.

:func:`path_boundaries` gathers the first M of each path on every target,
the token counts the suite's checks aim at.

The LDS budget formula (the only target dependence)::

    lds_budget   = LDS_BYTES[target] // 2          # keep two workgroups per CU (kernels.targets)
    lds_rows     = (lds_budget - SCAN_SCRATCH_BYTES) // (4 * E)
    work_rows    = max(16, small_block(E) // topk) # ~1 assignment per thread
    small_max_tokens = max(0, min(lds_rows, work_rows))

with ``small_block(E)`` = 256 threads for E <= 256, else 512, and
``SCAN_SCRATCH_BYTES`` = 256 (the cross-wave scan scratch: <= 8 waves x <= 4
values x 4 bytes, rounded up).  The small kernel's mesh holds exactly
``max(1, small_max_tokens)`` rows, so its LDS use is
``4 * E * max(1, small_max_tokens) + SCAN_SCRATCH_BYTES <= lds_budget``
whenever ``small_max_tokens >= 1``.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

from ..targets import TARGET_NAMES, WAVE_SIZE
from ..targets import TARGETS as _TARGET_FACTS

#: LDS bytes per workgroup of each target.
LDS_BYTES = {name: t.lds_bytes for name, t in _TARGET_FACTS.items()}
TARGETS = TARGET_NAMES
#: Bytes reserved in LDS for the cross-wave scan scratch.
SCAN_SCRATCH_BYTES = 256
#: Largest M the medium (two-kernel) path takes.
MEDIUM_MAX_TOKENS = 2048
#: Threads per workgroup of the medium/large kernels.
MULTI_BLOCK = 256
#: Wave size of the CDNA targets.
WAVE = WAVE_SIZE
#: Largest number of workgroups that zero moe_buf (grid-stride beyond that).
MAX_ZERO_BLOCKS = 64
PATHS = ("small", "medium", "large")


def _check_target(target: str) -> None:
    if target not in LDS_BYTES:
        raise ValueError(f"target={target!r}; expected one of {TARGETS}")


def small_block(num_experts: int) -> int:
    """Threads of the small path's workgroup: 256 for E <= 256, else 512."""
    return 256 if num_experts <= 256 else 512


def lds_budget(target: str) -> int:
    """LDS bytes the small path may use on ``target`` (half the workgroup's LDS)."""
    _check_target(target)
    return LDS_BYTES[target] // 2


def small_max_tokens(num_experts: int, topk: int, target: str) -> int:
    """Largest M that takes the small path (see the module docstring)."""
    if num_experts < 1 or topk < 1:
        raise ValueError(f"num_experts={num_experts}, topk={topk}: both must be >= 1")
    lds_rows = (lds_budget(target) - SCAN_SCRATCH_BYTES) // (4 * num_experts)
    work_rows = max(16, small_block(num_experts) // topk)
    return max(0, min(lds_rows, work_rows))


def small_mesh_rows(num_experts: int, topk: int, target: str) -> int:
    """Rows of the small kernel's LDS mesh (at least one, so LDS is never empty)."""
    return max(1, small_max_tokens(num_experts, topk, target))


class Thresholds(NamedTuple):
    """First M of each path after ``small``: M < ``medium`` is small,
    ``medium`` <= M < ``large`` is medium, M >= ``large`` is large."""

    medium: int
    large: int


def path_thresholds(num_experts: int, topk: int, unit_size: int = 32, target: str = "gfx950") -> Thresholds:
    """The path boundaries as ``Thresholds(medium=S + 1, large=2049)`` where S
    is :func:`small_max_tokens`; iterating gives the first M of each new path.

    ``unit_size`` moves no boundary (accepted so callers can pass a whole shape).
    """
    if unit_size < 1:
        raise ValueError(f"unit_size={unit_size} must be >= 1")
    s = small_max_tokens(num_experts, topk, target)
    return Thresholds(medium=s + 1, large=MEDIUM_MAX_TOKENS + 1)


def choose_path(tokens: int, num_experts: int, topk: int, unit_size: int = 32, target: str = "gfx950") -> str:
    """The path a sort of ``tokens`` counted rows (M) takes on ``target``."""
    if tokens < 0:
        raise ValueError(f"tokens={tokens} must be >= 0")
    th = path_thresholds(num_experts, topk, unit_size, target)
    if tokens < th.medium:
        return "small"
    if tokens < th.large:
        return "medium"
    return "large"


def mesh_stride(tokens: int) -> int:
    """Row stride of the workspace mesh, in one-byte cells: M rounded up to 16."""
    return (tokens + 15) // 16 * 16


def workspace_elems(tokens: int, num_experts: int) -> int:
    """int32 elements of the medium/large workspace: an E x S byte mesh, then E counts.

    Layout, with S = :func:`mesh_stride` (M rounded up to 16): byte
    ``e * S + t`` holds slot + 1 of token t on expert e (0 if none; bytes
    t >= M are 0) — slot + 1 <= 255 fits since topk <= 255; then the int32
    count of expert e at int32 index ``E * S / 4 + e``.
    """
    return num_experts * mesh_stride(tokens) // 4 + num_experts


def zero_blocks(moe_buf_bytes: int, block: int) -> int:
    """Workgroups that zero ``moe_buf`` (16 bytes per thread per step)."""
    if moe_buf_bytes <= 0:
        return 0
    chunks = -(-moe_buf_bytes // 16)
    return max(1, min(MAX_ZERO_BLOCKS, -(-chunks // block)))


@functools.lru_cache(maxsize=4096)
def path_boundaries(num_experts: int, topk: int, unit_size: int) -> tuple[int, ...]:
    """Every M at which the path changes on some target (first M of the new path), sorted;
    empty for a shape the kernels do not take (E or topk < 1)."""
    found = set()
    for target in TARGETS:
        try:
            found.update(int(t) for t in path_thresholds(num_experts, topk, unit_size, target))
        except ValueError:
            continue  # shape outside what the kernels support
    return tuple(sorted(t for t in found if t >= 0))
