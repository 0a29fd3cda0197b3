"""One algorithm, two ways of holding LDS: the kernels ``bench_smem`` runs side by side.

Each ``make_*(lds, ...)`` builds an ``@flyc.jit`` launcher of one algorithm
whose LDS arrays are held the way ``lds`` says: ``"llvm"`` places them with
``fx.SharedAllocator`` (``llvm.getelementptr`` + ``llvm.load`` / ``llvm.store``),
``"memref"`` with the legacy ``SmemAllocator`` / ``SmemPtr`` (``memref.view``
+ ``memref.load`` / ``memref.store``).  The kernel body is written once
against :class:`Arrays`, so the two launchers differ only in how LDS is
declared and addressed.  Both run several workgroups of 256 threads.
"""
from __future__ import annotations

import flydsl.compiler as flyc
import flydsl.expr as fx
from flydsl._mlir.extras import types as T
from flydsl.expr import gpu

from tests.emu.sample_kernels import buf_load, buf_store, make_rsrc
from tests.emu.smem_sample_kernels import _allocator, _finalize, _ld, _st, _view

BLOCK = 256
SIDES = ("llvm", "memref")
STEPS = BLOCK.bit_length() - 1      # Hillis-Steele steps over BLOCK threads


class Arrays:
    """The LDS ``int32`` arrays ``{name: length}`` of one kernel, as ``lds`` holds them;
    :meth:`bind` (inside the kernel) gives ``name -> (load(i), store(value, i))``."""

    def __init__(self, lds: str, tag: str, arrays: dict):
        if lds not in SIDES:
            raise ValueError(f"lds must be one of {SIDES}, not {lds!r}")
        self.lds, self.arrays = lds, dict(arrays)
        if lds == "llvm":
            self.struct = fx.struct(type(f"Smem_{tag}", (), {
                "__annotations__": {n: fx.Array[fx.Int32, k, 16] for n, k in self.arrays.items()}}))
        else:
            self.alloc, self.offsets = _allocator(f"pair_{tag}", [(4 * k, 16) for k in self.arrays.values()])

    def bind(self) -> dict:
        if self.lds == "llvm":
            lds = fx.SharedAllocator().allocate(self.struct).peek()
            out = {}
            for n in self.arrays:
                p = getattr(lds, n).ptr
                out[n] = (lambda i, p=p: fx.ptr_load(p + fx.Int64(i)),
                          lambda v, i, p=p: fx.ptr_store(v, p + fx.Int64(i)))
            return out
        base = self.alloc.get_base()
        out = {}
        for (n, k), off in zip(self.arrays.items(), self.offsets):
            view = _view(base, off, T.i32(), k)
            out[n] = (lambda i, v=view: _ld(v, i), lambda x, i, v=view: _st(x, v, i))
        return out

    def finalize(self):
        """In the launcher: the ``memref.global`` the memref side needs (nothing for llvm)."""
        if self.lds == "memref":
            _finalize(self.alloc)


def make_histogram(lds: str, chunk: int, grid: int):
    """Per-workgroup histogram of 256 bins: workgroup g stages ``X[g*chunk:(g+1)*chunk]`` (values in
    ``[0, 256)``) in LDS ``vals``, clears ``bins``; then for each staged value thread t adds
    ``vals[i] == t`` to ``bins[t]`` (a workgroup-uniform load, a per-lane load and store per
    value); ``H[g*256 + t] = bins[t]``."""
    arrays = Arrays(lds, f"hist_{chunk}_{grid}", {"vals": chunk, "bins": BLOCK})

    @flyc.kernel
    def _pair_hist_kernel(X: fx.Tensor, H: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        bid = fx.Int32(fx.block_idx.x)
        a = arrays.bind()
        ld_vals, st_vals = a["vals"]
        ld_bins, st_bins = a["bins"]
        rx, rh = make_rsrc(X, grid * chunk * 4), make_rsrc(H, grid * BLOCK * 4)
        for b in fx.range_constexpr(0, chunk, BLOCK):
            st_vals(fx.Int32(buf_load(rx, (bid * fx.Int32(chunk) + tid + fx.Int32(b)) * 4, T.i32())),
                    tid + fx.Int32(b))
        st_bins(fx.Int32(0), tid)
        gpu.barrier()
        for i in range(fx.Index(0), fx.Index(chunk), fx.Index(1)):
            x = ld_vals(fx.Int32(i))
            st_bins(ld_bins(tid) + (x == tid).select(fx.Int32(1), fx.Int32(0)), tid)
        buf_store(ld_bins(tid), rh, (bid * fx.Int32(BLOCK) + tid) * 4)

    @flyc.jit
    def launch(X: fx.Tensor, H: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        arrays.finalize()
        _pair_hist_kernel(X, H).launch(grid=(grid, 1, 1), block=(BLOCK, 1, 1), stream=stream)

    return launch


def make_scan(lds: str, per_thread: int, grid: int):
    """Per-workgroup inclusive prefix sum of ``256 * per_thread`` elements: thread t stages its
    ``per_thread`` consecutive elements in LDS ``vals`` and sums them into ``tot[t]``; a
    Hillis-Steele scan of ``tot`` (double-buffered in ``tot`` / ``tmp``, barriers between steps)
    gives each thread the sum of the threads before it, and it writes its elements' running sums."""
    n = BLOCK * per_thread
    arrays = Arrays(lds, f"scan_{per_thread}_{grid}", {"vals": n, "tot": BLOCK, "tmp": BLOCK})

    @flyc.kernel
    def _pair_scan_kernel(X: fx.Tensor, Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        bid = fx.Int32(fx.block_idx.x)
        a = arrays.bind()
        ld_vals, st_vals = a["vals"]
        bufs = (a["tot"], a["tmp"])
        rx, ry = make_rsrc(X, grid * n * 4), make_rsrc(Y, grid * n * 4)
        first = tid * fx.Int32(per_thread)
        for j in fx.range_constexpr(per_thread):
            st_vals(fx.Int32(buf_load(rx, (bid * fx.Int32(n) + first + fx.Int32(j)) * 4, T.i32())),
                    first + fx.Int32(j))
        own = fx.Int32(0)
        for j in fx.range_constexpr(per_thread):
            own = own + ld_vals(first + fx.Int32(j))
        bufs[0][1](own, tid)
        gpu.barrier()
        for k in fx.range_constexpr(STEPS):
            d = 1 << k
            (ld, _), (_, st) = bufs[k % 2], bufs[1 - k % 2]
            other = ld((tid >= fx.Int32(d)).select(tid - fx.Int32(d), tid))
            st(ld(tid) + (tid >= fx.Int32(d)).select(other, fx.Int32(0)), tid)
            gpu.barrier()
        run = bufs[STEPS % 2][0](tid) - own
        for j in fx.range_constexpr(per_thread):
            run = run + ld_vals(first + fx.Int32(j))
            buf_store(run, ry, (bid * fx.Int32(n) + first + fx.Int32(j)) * 4)

    @flyc.jit
    def launch(X: fx.Tensor, Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        arrays.finalize()
        _pair_scan_kernel(X, Y).launch(grid=(grid, 1, 1), block=(BLOCK, 1, 1), stream=stream)

    return launch
