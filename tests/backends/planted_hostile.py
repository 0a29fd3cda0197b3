"""Test-only backend ``planted-minus-one``: a write one past ``sorted_ids`` for every id of -1.

It sorts with the torch CPU backend (which drops ids outside ``[0, E)``, so
it declares ``drop`` and ``unchecked``), then runs one small FlyDSL kernel of
ours on the CPU interpreter, sanitizer off, findings recorded.  For every
counted id of ``-1`` the kernel stores the pair's packed id at
``sorted_ids[P]``, one element past the buffer, through a descriptor sized
one element too large: the planted defect, on a line of its own.  Like the
backends of :mod:`tests.backends.planted` it reports a made-up path by T
(``small``: one workgroup loops over the assignments; ``large``: a thread per
assignment), and the defect is on both.

So a case with an id of ``-1`` in a counted row must fail on every path as a
memory-safety failure: with a red zone behind the outputs (the judge's
default) the harness's canary shows the write; without one the store lands
outside every allocation, which the interpreter reports even with its
sanitizer off.  Every other id, invalid or not, passes.  Never selected by
default.
"""
# (no "from __future__ import annotations": flydsl reads the kernel annotations as types)

from pathlib import Path

from kernels.backends.torch_backend import _launch as torch_launch
from kernels.flydsl_support import flydsl_problem
from kernels.registry import Backend
from tests.backends.planted import SMALL_LIMIT

BLOCK = 64


def _kernel(small: bool):
    import flydsl.compiler as flyc
    import flydsl.expr as fx
    from flydsl.expr import gpu

    from kernels.moesort import dsl
    from kernels.moesort.dsl import i32

    @flyc.kernel(known_block_size=[BLOCK, 1, 1])
    def planted_minus_one(topk_ids: fx.Tensor, sorted_ids: fx.Tensor, n_in: fx.Int32, n_out: fx.Int32,
                          topk: fx.Int32):
        tid = fx.Int32(gpu.thread_idx.x)
        ids_r = dsl.buffer(topk_ids, n_in * i32(4))
        sid_r = dsl.buffer(sorted_ids, (n_out + i32(1)) * i32(4))   # planted: one element too large
        steps = (n_in + i32(BLOCK - 1)) // i32(BLOCK) if small else i32(1)
        first = i32(0) if small else fx.Int32(gpu.block_idx.x) * i32(BLOCK)
        for s in range(steps):
            a = first + fx.Int32(s) * i32(BLOCK) + tid
            ok = a < n_in
            e = dsl.load(ids_r, a, ok)
            packed = ((a % topk) << i32(24)) | (a // topk)
            dsl.store(packed, sid_r, n_out, ok & (e == i32(-1)))   # planted: the pair of an id -1 lands at [P]

    @flyc.jit
    def launch(topk_ids: fx.Tensor, sorted_ids: fx.Tensor, n_in: fx.Int32, n_out: fx.Int32, topk: fx.Int32,
               grid: fx.Int32, stream: fx.Stream = fx.Stream(None)):
        planted_minus_one(topk_ids, sorted_ids, n_in, n_out, topk).launch(
            grid=(grid, 1, 1), block=(BLOCK, 1, 1), stream=stream)

    return launch


_LAUNCHERS: dict = {}


def _launch(inputs, buffers, target):
    from kernels import emu

    torch_launch(inputs, buffers, target)
    path = "small" if inputs.tokens < SMALL_LIMIT else "large"
    n_in = inputs.m * inputs.topk
    if n_in == 0:
        return path
    small = path == "small"
    launcher = _LAUNCHERS.get(small) or _LAUNCHERS.setdefault(small, _kernel(small))
    grid = 1 if small else -(-n_in // BLOCK)
    with emu.emulate(target=target or "gfx950", sanitize=False, findings="record"):
        launcher(buffers.device_inputs.topk_ids, buffers.sorted_ids, n_in, buffers.sorted_ids.numel(),
                 inputs.topk, grid)
    return path


def _probe():
    return flydsl_problem()


BACKENDS = [
    Backend(name="planted-minus-one", description="torch CPU sort plus a FlyDSL kernel that writes one past "
                                                  "sorted_ids for every id of -1", needs=("flydsl",),
            probe=_probe, launch=_launch, reports_path=True, writes_past_extent=True, test_only=True,
            targets=("gfx950",), sources=lambda: (str(Path(__file__).resolve().parent),),
            invalid_ids=("reject", "drop", "unchecked")),
]
