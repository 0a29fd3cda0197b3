"""The dispatch a kernel checkout declares: which kernels its entry point launches for each M.

A FlyDSL sort entry point picks a path (a fixed sequence of kernels) from M
in its host code.  What the checkout itself says about that choice is read
from two places, so that each revision is judged by its own dispatch:

* **the launcher**, traced: the entry point is called for a probe M under
  the interpreter's graph-capture emulation (``kernels.emu.capture_graph``:
  launches recorded, not run; every recorded launch lists the kernels its
  host function launches).  :func:`launcher_segments` probes M = 0, 1, the
  workspace bound, its predecessor and its doublings, every power of two
  from the bound up to ``cap`` and ``cap`` itself (below the bound only 0, 1
  and the predecessor: each of those M compiles a kernel of its own size);
  between two probes that launched different kernels it bisects to the first
  M of the next path.  A path that starts
  and ends strictly between two probes that launched the same kernels is
  not seen.
* **the workspace sizer** (``moe_sorting_get_workspace_size``): the first M
  for which it asks for a workspace (:func:`workspace_bound`) is where the
  checkout says its workspace paths begin.

:func:`declare` joins the two.  The declared boundaries are the launcher's,
with the one nearest the sizer's bound replaced by that bound (the lower one
on a tie); a sizer that asks for a workspace from M = 0 on says that every
path takes one, and moves nothing.  When the sizer and the launcher agree this changes nothing; when
they disagree (a host-code edit moved the threshold in one of them only),
every M between the two thresholds is declared on the sizer's side and the
launch there, which runs the other path, fails the dispatch check
(:mod:`fuzz.dispatch`).  A checkout whose launcher takes one path for every
M has no boundary, whatever its sizer says.

When the entry point cannot be traced (it raises under capture, or the
module lacks it), the caller's fallback dispatch is used; :class:`Dispatch`
says which source it holds (``source``) and how it was obtained
(``detail``), for the run to report.

What the bounds are in (:func:`dispatch_key`): an entry point that reads M on
the device (so that one graph capture serves every M) picks its path by the
capacity T, the rows of ``topk_ids``; one called with T at its first bound and
M = 1 then launches the second path.  The dispatch check compares a launch
with the path of its T for such a checkout, of its M otherwise.

The module is generic: :func:`checkout_dispatch` takes a ``call(m)`` that
invokes the entry point for M = m (inside an emulation session) and an
optional sizer ``sizer(m)``; the backends bind them to their checkout.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from ..emu.graph import capture_graph

#: What a dispatch's bounds are in: the tokens M, or the capacity T (the rows of ``topk_ids``),
#: as an entry point that reads M on the device, sized for a graph capture, chooses.
KEYS = ("M", "T")

#: Where a :class:`Dispatch` came from.
CHECKOUT = "checkout"
FALLBACK = "fallback"


@dataclasses.dataclass(frozen=True)
class Dispatch:
    """A declared dispatch: M below ``bounds[0]`` runs ``kernels[0]``, M from
    ``bounds[i - 1]`` below ``bounds[i]`` runs ``kernels[i]``; ``source`` is
    :data:`CHECKOUT` or :data:`FALLBACK`, ``detail`` says how it was obtained and
    ``why`` (a fallback) why the checkout's own was not used."""

    bounds: tuple
    kernels: tuple
    source: str
    detail: str
    why: str = ""
    by: str = "M"           # what the bounds are in: "M" (the tokens) or "T" (the capacity, topk_ids' rows)

    def __post_init__(self):
        if len(self.kernels) != len(self.bounds) + 1:
            raise ValueError(f"Dispatch: {len(self.bounds)} bounds need {len(self.bounds) + 1} kernel tuples, "
                             f"got {len(self.kernels)}")
        if self.by not in KEYS:
            raise ValueError(f"Dispatch: by = {self.by!r}, expected one of {KEYS}")
        if list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError(f"Dispatch: bounds = {self.bounds} are not strictly increasing")

    def path_of(self, m: int) -> int:
        return sum(m >= b for b in self.bounds)

    def describe(self) -> str:
        """One line: the source, then each path's first M and kernels."""
        starts = (0,) + tuple(self.bounds)
        paths = "; ".join(f"{self.by} >= {s}: {'+'.join(k) or '(none)'}" for s, k in zip(starts, self.kernels))
        return f"dispatch from the {self.source} ({self.detail}): {paths}"


def traced_kernels(call: Callable[[int], None], m: int) -> tuple:
    """The kernels ``call(m)`` launches, recorded under capture emulation (not run),
    launch-index suffixes dropped.  ``call`` must make its launches inside an
    emulation session (``kernels.emu.emulate``)."""
    with capture_graph() as graph:
        call(m)
    return tuple(base_name(k) for k in graph.kernels())


def base_name(kernel: str) -> str:
    """A kernel's name without the interpreter's launch-index suffix
    (``p23_kernel_1`` -> ``p23_kernel``)."""
    head, _, tail = kernel.rpartition("_")
    return head if head and tail.isdigit() else kernel


def workspace_bound(sizer: Callable[[int], int], cap: int) -> Optional[int]:
    """The first M in ``[0, cap]`` for which ``sizer(M)`` asks for a workspace (> 0);
    None when it asks for none up to ``cap``."""
    return next((m for m in range(cap + 1) if sizer(m) > 0), None)


def launcher_segments(kernels_at: Callable[[int], tuple], cap: int, hint: Optional[int] = None) -> list:
    """``[(first M, kernels), ...]`` of the paths ``kernels_at(m)`` takes over ``[0, cap]``
    (see the module docstring for the probes; ``hint`` is the sizer's bound)."""
    probes = {0, 1, cap} | {1 << i for i in range(cap.bit_length()) if hint is None or (1 << i) >= hint}
    if hint is not None:
        probes |= {hint - 1, hint} | {hint << i for i in range(cap.bit_length()) if hint << i <= cap}
    probes = sorted(p for p in probes if 0 <= p <= cap)
    seen: dict = {}

    def at(m):
        if m not in seen:
            seen[m] = tuple(kernels_at(m))
        return seen[m]

    segments = [(0, at(0))]
    for lo, hi in zip(probes, probes[1:]):
        while at(lo) != at(hi):          # first M in (lo, hi] whose kernels differ from lo's
            a, b = lo, hi
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if at(mid) == at(lo) else (a, mid)
            segments.append((b, at(b)))
            lo = b
    return segments


def declare(segments: list, sizer_bound: Optional[int], detail: str) -> Dispatch:
    """The declared :class:`Dispatch` of a checkout whose launcher takes ``segments``
    (:func:`launcher_segments`) and whose sizer asks for a workspace from
    ``sizer_bound`` on (None: no sizer, or none asked for): the rule of the module
    docstring."""
    bounds = [start for start, _ in segments[1:]]
    kernels = [k for _, k in segments]
    if sizer_bound and bounds:            # a bound of 0: every path takes a workspace, nothing to join
        nearest = min(range(len(bounds)), key=lambda i: (abs(bounds[i] - sizer_bound), i))
        bounds[nearest] = sizer_bound     # nearest: it stays strictly between its neighbours
    return Dispatch(tuple(bounds), tuple(kernels), CHECKOUT, detail)


def checkout_dispatch(call: Callable[[int], None], sizer: Optional[Callable[[int], int]], cap: int) -> Dispatch:
    """The dispatch the checkout declares, from its launcher ``call(m)`` traced under
    capture and its sizer ``sizer(m)`` (None: it has none).  Raises whatever tracing
    raises; the caller falls back on its own declared dispatch then."""
    bound = workspace_bound(sizer, cap) if sizer is not None else None
    segments = launcher_segments(lambda m: traced_kernels(call, m), cap, bound)
    launcher = ", ".join(str(s) for s, _ in segments[1:]) or "none"
    sizer_text = "no workspace sizer" if sizer is None else (
        f"workspace sizer: first M with a workspace {bound}" if bound is not None
        else f"workspace sizer asks for none up to M = {cap}")
    return declare(segments, bound, f"launcher traced under capture up to M = {cap}, its path starts: "
                                    f"{launcher}; {sizer_text}")


def dispatch_key(call_at: Callable[[int, int], None], dispatch: Dispatch) -> str:
    """``"T"`` when the launcher ``call_at(t, m)`` (``t`` rows of ids, ``m`` tokens) picks its
    path by the capacity: called with T at the first bound and M = 1, it launches the
    second path's kernels, not the first's; else ``"M"``.  A dispatch without bounds
    is ``"M"`` (nothing to tell apart)."""
    if not dispatch.bounds:
        return "M"
    first, second = (tuple(k) for k in dispatch.kernels[:2])
    with capture_graph() as graph:
        call_at(dispatch.bounds[0], 1)
    ran = tuple(base_name(k) for k in graph.kernels())
    return "T" if ran == second and ran != first else "M"

