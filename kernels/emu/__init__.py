"""CPU interpreter for FlyDSL kernels: runs FlyDSL's own lowered MLIR bit-exactly.

Usage::

    import kernels.emu as emu
    with emu.emulate(target="gfx950"):          # sanitize=True by default
        my_flydsl_launcher(a_cpu, b_cpu, c_cpu, n)   # any @flyc.jit launcher, CPU torch tensors
    print(emu.last_launches())

    with emu.capture_graph() as graph:          # launches recorded, host reads of tensors refused
        with emu.emulate(target="gfx950"):
            my_flydsl_launcher(a_cpu, b_cpu, c_cpu, n)
    graph.replay()                              # runs them on the tensors' current contents

Environment switch: ``MOESORT_EMULATE=gfx942|gfx950`` makes ``import
kernels.emu`` enter a process-wide session (``emu.enable(...)`` /
``emu.disable()`` do the same from code).

Pieces (one job each): :mod:`.session` (the stack of active sessions),
:mod:`.scope` (entering / leaving one), :mod:`.capture` (FlyDSL hook + emu
backend + module cache), :mod:`.diskcache` (the persistent capture cache),
:mod:`.fingerprint` (what a capture depends on), :mod:`.rewrite_cache`
(FlyDSL's AST rewrites from that cache), :mod:`.irload` (MLIR -> Python IR), :mod:`.mtypes`
(types), :mod:`.codegen` (the op table and the uniformity analysis: Python IR ->
generated NumPy code),
:mod:`.runtime` (helpers the generated code calls), :mod:`.simt` (host and
kernel executor), :mod:`.semantics` (integer and float semantics),
:mod:`.amdgpu` (AMD facts: address spaces, buffer descriptors, cross-lane
semantics), :mod:`.memory` (memory model, with the sanitizer's checkers beside it),
:mod:`.atomic_ops` (atomic read-modify-writes and their order),
:mod:`.atomic_memory` (atomics applied in memory, handed to the checkers),
:mod:`.torch_device` (torch's device queries under emulation), :mod:`.graph`
(graph capture: launches recorded and replayed), :mod:`.schedule` (interleaved waves), :mod:`.hostsync` (host reads
of tensors refused during a capture), :mod:`.stats`,
:mod:`.errors`.  Target facts are :mod:`kernels.targets`.
``python -m kernels.emu ops`` lists every op the interpreter runs.
"""
from __future__ import annotations

import contextlib
import os

from ..targets import TARGETS, Target, get_target
from . import capture, scope, session
from .capture import mark_output_only, unmark_output_only
from .errors import (
    DivergentBarrierError,
    EmuError,
    OutOfBoundsError,
    RaceError,
    SanitizerError,
    ScheduleDependenceError,
    UndefinedBehaviorError,
    UninitializedReadError,
    UnsupportedOpError,
)
from .findings import FINDINGS, Finding, Frame
from .findings import collect as collect_findings
from .graph import EmulatedGraph, capture_graph
from .hostsync import HostSyncError
from .runtime import MASKED_OFFSET_FLOOR
from .schedule import Schedule
from .simt import Options
from .stats import STATS

__all__ = [
    "emulate", "interpreter_options", "enable", "disable", "active", "last_launches", "last_path", "stats", "reset_stats", "clear_cache",
    "last_findings", "collect_findings", "Finding", "Frame",
    "mark_output_only", "unmark_output_only", "output_only", "capture_graph", "EmulatedGraph", "HostSyncError",
    "EmuError", "SanitizerError", "OutOfBoundsError", "UninitializedReadError", "RaceError",
    "ScheduleDependenceError", "DivergentBarrierError", "UndefinedBehaviorError", "UnsupportedOpError",
    "TARGETS", "Target", "get_target", "MASKED_OFFSET_FLOOR", "Schedule",
]

ENV_SWITCH = "MOESORT_EMULATE"


_OPTION_DEFAULTS = [dict(sanitize=True, shuffle_schedule=False, profile=False, seed=0, strict_buffers=False,
                         findings="raise", uniformity=True, schedule=None)]


@contextlib.contextmanager
def interpreter_options(**options):
    """Defaults for every :func:`emulate` call inside that does not pass them.

    Harnesses wrap a backend (which enters ``emulate(target=...)`` itself) in
    ``with interpreter_options(sanitize=False):`` or ``(shuffle_schedule=True)``.
    """
    unknown = set(options) - set(_OPTION_DEFAULTS[0])
    if unknown:
        raise TypeError(f"interpreter_options: unknown option(s) {sorted(unknown)}")
    _OPTION_DEFAULTS.append(dict(_OPTION_DEFAULTS[-1], **options))
    try:
        yield
    finally:
        _OPTION_DEFAULTS.pop()


@contextlib.contextmanager
def emulate(target: str = "gfx950", sanitize: bool | None = None, shuffle_schedule: bool | None = None,
            profile: bool | None = None, seed: int | None = None, strict_buffers: bool | None = None,
            findings: str | None = None, uniformity: bool | None = None, schedule=None):
    """Run every ``@flyc.jit`` launcher called inside on the CPU interpreter.

    ``target``: ``"gfx942"`` or ``"gfx950"`` (wave64; LDS 64/160 KiB).
    ``sanitize``: out-of-bounds / uninitialized / race / divergent-barrier /
    division-by-zero checks (cheap; on by default).
    ``shuffle_schedule``: run each launch twice, the second time with a
    shuffled workgroup order and store and atomic order (each workgroup
    but the first on the LDS bytes the one before it left), and raise
    :class:`ScheduleDependenceError` if the outputs differ (naming the atomics
    whose returned values differ, when any do).
    ``profile``: time every op kind (slow; for benchmarks).
    ``strict_buffers`` (with ``sanitize``): a buffer access that an exactly sized
    descriptor drops in whole or part must be masked on purpose, i.e. start at or
    past :data:`MASKED_OFFSET_FLOOR` (2**31 - 16, beyond every such buffer); one
    that starts below it, which a larger buffer would hold, is an
    :class:`OutOfBoundsError`.  For kernels whose contract is that every
    unmasked access is in range (the suite's own); off by default, since
    relying on the descriptor to clip a grid's tail is legal on the hardware.
    ``findings``: ``"raise"`` (default) stops a launch at its first sanitizer
    finding with its :class:`SanitizerError`; ``"record"`` records every
    finding (:func:`last_findings`, :func:`collect_findings`) and lets the
    launch go on as the hardware would.  Raw global accesses outside every
    tensor are reported even with ``sanitize=False``.
    ``uniformity``: generate code with the uniformity analysis (values the same in
    every lane computed once; default on).  Off runs the plain per-lane code: the
    same results, findings and op counts, slower.
    ``schedule``: run in the interleaved mode under this schedule (a
    :class:`~kernels.emu.schedule.Schedule` or its string, ``"pct:seed=3"``):
    each wave of a workgroup runs with its own program counter between
    barriers (the workgroups of a batch under one schedule, :mod:`.schedule`); default None, the
    lockstep mode.
    Options left as None take the innermost :func:`interpreter_options`
    value (defaults: sanitize on, no shuffle, no profile, seed 0, not strict,
    findings raised, uniformity analysis on).
    """
    given = dict(sanitize=sanitize, shuffle_schedule=shuffle_schedule, profile=profile, seed=seed,
                 strict_buffers=strict_buffers, findings=findings, uniformity=uniformity,
                 schedule=schedule)
    chosen = {k: (v if v is not None else _OPTION_DEFAULTS[-1][k]) for k, v in given.items()}
    s = scope.enter(target, Options(**chosen))
    try:
        yield s
    finally:
        scope.leave(s)


_global = []


def enable(target: str = "gfx950", **kw):
    """Enter a process-wide emulation session (what ``MOESORT_EMULATE`` does)."""
    cm = emulate(target, **kw)
    cm.__enter__()
    _global.append(cm)


def disable():
    """Leave the session entered by :func:`enable`."""
    if _global:
        _global.pop().__exit__(None, None, None)


def active() -> bool:
    """Whether an emulation session is active (in any thread)."""
    return session.active()


def last_launches():
    """LaunchRecords (kernel, grid, block, time_s, ops_by_kind, lane_ops) of the last launcher call."""
    return STATS.last_call()


def last_path():
    """The kernels the last launcher call launched, in order, joined by ``+``
    (``p0v2_kernel_0+p23_kernel_1``); the shuffled-schedule re-runs of
    ``shuffle_schedule`` are left out.  None when it launched none."""
    return "+".join(r.kernel for r in STATS.last_call() if not r.rerun) or None


def last_findings():
    """The :class:`Finding` s recorded by the last launcher call (``findings="record"``),
    one per (kernel, check, source site) with its first occurrence and count."""
    return FINDINGS.last_call()


def stats():
    """Cumulative summary since :func:`reset_stats`: launches, ops_by_kind, ops, lane_ops, time_s."""
    return STATS.summary()


def reset_stats():
    STATS.reset()


def clear_cache(launcher=None):
    """Forget captured modules (of one ``@flyc.jit`` launcher, or of every launcher captured so far).

    The cache key is (target, constexpr values, argument signatures); a launcher whose tracing
    depends on other Python state (globals it reads) must be cleared when that state changes.
    This is the in-memory cache: the persistent one (:mod:`.diskcache`) is keyed by the kernel's
    sources and the values its launcher's closure captures, and is emptied with
    ``python -m kernels.emu cache clear`` (a launcher that reads mutable global state while it is
    traced needs ``MOESORT_EMU_CACHE_DIR=off``)."""
    capture.clear_cache(launcher)


@contextlib.contextmanager
def output_only(*tensors):
    """Scope in which ``tensors`` are output-only (see :func:`mark_output_only`)."""
    mark_output_only(*tensors)
    try:
        yield
    finally:
        unmark_output_only(*tensors)


if os.environ.get(ENV_SWITCH):
    enable(os.environ[ENV_SWITCH].strip().lower())
