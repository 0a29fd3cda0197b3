"""Hardware limits of the CDNA targets, and the checks a compiled kernel must pass.

Facts used (per target), with where they are stated:

* wavefront size 64 on both (AMDGPUUsage processor table: gfx942/gfx950 are wave64 only);
* 4 SIMDs (EUs) per CU, at most 8 waves per SIMD on gfx90a and later
  (LLVM ``IsaInfo::getEUsPerCU`` / ``getMaxWavesPerEU``; ``llvm-calc-occupancy
  -mcpu=gfx90a`` prints "Max waves/EU: 8", "EUs (SIMDs) per CU: 4");
* 512 VGPRs per SIMD lane, one unified file for ArchVGPRs and AGPRs, allocated
  in granules of 8 (LLVM ``getTotalNumVGPRs``/``getVGPRAllocGranule`` for
  gfx90a+; AMDGPUUsage COMPUTE_PGM_RSRC1.GRANULATED_WORKITEM_VGPR_COUNT for
  GFX90A/GFX942: ``align(arch_vgprs, 4) + acc_vgprs``, blocks of 8; AMD CDNA3
  ISA guide, section 3.6.4: 512 total, at most 256 of each kind);
* SGPR-limited waves: <= 80 -> 10, <= 88 -> 9, <= 100 -> 8, else 7, capped at
  the 8-wave limit (LLVM ``GCNSubtarget::getOccupancyWithNumSGPRs``, GFX8/GFX9);
* LDS per CU, which is also the most one workgroup may allocate: 65536 B on
  gfx942 (CDNA3 ISA guide: 64 KiB LDS), 163840 B on gfx950 (CDNA4: 160 KiB;
  LLVM feature ``AddressableLocalMemorySize163840``);
* LDS allocation granule: 512 B on gfx942 and 1280 B on gfx950 (AMDGPUUsage,
  COMPUTE_PGM_RSRC2.GRANULATED_LDS_SIZE: GFX7-GFX9 ``lds-size / (128 * 4)``,
  GFX950 ``lds-size / (320 * 4)``).

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

from .codeobject import KernelResources


@dataclasses.dataclass(frozen=True)
class TargetLimits:
    arch: str
    wavefront_size: int
    simds_per_cu: int
    max_waves_per_simd: int
    vgprs_per_simd_lane: int
    vgpr_granule: int
    lds_per_cu: int
    lds_granule: int
    cus: int  # compute units of the flagship part (MI300X / MI355X), informational

    def waves_by_sgpr(self, sgprs: int) -> int:
        """GFX9-family SGPR occupancy table, capped at the target's wave limit."""
        if sgprs <= 80:
            waves = 10
        elif sgprs <= 88:
            waves = 9
        elif sgprs <= 100:
            waves = 8
        else:
            waves = 7
        return min(waves, self.max_waves_per_simd)

    def waves_by_vgpr(self, vgpr_alloc: int) -> int:
        regs = _align(max(vgpr_alloc, 1), self.vgpr_granule)
        return min(self.max_waves_per_simd, self.vgprs_per_simd_lane // regs)


TARGETS = {
    "gfx942": TargetLimits("gfx942", 64, 4, 8, 512, 8, 65536, 512, 304),
    "gfx950": TargetLimits("gfx950", 64, 4, 8, 512, 8, 163840, 1280, 256),
}


def limits(arch: str) -> TargetLimits:
    try:
        return TARGETS[arch]
    except KeyError:
        raise KeyError(f"no hardware limits for {arch!r}; known: {sorted(TARGETS)}") from None


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
    tl = limits(arch)
    reasons = []
    if workgroup_size is None:
        if res.reqd_workgroup_size and all(x > 0 for x in res.reqd_workgroup_size):
            workgroup_size = res.reqd_workgroup_size[0] * res.reqd_workgroup_size[1] * res.reqd_workgroup_size[2]
        else:
            workgroup_size = res.max_flat_workgroup_size
    wave = res.wavefront_size or tl.wavefront_size
    if wave != tl.wavefront_size:
        reasons.append(f"wavefront size {wave}, {arch} runs wave{tl.wavefront_size}")
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
    if lds_total > tl.lds_per_cu:
        reasons.append(f"needs {lds_total} B LDS > {tl.lds_per_cu} B on {arch}")

    # Unified VGPR count: prefer what the kernel descriptor says is allocated.
    vgpr_alloc = _align(max(res.vgpr_count, 1), tl.vgpr_granule)
    if res.descriptor is not None:
        vgpr_alloc = max(vgpr_alloc, res.descriptor.vgpr_alloc(tl.vgpr_granule))
    by_regs = min(tl.waves_by_vgpr(vgpr_alloc), tl.waves_by_sgpr(res.sgpr_count))
    waves_per_wg = -(-workgroup_size // wave)
    slots_per_wg = -(-waves_per_wg // tl.simds_per_cu)
    wg_by_regs = by_regs // slots_per_wg
    wg_by_lds = tl.lds_per_cu // _align(lds_total, tl.lds_granule) if lds_total else wg_by_regs
    wg_per_cu = max(0, min(wg_by_regs, wg_by_lds))
    occupancy = min(by_regs, -(-(wg_per_cu * waves_per_wg) // tl.simds_per_cu))
    if wg_by_regs < 1:
        reasons.append(
            f"a workgroup of {workgroup_size} threads ({waves_per_wg} waves, {slots_per_wg} per SIMD) "
            f"does not fit: {vgpr_alloc} VGPRs/{res.sgpr_count} SGPRs allow {by_regs} waves per SIMD"
        )
    elif wg_per_cu < min_workgroups_per_cu and lds_total <= tl.lds_per_cu:  # else reported above
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
