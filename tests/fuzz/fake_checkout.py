"""A tiny stand-in for a kernel checkout's sort module, for the checkout-dispatch tests.

``entry(out, m)`` dispatches on M as a FlyDSL sort's host code does: M below
:data:`SMALL_MAX` + 1 launches ``small_kernel``; larger M launch ``count_kernel``
then ``scatter_kernel`` (one launcher, two kernels).  ``workspace_size(m)`` asks
for a workspace from ``SIZER_FROM`` on.  Tests set ``SMALL_MAX`` and
``SIZER_FROM`` to plant a host code whose sizer and launcher disagree.
"""
# (no "from __future__ import annotations": fx.struct reads the field annotations as types)

SMALL_MAX = 8
SIZER_FROM = 9
BLOCK = 64
_LAUNCHERS: dict = {}


def _launchers():
    if _LAUNCHERS:
        return _LAUNCHERS
    import flydsl.compiler as flyc
    import flydsl.expr as fx

    from kernels.moesort import dsl

    @flyc.kernel
    def small_kernel(out: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        dsl.store(tid, dsl.buffer(out, BLOCK * 4), tid)

    @flyc.kernel
    def count_kernel(out: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        dsl.store(tid + fx.Int32(1), dsl.buffer(out, BLOCK * 4), tid)

    @flyc.kernel
    def scatter_kernel(out: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        dsl.store(tid + fx.Int32(2), dsl.buffer(out, BLOCK * 4), tid)

    @flyc.jit
    def launch_small(out: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        small_kernel(out).launch(grid=(1, 1, 1), block=(BLOCK, 1, 1), stream=stream)

    @flyc.jit
    def launch_large(out: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        count_kernel(out).launch(grid=(1, 1, 1), block=(BLOCK, 1, 1), stream=stream)
        scatter_kernel(out).launch(grid=(1, 1, 1), block=(BLOCK, 1, 1), stream=stream)

    _LAUNCHERS.update(small=launch_small, large=launch_large)
    return _LAUNCHERS


def workspace_size(m: int) -> int:
    return 0 if m < SIZER_FROM else 4 * m


def entry(out, m: int) -> None:
    launchers = _launchers()
    (launchers["small"] if m <= SMALL_MAX else launchers["large"])(out)


def entry_by_capacity(out, t: int, m=None) -> None:
    """An entry point that picks its path by the capacity ``t`` alone (M read on the device)."""
    entry(out, t)


def entry_by_tokens(out, t: int, m=None) -> None:
    """An entry point that picks its path by M (``m``; None: M = ``t``)."""
    entry(out, t if m is None else m)
