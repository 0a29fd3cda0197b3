"""A tiny FlyDSL kernel of our own, so the compile matrix always has something to build.

``probe_kernel`` writes each thread's id into an LDS array of ``lds_bytes``
bytes, synchronizes, and stores its neighbour's value to global memory.  Its
workgroup size and static LDS size are parameters, so tests can make real
code objects that pass or break the limits (e.g. 96 KiB of LDS fits gfx950's
160 KiB but not gfx942's 64 KiB).

Provider contract: see :mod:`kernels.compilecheck.providers`.  Job options (``extra``):
``block`` (threads, default 256), ``lds_bytes`` (default 16 KiB) and
``libcall`` (default False: when True the kernel also calls ``fx.math.tan``,
which LLVM cannot lower here -- it prints ``error: no libcall available`` and
still emits a binary, so the matrix must fail it).
"""
# No ``from __future__ import annotations`` here: FlyDSL reads the kernel
# signatures' annotations as live objects.
import functools
from typing import Optional

from ..jobs import CompileJob

NAME = "probe"
PATHS = ()  # path names encode the job's LDS size (``lds16k``): no fixed order
DEFAULT_BLOCK = 256
DEFAULT_LDS_BYTES = 16 * 1024


def probe() -> Optional[str]:
    try:
        import flydsl.compiler  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"flydsl does not import: {exc}"
    return None


def make_job(target: str, block: int = DEFAULT_BLOCK, lds_bytes: int = DEFAULT_LDS_BYTES,
             min_workgroups_per_cu: int = 1, libcall: bool = False) -> CompileJob:
    return CompileJob(
        backend=NAME, kernel="probe", path=f"lds{lds_bytes // 1024}k" + ("-tan" if libcall else ""),
        num_experts=0, topk=0, unit_size=0, tokens=block, mask=False, target=target,
        min_workgroups_per_cu=min_workgroups_per_cu,
        extra=(("block", block), ("lds_bytes", lds_bytes), ("libcall", libcall)),
        label=f"wg{block}-lds{lds_bytes}",
    )


def jobs(targets, shapes) -> list:
    """One probe per target (shapes do not apply)."""
    return [make_job(t) for t in targets]


@functools.lru_cache(maxsize=None)
def build(block: int, lds_words: int, libcall: bool = False):
    """The @flyc.jit launcher of a probe with ``block`` threads and ``lds_words`` int32 of LDS."""
    import flydsl.compiler as flyc
    import flydsl.expr as fx
    from flydsl.expr import gpu

    @fx.struct
    class ProbeShared:
        cells: fx.Array[fx.Int32, lds_words, 16]

    @flyc.kernel(known_block_size=[block, 1, 1])
    def probe_kernel(out: fx.Tensor, aux: fx.Tensor, bias: fx.Int32):
        tid = gpu.thread_idx.x
        cells = fx.SharedAllocator().allocate(ProbeShared).peek().cells.ptr
        fx.ptr_store(fx.Int32(tid) + bias, cells + fx.Int64(tid))
        gpu.barrier()
        out[tid] = fx.ptr_load(cells + fx.Int64((tid + 1) % block))
        if libcall:
            aux[tid] = fx.math.tan(aux[tid])

    @flyc.jit
    def probe_launch(out: fx.Tensor, aux: fx.Tensor, bias: fx.Int32, stream: fx.Stream = fx.Stream(None)):
        probe_kernel(out, aux, bias).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return probe_launch


def compile(job: CompileJob) -> None:
    import torch

    block = int(job.option("block", DEFAULT_BLOCK))
    lds_bytes = int(job.option("lds_bytes", DEFAULT_LDS_BYTES))
    if lds_bytes < 4 * block:
        raise ValueError(f"lds_bytes={lds_bytes} must hold one int32 per thread ({4 * block})")
    launch = build(block, lds_bytes // 4, bool(job.option("libcall", False)))
    launch(torch.zeros(block, dtype=torch.int32), torch.zeros(block, dtype=torch.float32), 1)
