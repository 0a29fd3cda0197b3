"""Backend ``flydsl-upstream``: FlyDSL's own ``moe_sorting_flydsl``, from a checkout.

The kernel is imported from the FlyDSL source checkout named by
``FLYDSL_ROOT`` (``kernels.moe.moe_sorting_kernel``, or ``kernels.moe_sorting_kernel``
in revisions older than that layout; see ``kernels/__init__`` for how both
``kernels`` packages share one process).  On a ROCm GPU it runs
natively; otherwise on the CPU interpreter, inside ``kernels.emu.emulate``
with the emulated target's device facts (arch, compute-unit count, LDS size)
answered to its host code, so its own dispatch logic runs unchanged.

The path it reports is the sequence of kernels it launched (the interpreter
records them), e.g. ``moe_sorting_oneshot_kernel_0``; natively, ``None``.
Its declared dispatch (``path_boundaries`` with ``path_kernels``, checked by
the judge on every emulated launch) is the checkout's own
(:func:`declared_dispatch`, :mod:`.checkout_dispatch`): the paths its entry
point takes, traced under capture emulation, with the workspace path
starting where its ``moe_sorting_get_workspace_size`` first asks for a
workspace, so a revision that adds or removes a path is judged by its own
dispatch and one whose sizer and launcher disagree fails the check.  Only
where the entry point cannot be traced is 11c4174d's documented dispatch used
(the oneshot kernel while the sizer asks for no workspace, the two
multiphase kernels up to M = 2048, the four-kernel chain above);
``dispatch_source`` says which one a run used.

Two entries: ``flydsl-upstream`` runs the interpreter with its sanitizer off
and is judged on its outputs alone; ``flydsl-upstream-sanitized`` runs it
with the sanitizer on (out-of-bounds, uninitialized, race checks), where the
known findings are recorded as fixtures.

The multiphase paths get a workspace from the backend, sized by upstream's
``moe_sorting_get_workspace_size`` for the capacity T (enough for any M <= T,
and what a checkout that sizes its launch by T needs) and filled with a poison byte (upstream
itself allocates one with ``torch.empty``), so a kernel that relies on a
clean workspace fails every time, not only when the allocator hands out
dirty memory.

Both entries declare the ``unchecked`` policy (never ``drop``: the kernel
promises nothing for invalid ids), so campaigns can feed them the ids
routers emit and judge memory safety alone (CONTRACT.md, "Robustness").

Both entries run the interpreter in ``findings="record"`` mode: every
sanitizer finding is recorded and the launch goes on, so each case's outputs
are compared with the golden model and each finding is matched against
``regressions/known_findings.toml`` (see ``fuzz.judge``).

FlyDSL's host code caches compiled kernels per shape without the arch in the
key (natively a process sees one arch); when the emulated target changes,
this backend clears those caches first (:func:`reset_host_caches`; the fused
entry point, ``flydsl_upstream_fused``, shares that bookkeeping).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import os
import sys
from typing import Optional

import torch

from cases.shapes import MAX_FUZZ_TOKENS

from ..flydsl_support import flydsl_problem
from ..harness import poisoned_workspace
from ..registry import Backend
from ..targets import TARGET_NAMES as TARGETS
from .checkout_dispatch import CHECKOUT, FALLBACK, Dispatch, checkout_dispatch, dispatch_key
from .flydsl_vintage import SORTING_LAYOUTS, sorting_module

MODULE = SORTING_LAYOUTS[0][0]
GATING_MODULE = "kernels.moe.topk_gating_softmax_kernel"


def _native() -> bool:
    return bool(torch.cuda.is_available() and torch.version.hip)


def probe():
    """None when FlyDSL's sort from ``$FLYDSL_ROOT`` can run here, else why not."""
    root = os.environ.get("FLYDSL_ROOT")
    if not root:
        return "FLYDSL_ROOT is not set (point it at a FlyDSL source checkout)"
    if sorting_module(root) is None:
        return f"FLYDSL_ROOT={root!r} has no {' or '.join(rel for _, rel in SORTING_LAYOUTS)}"
    if importlib.util.find_spec("flydsl") is None:
        return flydsl_problem()
    if not _native():
        if flydsl_problem() is not None:
            return flydsl_problem()
        try:
            from .. import emu  # noqa: F401  (the interpreter is optional: imported on use)
        except ImportError as exc:
            return f"no ROCm GPU and the CPU interpreter does not import: {exc}"
    name = sorting_module_name()
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - any import failure makes it unavailable
        return f"FLYDSL_ROOT={root!r}: {name} does not import: {type(exc).__name__}: {exc}"
    return None


def sorting_module_name() -> str:
    """The sort kernel's module in the checkout at ``$FLYDSL_ROOT`` (older revisions hold it
    at ``kernels/moe_sorting_kernel.py``; :mod:`.flydsl_vintage`); :data:`MODULE` when unknown."""
    found = sorting_module(os.environ.get("FLYDSL_ROOT", ""))
    return found[0] if found else MODULE


#: The target the host caches were filled for (None: unknown, reset at the next launch).
_cached_for = {"target": None}


def _clear_caches(module) -> None:
    """Drop the module's per-shape kernel caches (lru_caches and ``*_cache`` dicts)."""
    for name, obj in vars(module).items():
        if hasattr(obj, "cache_clear"):
            obj.cache_clear()
        elif name.endswith("_cache") and isinstance(obj, dict):
            obj.clear()


def reset_host_caches() -> None:
    """Drop the per-shape kernel caches of FlyDSL's sort and gating host code (those
    loaded), so that the next launch traces its kernels afresh for its target."""
    for name in (sorting_module_name(), GATING_MODULE):
        module = sys.modules.get(name)
        if module is not None:
            _clear_caches(module)
    _cached_for["target"] = None


def use_target(target: str) -> None:
    """Before an emulated launch on ``target``: reset the host caches if they were
    filled for another target."""
    if _cached_for["target"] != target:
        reset_host_caches()
        _cached_for["target"] = target


@contextlib.contextmanager
def upstream_session(target, **emulate_options):
    """The upstream module, ready to run on ``target``: natively as it is; else inside
    ``kernels.emu.emulate(target, **emulate_options)``, its host caches reset first
    when they were filled for another target."""
    sorting = importlib.import_module(sorting_module_name())
    if _native():
        yield sorting
        return
    from .. import emu

    target = target or "gfx950"
    use_target(target)
    with emu.emulate(target=target, **emulate_options):
        yield sorting


#: The fallback dispatch, used only where the checkout's own cannot be traced
#: (:func:`declared_dispatch`): 11c4174d's kernel module docstring -- M <= 2048
#: takes the 2-kernel path, larger M the 4-kernel chain ...
DOCSTRING_SPLIT = 2048

#: ... and the kernels of each path as it lists them: the oneshot kernel; fused P0v2
#: then P23; ClearWS, P0 scatter, P1 count, then P23.
DOCSTRING_KERNELS = (("moe_sorting_oneshot_kernel",), ("p0v2_kernel", "p23_kernel"),
                     ("clear_workspace_kernel", "p0_scatter_kernel", "p1_count_kernel", "p23_kernel"))

#: The largest M the checkout's dispatch is traced up to (the campaigns' largest T).
TRACE_CAP = MAX_FUZZ_TOKENS


def _trace_call(sorting, num_experts, topk, unit_size):
    """``call(t, m)``: the entry point on ``t`` rows of ids (no mask) with M = ``m`` (None:
    M = T), for tracing under capture; the outputs are placeholders, since nothing runs."""
    def call(t, m=None):
        ids = torch.zeros((t, topk), dtype=torch.int32)
        weights = torch.zeros((t, topk), dtype=torch.float32)
        outs = [torch.zeros(1, dtype=dtype) for dtype in (torch.int32, torch.float32, torch.int32)]
        sorting.moe_sorting_flydsl(ids, weights, *outs, torch.zeros(2, dtype=torch.int32),
                                   torch.zeros(16, dtype=torch.float32), num_experts, unit_size, None, m, None)
    return call


def _docstring_dispatch(sorting, num_experts, topk, unit_size, why: str) -> Optional[Dispatch]:
    """The fallback: :data:`DOCSTRING_KERNELS` split at the sizer's bound and
    :data:`DOCSTRING_SPLIT`; None without a sizer."""
    sizer = getattr(sorting, "moe_sorting_get_workspace_size", None)
    if sizer is None:
        return None
    m = 0
    while m <= DOCSTRING_SPLIT and sizer(m, num_experts, topk, unit_size) == 0:
        m += 1
    return Dispatch((m, DOCSTRING_SPLIT + 1), DOCSTRING_KERNELS, FALLBACK,
                    f"11c4174d's documented dispatch, split at the workspace sizer's first M {m} and at "
                    f"{DOCSTRING_SPLIT + 1}", why=f"the checkout's entry point could not be traced: {why}")


@functools.lru_cache(maxsize=None)
def _declared(root, num_experts, topk, unit_size, target) -> Optional[Dispatch]:
    with upstream_session(target) as sorting:
        sizer = getattr(sorting, "moe_sorting_get_workspace_size", None)
        try:
            if not callable(getattr(sorting, "moe_sorting_flydsl", None)):
                raise AttributeError("the module has no moe_sorting_flydsl")
            call = _trace_call(sorting, num_experts, topk, unit_size)
            dispatch = checkout_dispatch(call, None if sizer is None else (
                lambda m: sizer(m, num_experts, topk, unit_size)), TRACE_CAP)
            return dataclasses.replace(dispatch, by=dispatch_key(call, dispatch))
        except Exception as exc:  # noqa: BLE001 - any failure to trace falls back, saying why
            return _docstring_dispatch(sorting, num_experts, topk, unit_size, f"{type(exc).__name__}: {exc}")


def declared_dispatch(num_experts, topk, unit_size, target) -> Optional[Dispatch]:
    """The dispatch the checkout in ``$FLYDSL_ROOT`` declares for this shape on ``target``
    (:mod:`.checkout_dispatch`: its launcher traced under capture, its workspace
    sizer), else the fallback of 11c4174d's docstring (``source`` says which); None
    when neither is available.  Computed once per process, checkout, shape and target."""
    return _declared(os.environ.get("FLYDSL_ROOT", ""), num_experts, topk, unit_size, target or "gfx950")


def _path_boundaries(num_experts, topk, unit_size, target):
    dispatch = declared_dispatch(num_experts, topk, unit_size, target)
    return () if dispatch is None else dispatch.bounds


def _path_kernels(num_experts, topk, unit_size, target):
    dispatch = declared_dispatch(num_experts, topk, unit_size, target)
    return None if dispatch is None else dispatch.kernels


def _dispatch_by(num_experts, topk, unit_size, target) -> str:
    dispatch = declared_dispatch(num_experts, topk, unit_size, target)
    return "M" if dispatch is None else dispatch.by


def _dispatch_source(num_experts, topk, unit_size, target) -> str:
    """``checkout`` or ``fallback (why)``: one line that stays the same across shapes."""
    dispatch = declared_dispatch(num_experts, topk, unit_size, target)
    if dispatch is None:
        return "fallback (none: no workspace sizer, no traceable entry point)"
    return dispatch.source if dispatch.source == CHECKOUT else f"{dispatch.source} ({dispatch.why})"


def _launcher(sanitize: bool, device_m: bool = False):
    def launch(inputs, buffers, target):
        return _launch(inputs, buffers, target, sanitize, device_m)
    return launch


def device_m_launcher(sanitize: bool = True):
    """A ``launch`` like the backends', that hands the entry point M in the harness's one-element
    device tensor (``num_local_tokens``) instead of an int: what a graph capture replayed for
    other M needs (``kernels.graph_replay``)."""
    return _launcher(sanitize, device_m=True)


def _launch(inputs, buffers, target, sanitize, device_m=False):
    d = buffers.device_inputs
    with upstream_session(target, sanitize=sanitize, findings="record") as sorting:
        workspace = None
        sizer = getattr(sorting, "moe_sorting_get_workspace_size", None)
        if sizer is not None:
            workspace = poisoned_workspace(sizer(inputs.tokens, inputs.num_experts, inputs.topk, inputs.unit_size),
                                           d.topk_ids.device)
        sorting.moe_sorting_flydsl(
            d.topk_ids, d.topk_weights, buffers.sorted_ids, buffers.sorted_weights,
            buffers.sorted_expert_ids, buffers.num_valid_ids, buffers.moe_buf,
            inputs.num_experts, inputs.unit_size, d.expert_mask,
            d.num_local_tokens if device_m else inputs.num_local_tokens, workspace,
        )
        if _native():
            return None
        from .. import emu

        return emu.last_path()


BACKENDS = [
    Backend(
        name=name,
        description=f"FlyDSL's moe_sorting_flydsl from $FLYDSL_ROOT, native on ROCm, else on the CPU "
                    f"interpreter, sanitizer {'on' if sanitize else 'off'}",
        needs=("flydsl", "FLYDSL_ROOT", "rocm-gpu-or-kernels.emu"),
        probe=probe,
        launch=_launcher(sanitize),
        reports_path=True,
        device=lambda: "cuda" if _native() else "cpu",
        executes_on=lambda target: f"native {torch.cuda.get_device_name()}" if _native()
        else f"cpu-interpreter {target or 'gfx950'}",
        targets=TARGETS,
        writes_past_extent=True,
        sources=lambda: (os.environ.get("FLYDSL_ROOT", ""),),
        path_boundaries=_path_boundaries,
        path_kernels=_path_kernels,
        dispatch_source=_dispatch_source,
        dispatch_by=_dispatch_by,
        invalid_ids=("reject", "unchecked"),
    )
    for name, sanitize in (("flydsl-upstream", False), ("flydsl-upstream-sanitized", True))
]
