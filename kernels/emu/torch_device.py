"""Device facts for host code that asks torch about "the GPU" while emulated.

FlyDSL kernels' host code (FlyDSL's own ``moe_sorting_flydsl`` among them)
sizes grids with ``torch.cuda.get_device_properties(dev).multi_processor_count``
and launches on ``torch.cuda.current_stream()``.  On a machine with no GPU
both raise.  :func:`patched(target)` replaces them, for the duration of an
emulation session and only where torch sees no GPU, with answers for the
emulated target: the properties of an MI300X (gfx942, 304 CUs) or MI350X
(gfx950, 256 CUs), and a stream object that does nothing.  With a real GPU
visible nothing is patched: the kernels then run natively anyway.
"""
from __future__ import annotations

import contextlib
import types

import torch

from ..targets import Target


class EmulatedStream:
    """Stands in for ``torch.cuda.Stream``: launches are synchronous on the CPU."""

    cuda_stream = 0
    device = torch.device("cpu")

    def synchronize(self) -> None:
        pass

    def wait_stream(self, other) -> None:
        pass

    def query(self) -> bool:
        return True


def properties(target: Target):
    """An object with the fields of ``torch.cuda.get_device_properties``' answer."""
    return types.SimpleNamespace(
        name=f"{target.product} (emulated)", gcnArchName=target.arch,
        multi_processor_count=target.num_cus, warp_size=target.wave_size,
        max_threads_per_block=target.max_threads_per_block,
        shared_memory_per_block=target.lds_bytes, total_memory=192 << 30, major=9, minor=4,
        is_integrated=False,
    )


@contextlib.contextmanager
def patched(target: Target):
    if torch.cuda.is_available():
        yield
        return
    saved = (torch.cuda.get_device_properties, torch.cuda.current_stream, torch.cuda.synchronize)
    stream = EmulatedStream()
    torch.cuda.get_device_properties = lambda device=None: properties(target)
    torch.cuda.current_stream = lambda device=None: stream
    torch.cuda.synchronize = lambda device=None: None
    try:
        yield
    finally:
        torch.cuda.get_device_properties, torch.cuda.current_stream, torch.cuda.synchronize = saved
