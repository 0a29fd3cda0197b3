"""Small FlyDSL kernels of our own written against the legacy ``SmemAllocator`` / ``SmemPtr``.

FlyDSL's older kernels (and out-of-tree code that has not moved to
``fx.SharedAllocator``) place LDS arrays by hand: an ``SmemAllocator`` hands
out byte offsets, ``finalize()`` in the launcher emits one ``memref.global``,
and each ``SmemPtr(...).get()`` is a ``memref.view`` of it accessed with
``memref.load`` / ``memref.store``.  Each ``make_*`` returns an ``@flyc.jit``
launcher over CPU torch tensors; its ``bug`` argument plants one bug a
sanitizer check must catch (a store one past a view, a missing barrier, an
uninitialized read), ``bug=None`` is the correct kernel.
"""
import warnings

import flydsl.compiler as flyc
import flydsl.expr as fx
from flydsl._mlir import ir
from flydsl._mlir.dialects import arith as _arith
from flydsl._mlir.dialects import memref as _memref
from flydsl._mlir.extras import types as T
from flydsl.compiler.kernel_function import CompilationContext
from flydsl.expr import gpu

from tests.emu.sample_kernels import _v, buf_load, buf_store, make_rsrc

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from flydsl.utils.smem_allocator import SmemAllocator, SmemPtr


def _allocator(name, arrays):
    """An ``SmemAllocator`` with ``arrays`` ([(bytes, alignment)]) placed in order; their offsets."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alloc = SmemAllocator(None, arch="gfx950", global_sym_name=name)
    offsets = []
    for nbytes, align in arrays:
        off = alloc._align(alloc.ptr, align)
        offsets.append(off)
        alloc.ptr = off + nbytes
    return alloc, offsets


def _finalize(alloc):
    """Emit the allocator's ``memref.global`` into the module being traced (in the launcher)."""
    alloc.finalized = False
    with ir.InsertionPoint(CompilationContext.get_current().gpu_module_body):
        alloc.finalize()


def _view(base, offset, elem, n):
    """The ``memref.view`` of ``n`` elements at byte ``offset`` (an MLIR value: control flow
    regions carry values, not ``SmemPtr`` objects)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SmemPtr(base, offset, elem, shape=(n,)).get()


def _index(i):
    v = _v(i)
    return v if isinstance(v.type, ir.IndexType) else _arith.IndexCastOp(T.index(), v).result


def _ld(view, i, wrap=fx.Int32):
    """``view[i]`` (``memref.load``) as a FlyDSL value of type ``wrap``."""
    return wrap(_memref.load(view, [_index(i)]))


def _st(value, view, i):
    """``view[i] = value`` (``memref.store``)."""
    _memref.store(_v(value), view, [_index(i)])


# ---------------------------------------------------------------- LDS histogram
def make_smem_histogram(nbins: int, block: int = 256, bug=None, grid: int = 1):
    """``H = bincount(X, minlength=nbins)`` per workgroup: workgroup g counts its ``n`` values
    ``X[g * n:(g + 1) * n]`` into ``H[g * (nbins + 1):(g + 1) * (nbins + 1)]``.  All threads
    clear ``bins[nbins]``, thread 0 counts serially, all threads copy the bins out.  A second
    view ``total[1]`` (the count of X) lies right after ``bins``, the last element of the
    workgroup's row.  ``bug="past-view"``: the clear loop runs one past ``bins`` (its last store
    lands in ``total``, inside the workgroup's LDS).  ``bug="no-clear"``: the clear loop is
    missing, so the counts start from whatever LDS holds."""
    alloc, (off_bins, off_total) = _allocator(f"hist_smem_{nbins}", [(nbins * 4, 4), (4, 4)])
    clear = 0 if bug == "no-clear" else nbins + (1 if bug == "past-view" else 0)
    row = nbins + 1

    @flyc.kernel
    def _smem_hist_kernel(X: fx.Tensor, H: fx.Tensor, n: fx.Int32):
        tid = fx.Int32(fx.thread_idx.x)
        bid = fx.Int32(fx.block_idx.x)
        base = alloc.get_base()
        bins = _view(base, off_bins, T.i32(), nbins)
        total = _view(base, off_total, T.i32(), 1)
        rx, rh = make_rsrc(X, n * grid * 4), make_rsrc(H, row * grid * 4)
        for b in fx.range_constexpr(0, clear, block):
            if tid + fx.Int32(b) < fx.Int32(clear):
                _st(fx.Int32(0), bins, tid + fx.Int32(b))
        gpu.barrier()
        if tid == fx.Int32(0):
            _st(n, total, fx.Int32(0))
            for i in range(fx.Index(0), fx.Index(n), fx.Index(1)):
                x = fx.Int32(buf_load(rx, (bid * n + fx.Int32(i)) * 4, T.i32()))
                _st(_ld(bins, x) + fx.Int32(1), bins, x)
        gpu.barrier()
        for b in fx.range_constexpr(0, nbins, block):
            j = tid + fx.Int32(b)
            if j < fx.Int32(nbins):
                buf_store(_ld(bins, j), rh, (bid * fx.Int32(row) + j) * 4)
        if tid == fx.Int32(0):
            buf_store(_ld(total, fx.Int32(0)), rh, (bid * fx.Int32(row) + fx.Int32(nbins)) * 4)

    @flyc.jit
    def launch(X: fx.Tensor, H: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
        _finalize(alloc)
        _smem_hist_kernel(X, H, n).launch(grid=(grid, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


# ---------------------------------------------------------------- block-wide prefix sum
def make_smem_scan(block: int = 256, grid: int = 1, bug=None):
    """Inclusive prefix sum of each workgroup's ``block`` elements of X into Y: thread t stores
    X[t] in ``vals[t]``; after a barrier, each wave's last lane sums its wave's values serially
    into ``wave_tot[wave]``; after a barrier, every thread adds the totals of the waves before
    it to the sum of its wave's values up to itself.  ``bug="no-barrier"``: the barrier before
    reading ``wave_tot`` is missing (another wave's total is read while it is written)."""
    nwaves = block // 64
    alloc, (off_vals, off_tot) = _allocator(f"scan_smem_{block}_{bug}", [(block * 4, 16), (nwaves * 4, 16)])

    @flyc.kernel
    def _smem_scan_kernel(X: fx.Tensor, Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        bid = fx.Int32(fx.block_idx.x)
        lane = tid & fx.Int32(63)
        wave = tid >> fx.Int32(6)
        base = alloc.get_base()
        vals = _view(base, off_vals, T.i32(), block)
        tot = _view(base, off_tot, T.i32(), nwaves)
        rx, ry = make_rsrc(X, grid * block * 4), make_rsrc(Y, grid * block * 4)
        g = bid * fx.Int32(block) + tid
        _st(fx.Int32(buf_load(rx, g * 4, T.i32())), vals, tid)
        gpu.barrier()
        own = fx.Int32(0)
        for k in fx.range_constexpr(64):
            w0 = wave * fx.Int32(64)
            own = (lane >= fx.Int32(k)).select(own + _ld(vals, w0 + fx.Int32(k)), own)
        if lane == fx.Int32(63):
            _st(own, tot, wave)
        if bug != "no-barrier":
            gpu.barrier()
        acc = fx.Int32(0)
        for w in fx.range_constexpr(nwaves - 1):
            t = _ld(tot, fx.Int32(w))
            acc = (wave > fx.Int32(w)).select(acc + t, acc)
        buf_store(own + acc, ry, g * 4)

    @flyc.jit
    def launch(X: fx.Tensor, Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        _finalize(alloc)
        _smem_scan_kernel(X, Y).launch(grid=(grid, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


# ---------------------------------------------------------------- several arrays of several types
def make_smem_layout(block: int = 128, bug=None):
    """Three LDS arrays of three element types at hand-placed offsets: ``keys`` (i32),
    ``scale`` (f32) and ``tag`` (i16, at an offset that is only 2-byte aligned).  Thread t
    stores X[t] to ``keys[t]``, ``0.5 * t`` to ``scale[t]`` and ``t`` to ``tag[t]``; after a
    barrier it reads the three of thread ``(t + 1) % block`` and writes
    ``Y[t] = keys + int(scale * 2) + tag``.  ``bug="uninit"``: the last thread does not store
    its ``scale``, so thread ``block - 2`` reads a word never written."""
    alloc, (off_keys, off_scale, off_tag) = _allocator(
        f"layout_smem_{block}_{bug}", [(block * 4, 16), (block * 4, 4), (block * 2, 2)])

    @flyc.kernel
    def _smem_layout_kernel(X: fx.Tensor, Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        base = alloc.get_base()
        keys = _view(base, off_keys, T.i32(), block)
        scale = _view(base, off_scale, T.f32(), block)
        tag = _view(base, off_tag, T.i16(), block)
        rx, ry = make_rsrc(X, block * 4), make_rsrc(Y, block * 4)
        _st(fx.Int32(buf_load(rx, tid * 4, T.i32())), keys, tid)
        if (tid != fx.Int32(block - 1)) if bug == "uninit" else (tid >= fx.Int32(0)):
            _st(fx.Float32(tid) * fx.Float32(0.5), scale, tid)
        _st(fx.Int16(tid), tag, tid)
        gpu.barrier()
        o = (tid + fx.Int32(1)) % fx.Int32(block)
        s = _ld(scale, o, fx.Float32) * fx.Float32(2.0)
        v = _ld(keys, o) + fx.Int32(s) + fx.Int32(_ld(tag, o, fx.Int16))
        buf_store(v, ry, tid * 4)

    @flyc.jit
    def launch(X: fx.Tensor, Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        _finalize(alloc)
        _smem_layout_kernel(X, Y).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return launch
