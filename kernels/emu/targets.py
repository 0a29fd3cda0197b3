"""Facts about the emulated AMD GPU targets (one place; host code may query them).

``TARGETS[arch]`` gives wave size, LDS bytes per workgroup and CU count.  Inside
:func:`kernels.emu.emulate`, FlyDSL's ``get_rocm_arch()`` answers the emulated
arch (through ``FLYDSL_GPU_ARCH``/``ARCH``), so kernels that pick thresholds by
arch see the emulated target.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    arch: str
    wave_size: int
    lds_bytes: int
    num_cus: int
    max_threads_per_block: int = 1024


TARGETS = {
    "gfx942": Target("gfx942", wave_size=64, lds_bytes=64 * 1024, num_cus=304),   # MI300X
    "gfx950": Target("gfx950", wave_size=64, lds_bytes=160 * 1024, num_cus=256),  # MI350X
}


def get_target(arch: str) -> Target:
    try:
        return TARGETS[arch.lower()]
    except KeyError:
        raise ValueError(f"unknown emulated target {arch!r}; known: {sorted(TARGETS)}") from None
