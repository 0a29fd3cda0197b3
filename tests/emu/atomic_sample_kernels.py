"""Small FlyDSL kernels of our own that use atomics (``fx.atomic_add`` / ``atomic_or`` /
``atomic_cas`` on LDS and global pointers).

Each ``make_*`` returns an ``@flyc.jit`` launcher over CPU torch tensors; its
``bug`` argument plants one bug the interpreter must catch, ``bug=None`` is
the correct kernel:

* :func:`make_atomic_histogram` -- per workgroup, an LDS histogram by atomic
  add, then each bin's exclusive prefix sum.  ``"plain-rmw"``: a plain load +
  store in place of the atomic (a race); ``"no-barrier"``: no barrier between
  the histogram and the scan that reads it (an atomic/plain race);
  ``"past-array"``: the atomic's bin index is one too high (past the array).
* :func:`make_slot_allocation` -- each thread whose input is nonzero takes an
  output slot: an LDS atomic counter per workgroup, then one global atomic
  add per workgroup reserves the workgroup's range.  The outputs are right as
  a set; their order depends on the order of the atomics, which the schedule
  check reports.
* :func:`make_global_reduction` -- sums of X into ``ngroups`` global
  accumulators by atomic add from every workgroup.  ``"past-array"``: the
  group index reaches one accumulator past the array.
* :func:`make_cas_max` -- the float maximum of X by a compare-and-swap loop on
  the bits of one global float.
"""
import flydsl.compiler as flyc
import flydsl.expr as fx
from flydsl._mlir.dialects import arith as _arith
from flydsl._mlir.extras import types as T
from flydsl.expr import gpu

from tests.emu.sample_kernels import _v, buf_load, buf_store, global_ptr, make_rsrc, ptr_at


def _bits_to_f32(x):
    return fx.Float32(_arith.BitcastOp(T.f32(), _v(x)).result)


def _f32_to_bits(x):
    return fx.Int32(_arith.BitcastOp(T.i32(), _v(x)).result)


# ---------------------------------------------------------------- LDS histogram + prefix sum
def make_atomic_histogram(nbins: int, block: int = 256, bug=None):
    """Workgroup w counts X[w*block : (w+1)*block] (values in ``[0, nbins)``) into LDS ``bins`` by
    atomic add and writes ``H[w, b]`` (the counts) and ``OFF[w, b]`` (the counts of the bins below
    ``b``).  A second LDS array ``spare`` follows ``bins``."""
    shift = 1 if bug == "past-array" else 0

    @fx.struct
    class Smem:
        bins: fx.Array[fx.Int32, nbins, 16]
        spare: fx.Array[fx.Int32, 4, 16]

    @flyc.kernel
    def _atomic_hist_kernel(X: fx.Tensor, H: fx.Tensor, OFF: fx.Tensor, n: fx.Int32):
        tid = fx.Int32(fx.thread_idx.x)
        wg = fx.Int32(fx.block_idx.x)
        lds = fx.SharedAllocator().allocate(Smem).peek()
        bins = lds.bins.ptr
        for b in fx.range_constexpr(0, nbins, block):
            if tid + fx.Int32(b) < fx.Int32(nbins):
                fx.ptr_store(fx.Int32(0), bins + fx.Int64(tid + fx.Int32(b)))
        if tid < fx.Int32(4):
            fx.ptr_store(fx.Int32(0), lds.spare.ptr + fx.Int64(tid))
        gpu.barrier()
        g = wg * fx.Int32(block) + tid
        if g < n:
            x = fx.Int32(buf_load(make_rsrc(X, n * 4), g * 4, T.i32())) + fx.Int32(shift)
            slot = bins + fx.Int64(x)
            if bug == "plain-rmw":
                fx.ptr_store(fx.ptr_load(slot) + fx.Int32(1), slot)
            else:
                fx.atomic_add(slot, fx.Int32(1))
        if bug != "no-barrier":
            gpu.barrier()
        rh, ro = make_rsrc(H, fx.Int32(fx.grid_dim.x) * nbins * 4), make_rsrc(OFF, fx.Int32(fx.grid_dim.x) * nbins * 4)
        for b in fx.range_constexpr(0, nbins, block):
            j = tid + fx.Int32(b)
            if j < fx.Int32(nbins):
                below = fx.Int32(0)
                for i in range(fx.Index(0), fx.Index(j), fx.Index(1)):
                    below = below + fx.ptr_load(bins + fx.Int64(fx.Int32(i)))
                out = (wg * fx.Int32(nbins) + j) * 4
                buf_store(fx.ptr_load(bins + fx.Int64(j)), rh, out)
                buf_store(below, ro, out)

    @flyc.jit
    def launch(X: fx.Tensor, H: fx.Tensor, OFF: fx.Tensor, n: fx.Int32, grid: fx.Constexpr[int],
               stream: fx.Stream = fx.Stream(None)):
        _atomic_hist_kernel(X, H, OFF, n).launch(grid=(grid, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


# ---------------------------------------------------------------- slot allocation by atomic counters
def make_slot_allocation(block: int = 128):
    """Every i with X[i] != 0 lands once in ``OUT[:COUNT[0]]``: thread i takes a slot of its
    workgroup from an LDS counter, thread 0 reserves the workgroup's range with one global atomic
    add on ``COUNT[0]`` (zero on entry), and thread i stores i at the range's start plus its slot."""

    @fx.struct
    class Smem:
        counter: fx.Array[fx.Int32, 1, 16]
        base: fx.Array[fx.Int32, 1, 16]

    @flyc.kernel
    def _slot_kernel(X: fx.Tensor, OUT: fx.Tensor, COUNT: fx.Tensor, n: fx.Int32):
        tid = fx.Int32(fx.thread_idx.x)
        lds = fx.SharedAllocator().allocate(Smem).peek()
        counter, base = lds.counter.ptr, lds.base.ptr
        if tid == fx.Int32(0):
            fx.ptr_store(fx.Int32(0), counter)
        gpu.barrier()
        g = fx.Int32(fx.block_idx.x) * fx.Int32(block) + tid
        keep = fx.Int32(0)
        if g < n:
            keep = fx.Int32(buf_load(make_rsrc(X, n * 4), g * 4, T.i32()))
        slot = fx.Int32(0)
        if keep != fx.Int32(0):
            slot = fx.atomic_add(counter, fx.Int32(1))
        gpu.barrier()
        if tid == fx.Int32(0):
            fx.ptr_store(fx.atomic_add(ptr_at(global_ptr(COUNT), fx.Int32(0), T.i32()), fx.ptr_load(counter)), base)
        gpu.barrier()
        if keep != fx.Int32(0):
            buf_store(g, make_rsrc(OUT, n * 4), (fx.ptr_load(base) + slot) * 4)

    @flyc.jit
    def launch(X: fx.Tensor, OUT: fx.Tensor, COUNT: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
        _slot_kernel(X, OUT, COUNT, n).launch(grid=((n + block - 1) // block, 1, 1), block=(block, 1, 1),
                                              stream=stream)

    return launch


# ---------------------------------------------------------------- global reduction across workgroups
def make_global_reduction(ngroups: int, block: int = 128, bug=None):
    """``S[k] += sum of X[i] with i % ngroups == k`` by global atomic adds from every thread of every
    workgroup (S holds ``ngroups`` int32, zero on entry)."""
    modulus = ngroups + (1 if bug == "past-array" else 0)

    @flyc.kernel
    def _reduce_kernel(X: fx.Tensor, S: fx.Tensor, n: fx.Int32):
        g = fx.Int32(fx.block_idx.x) * fx.Int32(block) + fx.Int32(fx.thread_idx.x)
        if g < n:
            x = fx.Int32(buf_load(make_rsrc(X, n * 4), g * 4, T.i32()))
            fx.atomic_add(ptr_at(global_ptr(S), g % fx.Int32(modulus), T.i32()), x)

    @flyc.jit
    def launch(X: fx.Tensor, S: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
        _reduce_kernel(X, S, n).launch(grid=((n + block - 1) // block, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


# ---------------------------------------------------------------- compare-and-swap loop (float max)
def make_cas_max(block: int = 128):
    """``M[0] = max(M[0], max(X))`` (float32, no NaN in X): each thread reads M's bits atomically
    (``atomic_or`` with 0); while its x is above the value seen, it tries ``atomic_cas(M, seen,
    bits of x)`` and takes the value the swap returned as the value seen."""

    @flyc.kernel
    def _cas_max_kernel(X: fx.Tensor, M: fx.Tensor, n: fx.Int32):
        g = fx.Int32(fx.block_idx.x) * fx.Int32(block) + fx.Int32(fx.thread_idx.x)
        if g < n:
            x = fx.Float32(buf_load(make_rsrc(X, n * 4), g * 4, T.f32()))
            p = ptr_at(global_ptr(M), fx.Int32(0), T.i32())
            seen = fx.atomic_or(p, fx.Int32(0))
            done = (x <= _bits_to_f32(seen)).select(fx.Int32(1), fx.Int32(0))
            while done == fx.Int32(0):
                old, ok = fx.atomic_cas(p, seen, _f32_to_bits(x))
                seen = old
                done = (ok | (x <= _bits_to_f32(old))).select(fx.Int32(1), fx.Int32(0))

    @flyc.jit
    def launch(X: fx.Tensor, M: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
        _cas_max_kernel(X, M, n).launch(grid=((n + block - 1) // block, 1, 1), block=(block, 1, 1), stream=stream)

    return launch
