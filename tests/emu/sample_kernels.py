"""Small FlyDSL kernels of our own, used to test the CPU interpreter.

Each ``launch_*`` is an ``@flyc.jit`` launcher taking CPU torch tensors; the
tests compare their results with NumPy.  Helpers build buffer resources and
raw buffer ops directly from FlyDSL's MLIR dialect bindings (the pip package
has no high-level buffer API), so these kernels exercise exactly the ops the
MoE sort kernels lower to.  The ``broken_*`` kernels each contain one bug a
sanitizer check must catch.
"""

import flydsl.compiler as flyc
import flydsl.expr as fx
import numpy as np
from flydsl._mlir import ir
from flydsl._mlir.dialects import arith as _arith
from flydsl._mlir.dialects import fly as _fly
from flydsl._mlir.dialects import rocdl as _rocdl
from flydsl._mlir.extras import types as T
from flydsl.expr import arith as fx_arith
from flydsl.expr import gpu
from flydsl.expr import rocdl as fly_rocdl

BUF_FLAGS = (7 << 12) | (4 << 15)   # CDNA raw-buffer descriptor word 3


def _v(x):
    if hasattr(x, "ir_value") and not isinstance(x, ir.Value):
        return x.ir_value()
    return x


def _c(ty, val):
    return _arith.ConstantOp(ty, ir.IntegerAttr.get(ty, val)).result


def make_rsrc(tensor, num_records_bytes, stride=0):
    """Raw buffer descriptor over ``tensor`` with ``num_records_bytes`` (int or i32 value)."""
    base = _fly.extract_aligned_pointer_as_index(ir.Type.parse("!llvm.ptr"), _v(tensor))
    nr = num_records_bytes
    nr = _c(T.i64(), nr) if isinstance(nr, int) else _v(nr)
    if nr.type != T.i64():
        nr = _arith.ExtUIOp(T.i64(), nr).result
    return _rocdl.MakeBufferRsrcOp(ir.Type.parse("!llvm.ptr<8>"), base, _c(T.i16(), stride), nr,
                                   _c(T.i32(), BUF_FLAGS)).result


def buf_load(rsrc, byte_off, ty):
    return _rocdl.RawPtrBufferLoadOp(ty, rsrc, _v(byte_off), _c(T.i32(), 0)).result


def buf_store(val, rsrc, byte_off):
    _rocdl.RawPtrBufferStoreOp(_v(val), rsrc, _v(byte_off), _c(T.i32(), 0))


OOB = 0x7FFFFFFF   # byte offset that is out of range of every descriptor


# ---------------------------------------------------------------- vector add
@flyc.kernel
def _vadd_kernel(A: fx.Tensor, B: fx.Tensor, C: fx.Tensor, n: fx.Int32):
    i = fx.Int32(fx.block_idx.x) * 256 + fx.Int32(fx.thread_idx.x)
    ra, rb, rc = make_rsrc(A, n * 4), make_rsrc(B, n * 4), make_rsrc(C, n * 4)
    off = (i < n).select(i * 4, fx.Int32(OOB))       # masked tail through buffer OOB
    s = _arith.AddFOp(buf_load(ra, off, T.f32()), buf_load(rb, off, T.f32())).result
    buf_store(s, rc, off)


@flyc.jit
def launch_vadd(A: fx.Tensor, B: fx.Tensor, C: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
    _vadd_kernel(A, B, C, n).launch(grid=((n + 255) // 256, 1, 1), block=(256, 1, 1), stream=stream)


# ---------------------------------------------------------------- vector add, length read on the device
@flyc.kernel
def _vadd_counted_kernel(A: fx.Tensor, B: fx.Tensor, C: fx.Tensor, count: fx.Tensor, capacity: fx.Int32):
    n = fx.Int32(buf_load(make_rsrc(count, 4), fx.Int32(0), T.i32()))
    i = fx.Int32(fx.block_idx.x) * 256 + fx.Int32(fx.thread_idx.x)
    ra, rb, rc = make_rsrc(A, capacity * 4), make_rsrc(B, capacity * 4), make_rsrc(C, capacity * 4)
    off = (i < n).select(i * 4, fx.Int32(OOB))
    s = _arith.AddFOp(buf_load(ra, off, T.f32()), buf_load(rb, off, T.f32())).result
    buf_store(s, rc, off)


@flyc.jit
def launch_vadd_counted(A: fx.Tensor, B: fx.Tensor, C: fx.Tensor, count: fx.Tensor, capacity: fx.Int32,
                        stream: fx.Stream = fx.Stream(None)):
    """``C[:n] = A[:n] + B[:n]`` with ``n = count[0]`` read by the kernel; the grid covers ``capacity``."""
    _vadd_counted_kernel(A, B, C, count, capacity).launch(grid=((capacity + 255) // 256, 1, 1), block=(256, 1, 1),
                                                          stream=stream)


# ---------------------------------------------------------------- block-wide DPP prefix sum
def _wave_inclusive_scan(val, lane):
    for shift, ctrl in ((1, 0x111), (2, 0x112), (4, 0x114), (8, 0x118)):
        remote = fly_rocdl.update_dpp(T.i32(), _v(fx.Int32(0)), _v(val), ctrl, 0xF, 0xF, True)
        val = (lane >= fx.Int32(shift)).select(val + fx.Int32(remote), val)
    src16 = (lane & fx.Int32(0x30)) - fx.Int32(1)
    r16 = fly_rocdl.ds_bpermute(T.i32(), _v(src16 * fx.Int32(4)), _v(val))
    val = (lane >= fx.Int32(16)).select(val + fx.Int32(r16), val)
    src32 = (lane & fx.Int32(0x30)) - fx.Int32(17)
    r32 = fly_rocdl.ds_bpermute(T.i32(), _v(src32 * fx.Int32(4)), _v(val))
    val = (lane >= fx.Int32(32)).select(val + fx.Int32(r32), val)
    return val


def make_scan(block: int):
    nwaves = block // 64

    @fx.struct
    class Smem:
        wave_tot: fx.Array[fx.Int32, max(nwaves, 1), 16]

    @flyc.kernel
    def _scan_kernel(X: fx.Tensor, Y: fx.Tensor, n: fx.Int32):
        tid = fx.Int32(fx.thread_idx.x)
        lane = tid & fx.Int32(63)
        wave = tid >> fx.Int32(6)
        lds = fx.SharedAllocator().allocate(Smem).peek()
        tot = lds.wave_tot.ptr
        rx, ry = make_rsrc(X, n * 4), make_rsrc(Y, n * 4)
        x = fx.Int32(buf_load(rx, tid * 4, T.i32()))
        v = _wave_inclusive_scan(x, lane)
        if lane == fx.Int32(63):
            fx.ptr_store(v, tot + fx.Int64(wave))
        gpu.barrier()
        acc = fx.Int32(0)
        for w in fx.range_constexpr(nwaves - 1):
            t = fx.ptr_load(tot + fx.Int64(w))
            acc = (wave > fx.Int32(w)).select(acc + t, acc)
        buf_store(v + acc, ry, tid * 4)

    @flyc.jit
    def launch(X: fx.Tensor, Y: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
        _scan_kernel(X, Y, n).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


# ---------------------------------------------------------------- LDS histogram
def make_histogram(nbins: int, block: int = 256):
    @fx.struct
    class Smem:
        bins: fx.Array[fx.Int32, nbins, 16]

    @flyc.kernel
    def _hist_kernel(X: fx.Tensor, H: fx.Tensor, n: fx.Int32):
        tid = fx.Int32(fx.thread_idx.x)
        lds = fx.SharedAllocator().allocate(Smem).peek()
        bins = lds.bins.ptr
        rx, rh = make_rsrc(X, n * 4), make_rsrc(H, nbins * 4)
        for b in fx.range_constexpr(0, nbins, block):
            if tid + fx.Int32(b) < fx.Int32(nbins):
                fx.ptr_store(fx.Int32(0), bins + fx.Int64(tid + fx.Int32(b)))
        gpu.barrier()
        # thread 0 counts serially (no atomics needed, deterministic)
        if tid == fx.Int32(0):
            for i in range(fx.Index(0), fx.Index(n), fx.Index(1)):
                x = fx.Int32(buf_load(rx, fx.Int32(i) * 4, T.i32()))
                p = bins + fx.Int64(x)
                fx.ptr_store(fx.ptr_load(p) + fx.Int32(1), p)
        gpu.barrier()
        for b in fx.range_constexpr(0, nbins, block):
            j = tid + fx.Int32(b)
            if j < fx.Int32(nbins):
                buf_store(fx.ptr_load(bins + fx.Int64(j)), rh, j * 4)

    @flyc.jit
    def launch(X: fx.Tensor, H: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
        _hist_kernel(X, H, n).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


def global_ptr(tensor):
    """Raw ``!llvm.ptr<1>`` to a tensor's first element."""
    return _fly.extract_aligned_pointer_as_index(ir.Type.parse("!llvm.ptr<1>"), _v(tensor))


def ptr_at(base, idx, elem_ty):
    from flydsl._mlir.dialects import llvm as _llvm
    return _llvm.GEPOp(base.type, base, [_v(idx)], [-(2 ** 31)], elem_ty, None).result


def raw_store(val, ptr):
    from flydsl._mlir.dialects import llvm as _llvm
    _llvm.StoreOp(_v(val), ptr)


def raw_load(ty, ptr):
    from flydsl._mlir.dialects import llvm as _llvm
    return _llvm.LoadOp(ty, ptr).result


# ---------------------------------------------------------------- grid-stride zero fill
@flyc.kernel
def _zero_kernel(Y: fx.Tensor, n: fx.Int32):
    gid = fx.Int32(fx.block_idx.x) * fx.Int32(fx.block_dim.x) + fx.Int32(fx.thread_idx.x)
    stride = fx.Int32(fx.grid_dim.x) * fx.Int32(fx.block_dim.x)
    ry = make_rsrc(Y, n * 4)
    niters = (n + stride - fx.Int32(1)) // stride
    zero4 = fx.Vector.filled(4, 0, fx.Int32)
    for it in range(fx.Index(0), fx.Index(niters), fx.Index(1)):
        idx = gid + fx.Int32(it) * stride          # in units of 4 x i32
        buf_store(zero4, ry, (idx < (n + fx.Int32(3)) // fx.Int32(4)).select(idx * fx.Int32(16), fx.Int32(OOB)))


@flyc.jit
def launch_zero(Y: fx.Tensor, n: fx.Int32, grid: fx.Constexpr[int], stream: fx.Stream = fx.Stream(None)):
    _zero_kernel(Y, n).launch(grid=(grid, 1, 1), block=(128, 1, 1), stream=stream)


# ---------------------------------------------------------------- a grid computed from n in the host code
@flyc.kernel
def _fill_ones_kernel(Y: fx.Tensor, n: fx.Int32):
    i = fx.Int32(fx.block_idx.x) * 64 + fx.Int32(fx.thread_idx.x)
    buf_store(fx.Int32(1), make_rsrc(Y, n * 4), (i < n).select(i * 4, fx.Int32(OOB)))


@flyc.jit
def launch_fill_ones_index_grid(Y: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
    """``Y[:n] = 1`` over ``(n - 1) // 64 + 1`` workgroups computed on index values (an
    unsigned division in the lowered host code: n = 0 asks for 2**64 / 64 workgroups)."""
    rows = fx_arith.index_cast(T.index(), n)
    grid = (rows - fx.Index(1)) // fx.Index(64) + fx.Index(1)
    _fill_ones_kernel(Y, n).launch(grid=(grid, 1, 1), block=(64, 1, 1), stream=stream)


@flyc.jit
def launch_fill_ones_i32_grid(Y: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
    """The same grid computed on signed i32 values (a flooring signed division: n = 0 gives 0)."""
    grid = (n - fx.Int32(1)) // fx.Int32(64) + fx.Int32(1)
    _fill_ones_kernel(Y, n).launch(grid=(grid, 1, 1), block=(64, 1, 1), stream=stream)


# ---------------------------------------------------------------- buffer-OOB masked copy
@flyc.kernel
def _oob_copy_kernel(X: fx.Tensor, Y: fx.Tensor, n_valid: fx.Int32, n: fx.Int32):
    i = fx.Int32(fx.block_idx.x) * 64 + fx.Int32(fx.thread_idx.x)
    rx = make_rsrc(X, n_valid * 4)       # only the first n_valid elements are in range
    ry = make_rsrc(Y, n * 4)
    buf_store(buf_load(rx, i * 4, T.i32()), ry, i * 4)   # reads past n_valid give 0


@flyc.jit
def launch_oob_copy(X: fx.Tensor, Y: fx.Tensor, n_valid: fx.Int32, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
    _oob_copy_kernel(X, Y, n_valid, n).launch(grid=((n + 63) // 64, 1, 1), block=(64, 1, 1), stream=stream)


# ================================================================ broken kernels (one bug each)
@flyc.kernel
def _broken_oob_kernel(Y: fx.Tensor, n: fx.Int32):
    tid = fx.Int32(fx.thread_idx.x)
    p = ptr_at(global_ptr(Y), tid + fx.Int32(1), T.i32())      # BUG: off by one, last thread writes past the end
    raw_store(tid, p)


@flyc.jit
def launch_broken_oob(Y: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
    _broken_oob_kernel(Y, n).launch(grid=(1, 1, 1), block=(n, 1, 1), stream=stream)


def _lds_exchange(block: int, barrier):
    """Each thread stores its id in LDS, calls ``barrier()``, and reads the slot 64 threads
    on (another wave's): a race unless ``barrier`` is ``gpu.barrier``."""
    @fx.struct
    class Smem:
        s: fx.Array[fx.Int32, block, 16]

    @flyc.kernel
    def _exchange_kernel(Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        s = fx.SharedAllocator().allocate(Smem).peek().s.ptr
        fx.ptr_store(tid, s + fx.Int64(tid))
        barrier()
        other = (tid + fx.Int32(64)) % fx.Int32(block)
        v = fx.ptr_load(s + fx.Int64(other))
        buf_store(v, make_rsrc(Y, block * 4), tid * 4)

    @flyc.jit
    def launch(Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        _exchange_kernel(Y).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


def make_broken_race(block: int = 128):
    """BUG: no barrier between the LDS store and another wave's read of it."""
    return _lds_exchange(block, lambda: None)


def make_fixed_race(block: int = 128):
    """The race kernel with its barrier: must pass every check."""
    return _lds_exchange(block, gpu.barrier)


def make_broken_uninit(block: int = 64):
    @fx.struct
    class Smem:
        s: fx.Array[fx.Int32, 2 * block, 16]

    @flyc.kernel
    def _uninit_kernel(Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        s = fx.SharedAllocator().allocate(Smem).peek().s.ptr
        fx.ptr_store(tid, s + fx.Int64(tid))
        gpu.barrier()
        v = fx.ptr_load(s + fx.Int64(tid + fx.Int32(block)))   # BUG: upper half never written
        buf_store(v, make_rsrc(Y, block * 4), tid * 4)

    @flyc.jit
    def launch(Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        _uninit_kernel(Y).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


@flyc.kernel
def _broken_schedule_kernel(Y: fx.Tensor):
    # BUG: every workgroup writes its id to the same word; the survivor depends on the schedule
    tid = fx.Int32(fx.thread_idx.x)
    if tid == fx.Int32(0):
        buf_store(fx.Int32(fx.block_idx.x), make_rsrc(Y, 4), fx.Int32(0))


@flyc.jit
def launch_broken_schedule(Y: fx.Tensor, nblocks: fx.Int32, stream: fx.Stream = fx.Stream(None)):
    _broken_schedule_kernel(Y).launch(grid=(nblocks, 1, 1), block=(64, 1, 1), stream=stream)


@flyc.kernel
def _broken_barrier_kernel(Y: fx.Tensor):
    tid = fx.Int32(fx.thread_idx.x)
    if tid < fx.Int32(32):
        gpu.barrier()                      # BUG: barrier reached by half the workgroup
    buf_store(tid, make_rsrc(Y, 64 * 4), tid * 4)


@flyc.jit
def launch_broken_barrier(Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
    _broken_barrier_kernel(Y).launch(grid=(1, 1, 1), block=(64, 1, 1), stream=stream)


# ---------------------------------------------------------------- long per-lane loop (benchmark)
@flyc.kernel
def _loop_kernel(X: fx.Tensor, Y: fx.Tensor, iters: fx.Int32):
    tid = fx.Int32(fx.thread_idx.x)
    rx, ry = make_rsrc(X, 4 * 1024), make_rsrc(Y, 4 * 1024)
    acc = fx.Int32(buf_load(rx, tid * 4, T.i32()))
    for i in range(fx.Index(0), fx.Index(iters), fx.Index(1)):
        acc = (acc * fx.Int32(1103515245) + fx.Int32(i)) ^ (acc >> fx.Int32(7))
    buf_store(acc, ry, tid * 4)


@flyc.jit
def launch_loop(X: fx.Tensor, Y: fx.Tensor, iters: fx.Int32, block: fx.Constexpr[int],
                stream: fx.Stream = fx.Stream(None)):
    _loop_kernel(X, Y, iters).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)


def loop_reference(x, iters):
    acc = x.astype(np.int64)
    for i in range(iters):
        acc = (((acc * 1103515245 + i) & 0xFFFFFFFF) ^ ((acc.astype(np.int32) >> 7).astype(np.int64) & 0xFFFFFFFF))
        acc = ((acc + 2**31) % 2**32) - 2**31
    return acc.astype(np.int32)


# ---------------------------------------------------------------- byte stores from several workgroups
@flyc.kernel
def _byte_per_workgroup_kernel(Y: fx.Tensor, same_byte: fx.Constexpr[bool]):
    # Workgroup b stores the byte b+1 at byte offset b (or, with same_byte, at offset 0:
    # then the surviving byte depends on the schedule -- a real race).
    tid = fx.Int32(fx.thread_idx.x)
    bid = fx.Int32(fx.block_idx.x)
    if tid == fx.Int32(0):
        byte = _arith.TruncIOp(T.i8(), _v(bid + fx.Int32(1))).result
        buf_store(byte, make_rsrc(Y, 4), fx.Int32(0) if same_byte else bid)


@flyc.jit
def launch_byte_per_workgroup(Y: fx.Tensor, same_byte: fx.Constexpr[bool], stream: fx.Stream = fx.Stream(None)):
    _byte_per_workgroup_kernel(Y, same_byte).launch(grid=(4, 1, 1), block=(64, 1, 1), stream=stream)


# ---------------------------------------------------------------- hazards between waves of one workgroup
def make_lds_clear_then_fill(block: int = 128, barrier: bool = True):
    """Thread t zeroes LDS word t, then stores t + 1 into word (t + 64) % block -- another
    wave's word -- and finally copies word t to Y[t].  Without the first barrier the
    zeroing races with the other wave's store (LDS starts as zeros in the interpreter,
    so only counting every first store as a write can see it)."""
    @fx.struct
    class Smem:
        s: fx.Array[fx.Int32, block, 16]

    @flyc.kernel
    def _clear_fill_kernel(Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        s = fx.SharedAllocator().allocate(Smem).peek().s.ptr
        fx.ptr_store(fx.Int32(0), s + fx.Int64(tid))
        if barrier:
            gpu.barrier()
        fx.ptr_store(tid + fx.Int32(1), s + fx.Int64((tid + fx.Int32(64)) % fx.Int32(block)))
        gpu.barrier()
        buf_store(fx.ptr_load(s + fx.Int64(tid)), make_rsrc(Y, block * 4), tid * 4)

    @flyc.jit
    def launch(Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        _clear_fill_kernel(Y).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


def make_global_exchange(block: int = 128, barrier: bool = True, uniform_flag: bool = False):
    """Thread t writes t * 3 to W[t], then reads W[(t + 64) % block] -- written by another
    wave -- into Y[t].  Without the barrier that is a read-after-write race in global
    memory between two waves of one workgroup.  ``uniform_flag``: every thread also
    stores 7 to W[block] (one value from every wave) and reads it back, which is benign."""
    @flyc.kernel
    def _exchange_kernel(W: fx.Tensor, Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        rw = make_rsrc(W, (block + 1) * 4)
        buf_store(tid * fx.Int32(3), rw, tid * 4)
        extra = fx.Int32(0)
        if uniform_flag:
            buf_store(fx.Int32(7), rw, fx.Int32(block * 4))
            extra = fx.Int32(buf_load(rw, fx.Int32(block * 4), T.i32()))
        if barrier:
            gpu.barrier()
        v = fx.Int32(buf_load(rw, ((tid + fx.Int32(64)) % fx.Int32(block)) * 4, T.i32()))
        buf_store(v + extra, make_rsrc(Y, block * 4), tid * 4)

    @flyc.jit
    def launch(W: fx.Tensor, Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        _exchange_kernel(W, Y).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


def make_lds_shared_word(block: int = 128, same_value: bool = True):
    """Every thread stores to LDS word 0 (the constant 5, or its own id) and, with no
    barrier, reads it back into Y[t].  One value from every wave is benign; different
    values from several waves in one instruction are a race."""
    @fx.struct
    class Smem:
        s: fx.Array[fx.Int32, 4, 16]

    @flyc.kernel
    def _shared_word_kernel(Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        s = fx.SharedAllocator().allocate(Smem).peek().s.ptr
        fx.ptr_store(fx.Int32(5) if same_value else tid, s + fx.Int64(0))
        buf_store(fx.ptr_load(s + fx.Int64(0)), make_rsrc(Y, block * 4), tid * 4)

    @flyc.jit
    def launch(Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        _shared_word_kernel(Y).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


@flyc.jit
def _load_past(ptr, idx):
    """Nested ``@jit`` helper: the load a kernel inlines while it is traced."""
    return fx.ptr_load(ptr + fx.Int64(idx))


def make_lds_overrun(block: int = 64, past: int = 1, nested: bool = False):
    """Two LDS arrays ``a[block]`` and ``b[block]``: thread t stores 10 + t to a[t] and
    100 + t to b[t], then (after a barrier) copies ``a[t + past]`` to Y[t].  BUG for
    ``past`` != 0: some threads read outside ``a`` -- into ``b`` where that lies inside
    the workgroup's LDS (the hardware returns b's words), 0 past the LDS.  ``nested``:
    the overrunning load sits in the nested ``@jit`` helper ``_load_past``."""
    @fx.struct
    class Smem:
        a: fx.Array[fx.Int32, block, 16]
        b: fx.Array[fx.Int32, block, 16]

    @flyc.kernel
    def _overrun_kernel(Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        lds = fx.SharedAllocator().allocate(Smem).peek()
        fx.ptr_store(tid + fx.Int32(10), lds.a.ptr + fx.Int64(tid))
        fx.ptr_store(tid + fx.Int32(100), lds.b.ptr + fx.Int64(tid))
        gpu.barrier()
        v = (_load_past(lds.a.ptr, tid + fx.Int32(past)) if nested
             else fx.ptr_load(lds.a.ptr + fx.Int64(tid + fx.Int32(past))))
        buf_store(v, make_rsrc(Y, block * 4), tid * 4)

    @flyc.jit
    def launch(Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        _overrun_kernel(Y).launch(grid=(1, 1, 1), block=(block, 1, 1), stream=stream)

    return launch


def make_workgroup_uniform_reads(block: int = 128, grid: int = 6, barrier: bool = True, skip_wg: int = -1):
    """Workgroup b: thread 0 stores 1000 + b to LDS word b % 4 and each thread t stores t to
    word 4 + t; after a barrier (``barrier``) every thread reads word ``b % 4`` (an address
    the same in all lanes of a workgroup, launch-uniform for word 0 too) and word 4 + (b % 4),
    and writes their sum + t to Y[b * block + t].  BUGs on purpose: without the barrier the
    reads race with the stores of other waves; workgroup ``skip_wg`` leaves its word unwritten
    (an uninitialized read).  Several workgroups run batched, so the uniform reads take the
    interpreter's once-per-workgroup path."""
    @fx.struct
    class Smem:
        s: fx.Array[fx.Int32, 4 + block, 16]

    @flyc.kernel
    def _wg_uniform_kernel(Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        bid = fx.Int32(fx.block_idx.x)
        s = fx.SharedAllocator().allocate(Smem).peek().s.ptr
        word = bid % fx.Int32(4)
        if (tid == fx.Int32(0)) & (bid != fx.Int32(skip_wg)):
            fx.ptr_store(bid + fx.Int32(1000), s + fx.Int64(word))
        fx.ptr_store(tid, s + fx.Int64(tid + fx.Int32(4)))
        if barrier:
            gpu.barrier()
        v = fx.ptr_load(s + fx.Int64(word)) + fx.ptr_load(s + fx.Int64(word + fx.Int32(4))) + \
            fx.ptr_load(s + fx.Int64(4))
        buf_store(v + tid, make_rsrc(Y, grid * block * 4), (bid * fx.Int32(block) + tid) * 4)

    @flyc.jit
    def launch(Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        _wg_uniform_kernel(Y).launch(grid=(grid, 1, 1), block=(block, 1, 1), stream=stream)

    return launch
