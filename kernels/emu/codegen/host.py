"""Host code: ``gpu.launch_func`` runs a kernel over its grid (:meth:`kernels.emu.simt.HostCtx.launch`)."""
from __future__ import annotations

from .table import handles


@handles("gpu.launch_func", uniformity="effect")
def launch_func(g, op, m):
    """Launch a kernel: grid, block, dynamic shared memory and kernel operands."""
    if g.kind != "host":
        g.unsupported(op, "launch inside a kernel")
    segs = op.attrs.get("operandSegmentSizes") or op.attrs.get("operand_segment_sizes")
    if segs is None:
        g.unsupported(op, "launch_func without operandSegmentSizes")
    # segments: asyncDependencies, gridX,Y,Z, blockX,Y,Z, [clusterX,Y,Z], dynamicSharedMemorySize,
    # kernelOperands, [asyncObject]
    ops = [g.value(x) for x in op.operands]
    groups, pos = [], 0
    for s in segs:
        groups.append(ops[pos:pos + s])
        pos += s
    grid = groups[1] + groups[2] + groups[3]
    block = groups[4] + groups[5] + groups[6]
    dyn, kargs = (groups[10], groups[11]) if len(segs) >= 12 else (groups[7], groups[8])
    kname = str(op.attrs["kernel"]).split("::")[-1].strip("@")
    g.emit(f"X.launch({kname!r}, ({', '.join(grid)},), ({', '.join(block)},), "
           f"{dyn[0] if dyn else 0}, [{', '.join(kargs)}], {g.info(op)})")
    for r in op.results:
        g.emit(f"{g.value(r)} = None")
