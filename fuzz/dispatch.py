"""The dispatch check: a launch ran the kernels of the path its M falls in.

A backend that declares both ``path_boundaries`` and ``path_kernels``
(:class:`kernels.registry.Backend`) promises which kernels a launch runs: M
below the first boundary runs ``path_kernels[0]``, M from the first boundary
up to the second runs ``path_kernels[1]``, and so on.  A launch reports its
path as the kernels it ran joined by ``+``, each name with the interpreter's
launch-index suffix (``p0v2_kernel_0+p23_kernel_1``); the suffixes are
dropped before comparing.  A launch that reports no path (natively) is not
checked.
"""
from __future__ import annotations

import re
from typing import Optional

_LAUNCH_INDEX = re.compile(r"_\d+$")


def launched_kernels(path: str) -> tuple[str, ...]:
    """The kernel names of a reported path, launch-index suffixes dropped."""
    return tuple(_LAUNCH_INDEX.sub("", name) for name in path.split("+"))


def dispatch_error(backend, path: Optional[str], m: int, num_experts: int, topk: int, unit_size: int,
                   target) -> Optional[tuple[tuple, str]]:
    """``(expected kernels, description)`` when the launch that reported ``path`` ran other
    kernels than ``backend`` declares for M = ``m``; None when it ran those, or when there
    is nothing to check (no path reported, no dispatch declared)."""
    if path is None or backend.path_kernels is None or backend.path_boundaries is None:
        return None
    bounds = backend.path_boundaries(num_experts, topk, unit_size, target)
    index = sum(m >= b for b in bounds)
    expected = tuple(backend.path_kernels[index])
    ran = launched_kernels(path)
    if ran == expected:
        return None
    starts = ", ".join(str(b) for b in bounds)
    return expected, (f"M={m} (E={num_experts}, topk={topk}, unit_size={unit_size}) falls in path {index} "
                      f"of the declared dispatch (paths after the first start at M = {starts}), which runs "
                      f"{'+'.join(expected)}; the launch ran {'+'.join(ran)}")
