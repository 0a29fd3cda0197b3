"""The dispatch check: a launch ran the kernels of the path its M falls in.

A backend that declares both ``path_boundaries`` and ``path_kernels``
(:class:`kernels.registry.Backend`) promises which kernels a launch runs: M
below the first boundary runs ``path_kernels[0]``, M from the first boundary
up to the second runs ``path_kernels[1]``, and so on (``path_kernels`` may
depend on the shape and target: ``Backend.declared_kernels``).  The failure
names where the dispatch came from when the backend says
(``Backend.dispatch_source``).  A launch reports its
path as the kernels it ran joined by ``+``, each name with the interpreter's
launch-index suffix (``p0v2_kernel_0+p23_kernel_1``); the suffixes are
dropped before comparing.  A launch that reports no path (natively) is not
checked.
"""
from __future__ import annotations

import collections
from typing import Optional

from kernels.backends.checkout_dispatch import base_name


def launched_kernels(path: str) -> tuple[str, ...]:
    """The kernel names of a reported path, launch-index suffixes dropped."""
    return tuple(base_name(name) for name in path.split("+"))


#: ``"<backend>: <source>"`` -> how many times this process asked :func:`dispatch_source`
#: (once per judged launch): what the pytest summary reports.
SOURCES_SEEN: collections.Counter = collections.Counter()


def dispatch_source(backend, num_experts: int, topk: int, unit_size: int, target) -> Optional[str]:
    """Where ``backend``'s declared dispatch for this shape and target came from, in
    one line (``Backend.dispatch_source``), counted in :data:`SOURCES_SEEN`; None
    when it does not say or declares none."""
    if backend.path_kernels is None or backend.path_boundaries is None or backend.dispatch_source is None:
        return None
    source = backend.dispatch_source(num_experts, topk, unit_size, target)
    SOURCES_SEEN[f"{backend.name}: {source}"] += 1
    return source


def dispatch_error(backend, path: Optional[str], m: int, num_experts: int, topk: int, unit_size: int,
                   target, t: Optional[int] = None) -> Optional[tuple[tuple, str]]:
    """``(expected kernels, description)`` when the launch that reported ``path`` ran other
    kernels than ``backend`` declares for M = ``m`` -- or for the capacity ``t`` (the rows
    of ``topk_ids``; default ``m``) where its ``dispatch_by`` says the boundaries are in T;
    None when it ran those, or when there is nothing to check (no path reported, no
    dispatch declared)."""
    if path is None or backend.path_kernels is None or backend.path_boundaries is None:
        return None
    kernels = backend.declared_kernels(num_experts, topk, unit_size, target)
    if kernels is None:
        return None
    bounds = backend.path_boundaries(num_experts, topk, unit_size, target)
    by = backend.dispatch_by(num_experts, topk, unit_size, target) if backend.dispatch_by else "M"
    key = m if by == "M" or t is None else t
    index = sum(key >= b for b in bounds)
    expected = tuple(kernels[index])
    ran = launched_kernels(path)
    if ran == expected:
        return None
    starts = ", ".join(str(b) for b in bounds) or "(none)"
    source = backend.dispatch_source(num_experts, topk, unit_size, target) if backend.dispatch_source else None
    source = f" [dispatch from the {source}]" if source else ""
    what = f"M={m}" if key == m else f"T={key} (M={m})"
    return expected, (f"{what} (E={num_experts}, topk={topk}, unit_size={unit_size}) falls in path {index} "
                      f"of the declared dispatch (paths after the first start at {by} = {starts}), which runs "
                      f"{'+'.join(expected)}; the launch ran {'+'.join(ran)}{source}")
