"""A kernel file of our own whose entry point picks its launcher from T and the target.

``own_add(a, b, out)`` adds two float32 vectors of T elements.  Up to
:data:`SMALL_MAX_T` elements, or on any target but gfx942, it launches
``launch_plain_add``; past it on gfx942 it launches ``launch_napping_add``,
built by ``build_napping_add(nap)``, whose kernel also issues
``rocdl.s.sleep`` (an op the interpreter has no handler for).  The
module-level pass cannot build that launcher (it has no value for ``nap``),
so only the entry reaches it.  The file declares the entry for the coverage
report (:data:`EMU_ENTRY_POINTS`, :mod:`kernels.emu.entrypoints`), which must
find the napping launcher, its op, and exactly the T and target that reach it.
"""

import flydsl.compiler as flyc
import flydsl.expr as fx
import torch
from flydsl._mlir.dialects import rocdl as _rocdl
from flydsl.runtime.device import get_rocm_arch

from kernels.emu.entrypoints import EntryPoint
from tests.emu.sample_kernels import OOB, T, _arith, _vadd_kernel, buf_load, buf_store, make_rsrc

#: The largest T the plain launcher takes on gfx942.
SMALL_MAX_T = 64
#: The op ``launch_napping_add``'s kernel issues that the interpreter lacks.
NAPPING_OP = "rocdl.s.sleep"


def build_napping_add(nap: int):
    """A launcher adding vectors whose kernel first sleeps ``nap`` (1..127) units of 64 cycles."""

    @flyc.kernel
    def _napping_add_kernel(A: fx.Tensor, B: fx.Tensor, C: fx.Tensor, n: fx.Int32):
        _rocdl.s_sleep(nap)
        i = fx.Int32(fx.block_idx.x) * 256 + fx.Int32(fx.thread_idx.x)
        ra, rb, rc = make_rsrc(A, n * 4), make_rsrc(B, n * 4), make_rsrc(C, n * 4)
        off = (i < n).select(i * 4, fx.Int32(OOB))
        buf_store(_arith.AddFOp(buf_load(ra, off, T.f32()), buf_load(rb, off, T.f32())).result, rc, off)

    @flyc.jit
    def launch_napping_add(A: fx.Tensor, B: fx.Tensor, C: fx.Tensor, n: fx.Int32,
                           stream: fx.Stream = fx.Stream(None)):
        _napping_add_kernel(A, B, C, n).launch(grid=((n + 255) // 256, 1, 1), block=(256, 1, 1), stream=stream)

    return launch_napping_add


@flyc.jit
def launch_plain_add(A: fx.Tensor, B: fx.Tensor, C: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
    _vadd_kernel(A, B, C, n).launch(grid=((n + 255) // 256, 1, 1), block=(256, 1, 1), stream=stream)


def own_add(a, b, out):
    """``out = a + b`` for float32 vectors of T elements, on the launcher T and the target pick."""
    T = a.shape[0]
    if T <= SMALL_MAX_T or get_rocm_arch() != "gfx942":
        launch_plain_add(a, b, out, T)
    else:
        build_napping_add(1)(a, b, out, T)


def call_own_add(module, point):
    """``own_add`` at ``point`` (its ``T``)."""
    a, b, out = (torch.zeros(point["T"], dtype=torch.float32) for _ in range(3))
    module.own_add(a, b, out)


EMU_ENTRY_POINTS = (
    EntryPoint("own_add", call=call_own_add, not_varied=("dtype: float32 (the only one the kernels add)",)),
)
