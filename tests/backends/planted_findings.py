"""Test-only backend ``planted-findings``: correct outputs, plus interpreter findings on purpose.

It sorts with the torch CPU backend, then runs one small FlyDSL kernel of ours
on the CPU interpreter (``findings="record"``) over a scratch buffer.  The
kernel has two planted defects, each on a source line of its own:

- every launch: a load one element past an LDS array whose value a select
  discards (the pattern of a harmless out-of-bounds read);
- when E is odd: a read of another wave's LDS word with no barrier after its
  store (a race).

Its host code also refuses a ``moe_buf`` whose rows have an odd byte count
(``ValueError``), a stand-in for an input a kernel does not accept.

So a known-findings list with an entry for the first line makes every case
with even E pass (its finding known) and every case with odd E fail on a new
finding: what the known-findings machinery must do, shown without a FlyDSL
checkout.  Never selected by default.
"""
# (no "from __future__ import annotations": fx.struct reads the field annotations as types)

from pathlib import Path

from kernels.backends.torch_backend import _launch as torch_launch
from kernels.flydsl_support import flydsl_problem
from kernels.registry import Backend

BLOCK = 128


def _kernel(racy: bool):
    import flydsl.compiler as flyc
    import flydsl.expr as fx
    from flydsl.expr import gpu

    from kernels.moesort import dsl

    @fx.struct
    class Smem:
        a: fx.Array[fx.Int32, BLOCK, 16]

    @flyc.kernel
    def planted_kernel(out: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        a = fx.SharedAllocator().allocate(Smem).peek().a.ptr
        dsl.lds_store(a, tid, tid + fx.Int32(1))
        gpu.barrier()
        last = tid == fx.Int32(BLOCK - 1)
        nxt = last.select(fx.Int32(0), dsl.lds_load(a, tid + fx.Int32(1)))   # planted: a[BLOCK] read, discarded
        if racy:
            dsl.lds_store(a, tid, nxt)
            nxt = dsl.lds_load(a, (tid + fx.Int32(64)) % fx.Int32(BLOCK))   # planted: no barrier before
        dsl.store(nxt, dsl.buffer(out, BLOCK * 4), tid)

    @flyc.jit
    def launch(out: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        planted_kernel(out).launch(grid=(1, 1, 1), block=(BLOCK, 1, 1), stream=stream)

    return launch


_LAUNCHERS: dict = {}


def _launch(inputs, buffers, target):
    import torch

    from kernels import emu

    moe_buf = buffers.moe_buf
    if moe_buf.dim() and moe_buf.shape[-1] * moe_buf.element_size() % 2:
        raise ValueError(f"moe_buf rows of {moe_buf.shape[-1] * moe_buf.element_size()} bytes: an odd byte count")
    torch_launch(inputs, buffers, target)
    racy = bool(inputs.num_experts % 2)
    launcher = _LAUNCHERS.get(racy) or _LAUNCHERS.setdefault(racy, _kernel(racy))
    with emu.emulate(target=target or "gfx950", findings="record"):
        launcher(torch.zeros(BLOCK, dtype=torch.int32))
    return "racy" if racy else "plain"


def _probe():
    return flydsl_problem()


BACKENDS = [
    Backend(name="planted-findings", description="torch CPU sort plus a FlyDSL kernel with planted findings",
            needs=("flydsl",), probe=_probe, launch=_launch, reports_path=True, writes_past_extent=True,
            test_only=True, targets=("gfx950",), sources=lambda: (str(Path(__file__).resolve().parent),)),
]
