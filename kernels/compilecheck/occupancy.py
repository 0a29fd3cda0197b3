"""The checks a compiled kernel must pass on its target, and its occupancy.

The hardware facts (SIMDs per CU, wave slots, VGPR file and granule, SGPR
table, LDS per CU and its allocation granule) are :mod:`kernels.targets`,
with their sources.

Occupancy model (the one LLVM's ``llvm-calc-occupancy`` reports, minus the
workgroup-slot/barrier limit, which this suite's kernels never reach):

* waves per SIMD allowed by registers = min(max waves, 512 // align(vgpr, 8),
  SGPR table);
* a workgroup of ``W`` threads is ``ceil(W / 64)`` waves spread over the 4
  SIMDs, so it needs ``ceil(waves / 4)`` wave slots on each SIMD;
* workgroups per CU = min(register slots // slots per workgroup,
  LDS per CU // align(static + dynamic LDS, granule));
* occupancy = waves resident on the busiest SIMD = min(register limit,
  ceil(workgroups per CU * waves per workgroup / 4)).

Contract: :func:`assess` never raises for a kernel that does not fit; it
returns an :class:`Assessment` with ``ok=False`` and every reason.  A kernel
fails when it spills to scratch (private segment > 0 or VGPR spills), needs
more LDS than the target has, is launched with more threads than its
``max_flat_workgroup_size``, does not fit one workgroup on a CU, or fits fewer
workgroups per CU than its launch assumes (``min_workgroups_per_cu``).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from ..targets import get_target
from .codeobject import KernelResources


def _align(x: int, granule: int) -> int:
    return -(-x // granule) * granule


@dataclasses.dataclass(frozen=True)
class Assessment:
    ok: bool
    reasons: tuple[str, ...]
    vgpr_alloc: int  # registers per lane the hardware allocates (unified VGPR+AGPR)
    waves_per_workgroup: int
    waves_per_simd_by_regs: int
    workgroups_per_cu: int  # 0 when one workgroup does not fit
    occupancy: int  # waves on the busiest SIMD (0..max waves per SIMD)
    lds_total: int  # static + dynamic LDS bytes of one workgroup

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def assess(
    res: KernelResources,
    arch: str,
    workgroup_size: Optional[int] = None,
    dynamic_lds: int = 0,
    min_workgroups_per_cu: int = 1,
) -> Assessment:
    """Check ``res`` against ``arch``'s limits for a launch of ``workgroup_size`` threads.

    ``workgroup_size`` defaults to the kernel's ``reqd_workgroup_size`` product,
    else its ``max_flat_workgroup_size``.
    """
    tl = get_target(arch)
    reasons = []
    if workgroup_size is None:
        if res.reqd_workgroup_size and all(x > 0 for x in res.reqd_workgroup_size):
            workgroup_size = res.reqd_workgroup_size[0] * res.reqd_workgroup_size[1] * res.reqd_workgroup_size[2]
        else:
            workgroup_size = res.max_flat_workgroup_size
    wave = res.wavefront_size or tl.wave_size
    if wave != tl.wave_size:
        reasons.append(f"wavefront size {wave}, {arch} runs wave{tl.wave_size}")
    if res.scratch_bytes > 0 or res.vgpr_spill_count > 0:
        reasons.append(
            f"spills to scratch ({res.scratch_bytes} B private segment, "
            f"{res.vgpr_spill_count} VGPR spills)"
        )
    if workgroup_size > res.max_flat_workgroup_size:
        reasons.append(
            f"launched with {workgroup_size} threads > max_flat_workgroup_size {res.max_flat_workgroup_size}"
        )
    lds_total = res.lds_bytes + dynamic_lds
    if lds_total > tl.lds_bytes:
        reasons.append(f"needs {lds_total} B LDS > {tl.lds_bytes} B on {arch}")

    # Unified VGPR count: prefer what the kernel descriptor says is allocated.
    vgpr_alloc = _align(max(res.vgpr_count, 1), tl.vgpr_granule)
    if res.descriptor is not None:
        vgpr_alloc = max(vgpr_alloc, res.descriptor.vgpr_alloc(tl.vgpr_granule))
    by_regs = min(tl.waves_by_vgpr(vgpr_alloc), tl.waves_by_sgpr(res.sgpr_count))
    waves_per_wg = -(-workgroup_size // wave)
    slots_per_wg = -(-waves_per_wg // tl.simds_per_cu)
    wg_by_regs = by_regs // slots_per_wg
    wg_by_lds = tl.lds_bytes // _align(lds_total, tl.lds_granule) if lds_total else wg_by_regs
    wg_per_cu = max(0, min(wg_by_regs, wg_by_lds))
    occupancy = min(by_regs, -(-(wg_per_cu * waves_per_wg) // tl.simds_per_cu))
    if wg_by_regs < 1:
        reasons.append(
            f"a workgroup of {workgroup_size} threads ({waves_per_wg} waves, {slots_per_wg} per SIMD) "
            f"does not fit: {vgpr_alloc} VGPRs/{res.sgpr_count} SGPRs allow {by_regs} waves per SIMD"
        )
    elif wg_per_cu < min_workgroups_per_cu and lds_total <= tl.lds_bytes:  # else reported above
        reasons.append(
            f"{wg_per_cu} workgroup(s) per CU < {min_workgroups_per_cu} the launch assumes "
            f"(registers allow {wg_by_regs}, LDS allows {wg_by_lds})"
        )
    return Assessment(
        ok=not reasons,
        reasons=tuple(reasons),
        vgpr_alloc=vgpr_alloc,
        waves_per_workgroup=waves_per_wg,
        waves_per_simd_by_regs=by_regs,
        workgroups_per_cu=wg_per_cu,
        occupancy=occupancy,
        lds_total=lds_total,
    )
