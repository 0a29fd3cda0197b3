"""The GPU execution model: thread and block ids, barriers, cross-lane ops and
buffer accesses (``gpu`` and ``rocdl`` dialects).

Semantics of the AMD ops are in :mod:`kernels.emu.amdgpu`, applied to the
workgroup's lanes by :mod:`kernels.emu.runtime.crosslane` and
:mod:`kernels.emu.runtime.buffers`.
"""
from __future__ import annotations

from .emitter import rank
from .memory import memory_layout
from .table import handles


def _dim(attr) -> str:
    """``x``, ``y`` or ``z`` from a ``dimension`` attribute (``#gpu<dim x>`` or ``x``)."""
    s = str(attr)
    for d in ("x", "y", "z"):
        if s.endswith(f" {d}>") or s == d or s.endswith(f"<{d}>"):
            return d
    return s.strip("#>").split()[-1]


# ---------------------------------------------------------------- ids

#: op name -> attribute of the workgroup context it reads (with the dimension appended)
_GPU_IDS = {"gpu.thread_id": "tid", "gpu.block_id": "bid", "gpu.grid_dim": "gdim", "gpu.block_dim": "bdim"}


@handles(*_GPU_IDS, uniformity={"gpu.thread_id": "lane", "gpu.block_id": "workgroup", "gpu.grid_dim": "launch",
                               "gpu.block_dim": "launch"})
def gpu_id(g, op, m):
    """Thread id, block id, grid size and block size per dimension (index type)."""
    if g.kind != "kernel":
        g.unsupported(op, "only valid inside a kernel")
    g.emit(f"{g.res(op)} = X.{_GPU_IDS[op.name]}_{_dim(op.attrs.get('dimension', 'x'))}")


@handles("gpu.lane_id")
def lane_id(g, op, m):
    """Lane within the wave."""
    g.emit(f"{g.res(op)} = X.lane64")


#: op name -> expression of the workgroup context (i32)
_ROCDL_IDS = {
    "rocdl.workitem.id.x": "X.tid32_x", "rocdl.workitem.id.y": "X.tid32_y", "rocdl.workitem.id.z": "X.tid32_z",
    "rocdl.workgroup.id.x": "np.int32(X.bid_x)", "rocdl.workgroup.id.y": "np.int32(X.bid_y)",
    "rocdl.workgroup.id.z": "np.int32(X.bid_z)",
}


@handles(*_ROCDL_IDS, uniformity={n: "workgroup" if ".workgroup." in n else "lane" for n in _ROCDL_IDS})
def rocdl_id(g, op, m):
    """Work-item and workgroup ids per dimension (i32)."""
    g.emit(f"{g.res(op)} = {_ROCDL_IDS[op.name]}")


@handles("rocdl.mbcnt.lo", "rocdl.mbcnt.hi")
def mbcnt(g, op, m):
    """``base`` plus the bits of a mask below the lane (low / high half of the wave)."""
    fn = "mbcnt_lo" if op.name.endswith(".lo") else "mbcnt_hi"
    g.emit(f"{g.res(op)} = rt.{fn}(X, {g.arg(op, 0)}, {g.arg(op, 1)})")


# ---------------------------------------------------------------- synchronization

@handles("gpu.barrier", "rocdl.barrier", "rocdl.s.barrier", uniformity="effect")
def barrier(g, op, m):
    """Workgroup barrier: every live lane must reach it; starts a new LDS epoch.  In the
    interleaved variant the wave yields its arrival and the scheduler runs the barrier."""
    if g.interleave:
        g.emit(f"yield rt.Arrival({m}, {g.info(op)})")
    else:
        g.emit(f"rt.barrier(X, {m}, {g.info(op)})")


@handles("rocdl.sched.barrier", "rocdl.sched.group.barrier", "rocdl.s.waitcnt", "rocdl.s.setprio",
         "rocdl.s.barrier.signal", kind="hint", uniformity="effect")
def scheduling_hint(g, op, m):
    """Instruction-scheduling and wait hints: nothing to run (memory is coherent at once here)."""


# ---------------------------------------------------------------- cross-lane

def _attr(g, op, *names):
    for n in names:
        if n in op.attrs:
            return op.attrs[n]
    g.unsupported(op, f"missing attribute {names[0]}")


@handles("rocdl.update.dpp")
def update_dpp(g, op, m):
    """DPP move (``v_mov_b32_dpp``): lane permutation with row/bank masks and ``bound_ctrl``."""
    ctrl = int(_attr(g, op, "dppCtrl", "dpp_ctrl"))
    row_mask = int(_attr(g, op, "rowMask", "row_mask"))
    bank_mask = int(_attr(g, op, "bankMask", "bank_mask"))
    bound_ctrl = bool(_attr(g, op, "boundCtrl", "bound_ctrl"))
    g.emit(f"{g.res(op)} = rt.dpp(X, {g.arg(op, 0)}, {g.arg(op, 1)}, {m}, {ctrl}, "
           f"{row_mask}, {bank_mask}, {bound_ctrl}, {rank(g.rtype(op))})")


#: op name -> runtime helper, called with the operands, the active-lane mask and the result's vector rank
_LANE_READS = {"rocdl.ds_bpermute": "bpermute", "rocdl.readfirstlane": "readfirstlane", "rocdl.readlane": "readlane"}


@handles(*_LANE_READS)
def lane_read(g, op, m):
    """Reads of other lanes: by byte address (ds_bpermute), the first active lane, a named lane."""
    args = ", ".join(g.arg(op, i) for i in range(len(op.operands)))
    g.emit(f"{g.res(op)} = rt.{_LANE_READS[op.name]}(X, {args}, {m}, {rank(g.rtype(op))})")


@handles("rocdl.ballot")
def ballot(g, op, m):
    """The wave's predicate bits of the active lanes, in every lane."""
    g.emit(f"{g.res(op)} = rt.ballot(X, {g.arg(op, 0)}, {m}, {g.dtype(g.rtype(op))})")


@handles("gpu.shuffle")
def shuffle(g, op, m):
    """Shuffle xor / up / down / idx within segments of ``width`` lanes: (value, valid)."""
    mode = str(op.attrs.get("mode", "")).strip(">").split()[-1].split("<")[-1]
    g.emit(f"{g.res(op, 0)}, {g.res(op, 1)} = rt.shuffle(X, {g.arg(op, 0)}, {g.arg(op, 1)}, "
           f"{g.arg(op, 2)}, {mode!r}, {m}, {rank(g.rtype(op))})")


# ---------------------------------------------------------------- buffers

#: The widest buffer access the hardware has (``buffer_load_dwordx4`` / ``buffer_store_dwordx4``).
MAX_BUFFER_ACCESS_BYTES = 16


def _buffer_layout(g, op, t):
    """:func:`memory_layout` of a buffer access of ``t``, refusing one wider than the hardware's widest."""
    layout = memory_layout(g, t)
    if layout[2] > MAX_BUFFER_ACCESS_BYTES:
        g.unsupported(op, f"a {layout[2]}-byte access of {t}: the widest buffer access is "
                          f"{MAX_BUFFER_ACCESS_BYTES} bytes (dwordx4)")
    return layout


@handles("rocdl.make.buffer.rsrc", uniformity="operands")
def make_buffer_rsrc(g, op, m):
    """A buffer descriptor from base pointer, stride, num_records and flags."""
    a = [g.arg(op, i) for i in range(4)]
    g.emit(f"{g.res(op)} = rt.make_rsrc({a[0]}, {a[1]}, {a[2]}, {a[3]})")


@handles("rocdl.raw.ptr.buffer.load", uniformity="load")
def buffer_load(g, op, m):
    """Range-checked buffer load of up to 16 bytes (out of range reads 0, per dword)."""
    mdt, shape, nb, lconv, _s, es = _buffer_layout(g, op, g.rtype(op))
    g.emit(f"{g.res(op)} = rt.buffer_load(X, {g.arg(op, 0)}, {g.arg(op, 1)}, {g.arg(op, 2)}, {m}, "
           f"{mdt}, {shape!r}, {nb}, {es}, {lconv}, {g.info(op)})")


@handles("rocdl.raw.ptr.buffer.store", uniformity="effect")
def buffer_store(g, op, m):
    """Range-checked buffer store of up to 16 bytes (out of range is dropped, per dword)."""
    mdt, shape, nb, _l, sconv, es = _buffer_layout(g, op, op.operand_types[0])
    g.emit(f"rt.buffer_store(X, {g.arg(op, 0)}, {g.arg(op, 1)}, {g.arg(op, 2)}, {g.arg(op, 3)}, {m}, "
           f"{mdt}, {shape!r}, {nb}, {es}, {sconv}, {g.info(op)})")
