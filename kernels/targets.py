"""Facts about the AMD GPU targets the suite builds for and emulates, in one place.

Every part that depends on the hardware reads it from here: the CPU
interpreter (wave size, LDS per workgroup, CU count, block size limit), the
compile check's occupancy model (SIMDs, wave slots, register files, LDS
granule), the suite's kernels' path thresholds (LDS per workgroup) and the
command line (the target names).

Sources of the numbers:

* wavefront size 64 on both (AMDGPUUsage processor table: gfx942/gfx950 are
  wave64 only);
* 4 SIMDs (EUs) per CU, at most 8 waves per SIMD on gfx90a and later (LLVM
  ``IsaInfo::getEUsPerCU`` / ``getMaxWavesPerEU``);
* 512 VGPRs per SIMD lane, one unified file for ArchVGPRs and AGPRs,
  allocated in granules of 8 (LLVM ``getTotalNumVGPRs`` /
  ``getVGPRAllocGranule`` for gfx90a+; AMD CDNA3 ISA guide, section 3.6.4);
* SGPR-limited waves: <= 80 -> 10, <= 88 -> 9, <= 100 -> 8, else 7, capped at
  the wave limit (LLVM ``GCNSubtarget::getOccupancyWithNumSGPRs``, GFX8/GFX9);
* LDS per CU, which is also the most one workgroup may allocate: 64 KiB on
  gfx942 (CDNA3 ISA guide), 160 KiB on gfx950 (CDNA4; LLVM feature
  ``AddressableLocalMemorySize163840``);
* LDS allocation granule: 512 B on gfx942, 1280 B on gfx950 (AMDGPUUsage,
  COMPUTE_PGM_RSRC2.GRANULATED_LDS_SIZE);
* compute units of the flagship parts: MI300X (gfx942) 304, MI350X (gfx950) 256.
"""
from __future__ import annotations

import dataclasses

#: Threads per wave on every target here.
WAVE_SIZE = 64


@dataclasses.dataclass(frozen=True)
class Target:
    """One GPU target: an ISA (``arch``) and the flagship part that runs it."""

    arch: str
    product: str
    num_cus: int
    lds_bytes: int  # per CU; also the most one workgroup may allocate
    lds_granule: int
    wave_size: int = WAVE_SIZE
    max_threads_per_block: int = 1024
    simds_per_cu: int = 4
    max_waves_per_simd: int = 8
    vgprs_per_simd_lane: int = 512
    vgpr_granule: int = 8

    def waves_by_sgpr(self, sgprs: int) -> int:
        """Waves per SIMD that ``sgprs`` scalar registers per wave allow (GFX9 table)."""
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
        """Waves per SIMD that ``vgpr_alloc`` vector registers per lane allow."""
        granule = self.vgpr_granule
        regs = -(-max(vgpr_alloc, 1) // granule) * granule
        return min(self.max_waves_per_simd, self.vgprs_per_simd_lane // regs)


TARGETS = {
    "gfx942": Target("gfx942", "AMD Instinct MI300X", num_cus=304, lds_bytes=64 * 1024, lds_granule=512),
    "gfx950": Target("gfx950", "AMD Instinct MI350X", num_cus=256, lds_bytes=160 * 1024, lds_granule=1280),
}
#: The target names, in the order the suite reports them.
TARGET_NAMES = tuple(TARGETS)


def get_target(arch: str) -> Target:
    """The :class:`Target` named ``arch`` (case-insensitive); ValueError names the known ones."""
    try:
        return TARGETS[arch.lower()]
    except KeyError:
        raise ValueError(f"unknown target {arch!r}; known: {sorted(TARGETS)}") from None
