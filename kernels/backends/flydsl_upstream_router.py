"""Backends that take logits: FlyDSL's fused entry and its top-k gating kernel, from a checkout.

* ``flydsl-upstream-fused`` / ``-sanitized``: ``moe_softmax_sort_flydsl`` (logits ->
  softmax -> top-k -> sort), launched by :func:`.flydsl_upstream_fused.run_fused`;
  judged by :func:`.flydsl_upstream_fused.check_fused`.
* ``flydsl-upstream-gating`` / ``-sanitized``: ``build_topk_gating_softmax_module``
  (logits -> softmax -> top-k), launched by :func:`.flydsl_upstream_gating.run_gating`
  over all T rows (it takes no mask, M or unit size); judged by
  :func:`.flydsl_upstream_gating.check_gating`.  Its launcher computes the grid as
  ``(T - 1) // tokens_per_block + 1`` on index values, lowered to an unsigned
  division: T = 0 asks for 2^64 / tokens_per_block workgroups, which the runtime
  hands HIP as 0 (the known finding ``gating-empty-grid``); the backend takes T = 0.

Both run on the CPU interpreter with findings recorded (``findings="record"``),
the sanitizer off or on, on ``gfx942`` and ``gfx950``.  A launch returns a
:class:`.router_run.RouterRun` whose path is every kernel it ran.

The fused entry's declared dispatch is its own (``moe_softmax_sort_flydsl``):
the fused oneshot kernel while M <= min(sub_tokens(E, arch), 16) (upstream's
``_compute_sub_tokens`` and ``FUSED_ONESHOT_MAX_T``) and the gating layout
supports E; above, the gating kernel then ``moe_sorting_flydsl`` on the M
gated rows, whose own dispatch (``flydsl_upstream``'s ``path_boundaries``)
picks the oneshot sort, the 2-kernel or the 4-kernel chain.
"""
from __future__ import annotations

import importlib
import os

from ..registry import Backend
from ..targets import TARGET_NAMES as TARGETS
from . import flydsl_upstream
from .flydsl_upstream import sorting_module_name, upstream_session
from .router_run import RouterRun, recorded

#: Largest M of the fused oneshot kernel, upstream's ``FUSED_ONESHOT_MAX_T``.
FUSED_ONESHOT_MAX_T = 16
GATING_KERNEL = "topk_gating_softmax_kernel"
FUSED_KERNEL = "moe_sorting_oneshot_fused_kernel"


def fused_path_kernels(num_experts, topk, unit_size, target):
    """The kernels of each path of the fused entry, in launch order: the fused oneshot
    kernel, then the gating kernel before each path of the sort's declared dispatch
    (``flydsl_upstream``'s, from the checkout); None when the sort declares none."""
    sort = flydsl_upstream.BACKENDS[0].declared_kernels(num_experts, topk, unit_size, target)
    return None if sort is None else ((FUSED_KERNEL,),) + tuple((GATING_KERNEL,) + tuple(k) for k in sort)


def fused_path_boundaries(num_experts, topk, unit_size, target):
    """(first M of the fallback with the oneshot sort, with the 2-kernel sort, with the
    4-kernel sort), as ``moe_softmax_sort_flydsl`` decides (module docstring)."""
    with upstream_session(target) as sorting:
        supported = sorting._supports_fused_oneshot(num_experts, topk, "f32")
        sub = sorting._compute_sub_tokens(num_experts, target or "gfx950")
    fused_end = min(sub, FUSED_ONESHOT_MAX_T) + 1 if supported else 0
    sort_bounds = flydsl_upstream.BACKENDS[0].path_boundaries(num_experts, topk, unit_size, target)
    return tuple(max(fused_end, b) for b in (fused_end,) + tuple(sort_bounds))


def _fused_launcher(sanitize: bool):
    def launch(inputs, target):
        from .flydsl_upstream_fused import run_fused

        with recorded() as record:
            result = run_fused(inputs.logits(), inputs.topk, unit_size=inputs.unit_size,
                               expert_mask=inputs.expert_mask, renormalize=inputs.renormalize,
                               num_local_tokens=inputs.run_num_local_tokens(), target=target or "gfx950",
                               sanitize=sanitize, findings="record")
        return RouterRun(result, record["path"], record["findings"])
    return launch


def _gating_launcher(sanitize: bool):
    def launch(inputs, target):
        from .flydsl_upstream_gating import run_gating

        with recorded() as record:
            result = run_gating(inputs.logits(), inputs.topk, renormalize=inputs.renormalize,
                                target=target or "gfx950", sanitize=sanitize, findings="record")
        return RouterRun(result, record["path"], record["findings"])
    return launch


def _probe():
    reason = flydsl_upstream.probe()
    if reason is None and flydsl_upstream._native():
        return "the logits backends run on the CPU interpreter only (a ROCm GPU is present)"
    if reason is None:
        try:
            importlib.import_module(sorting_module_name()).moe_softmax_sort_flydsl  # noqa: B018 - must exist
        except AttributeError:
            return f"{sorting_module_name()} from FLYDSL_ROOT has no moe_softmax_sort_flydsl"
    return reason


def _backend(name, description, launch, path_boundaries, path_kernels):
    return Backend(
        name=name, description=description, needs=("flydsl", "FLYDSL_ROOT", "kernels.emu"), probe=_probe,
        launch=launch, reports_path=True, executes_on=lambda target: f"cpu-interpreter {target or 'gfx950'}",
        targets=TARGETS, sources=lambda: (os.environ.get("FLYDSL_ROOT", ""),),
        path_boundaries=path_boundaries, path_kernels=path_kernels, takes="logits")


BACKENDS = [
    b
    for sanitize, suffix in ((False, ""), (True, "-sanitized"))
    for b in (
        _backend(f"flydsl-upstream-fused{suffix}",
                 f"FlyDSL's fused moe_softmax_sort_flydsl (logits -> top-k -> sort) from $FLYDSL_ROOT on the CPU "
                 f"interpreter, sanitizer {'on' if sanitize else 'off'}",
                 _fused_launcher(sanitize), fused_path_boundaries, fused_path_kernels),
        _backend(f"flydsl-upstream-gating{suffix}",
                 f"FlyDSL's top-k gating softmax kernel (logits -> top-k ids and weights) from $FLYDSL_ROOT on "
                 f"the CPU interpreter, sanitizer {'on' if sanitize else 'off'}",
                 _gating_launcher(sanitize), None, ((GATING_KERNEL,),)),
    )
]
