"""Backend ``flydsl-upstream``: FlyDSL's own ``moe_sorting_flydsl``, from a checkout.

The kernel is imported from the FlyDSL source checkout named by
``FLYDSL_ROOT`` (``kernels.moe.moe_sorting_kernel``; see ``kernels/__init__``
for how both ``kernels`` packages share one process).  On a ROCm GPU it runs
natively; otherwise on the CPU interpreter, inside ``kernels.emu.emulate``
with the emulated target's device facts (arch, compute-unit count, LDS size)
answered to its host code, so its own dispatch logic runs unchanged.

The path it reports is the sequence of kernels it launched (the interpreter
records them), e.g. ``moe_sorting_oneshot_kernel_0``; natively, ``None``.
Its declared dispatch (``path_boundaries`` with ``path_kernels``, checked by
the judge on every emulated launch) is the kernel module's documented one:
the oneshot kernel while upstream's ``moe_sorting_get_workspace_size`` asks
for no workspace ("Returns 0 if the oneshot path will be used"), the two
multiphase kernels up to M = 2048, the four-kernel chain above.

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
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import torch

from ..harness import poisoned_workspace
from ..registry import Backend
from ..targets import TARGET_NAMES as TARGETS

MODULE = "kernels.moe.moe_sorting_kernel"
GATING_MODULE = "kernels.moe.topk_gating_softmax_kernel"


def _native() -> bool:
    return bool(torch.cuda.is_available() and torch.version.hip)


def probe():
    """None when FlyDSL's sort from ``$FLYDSL_ROOT`` can run here, else why not."""
    root = os.environ.get("FLYDSL_ROOT")
    if not root:
        return "FLYDSL_ROOT is not set (point it at a FlyDSL source checkout)"
    if not (Path(root) / "kernels" / "moe" / "moe_sorting_kernel.py").is_file():
        return f"FLYDSL_ROOT={root!r} has no kernels/moe/moe_sorting_kernel.py"
    if importlib.util.find_spec("flydsl") is None:
        return "the flydsl package is not installed"
    if not _native():
        try:
            from .. import emu  # noqa: F401  (the interpreter is optional: imported on use)
        except ImportError as exc:
            return f"no ROCm GPU and the CPU interpreter does not import: {exc}"
    try:
        importlib.import_module(MODULE)
    except Exception as exc:  # noqa: BLE001 - any import failure makes it unavailable
        return f"{MODULE} from FLYDSL_ROOT does not import: {type(exc).__name__}: {exc}"
    return None


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
    for name in (MODULE, GATING_MODULE):
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
    sorting = importlib.import_module(MODULE)
    if _native():
        yield sorting
        return
    from .. import emu

    target = target or "gfx950"
    use_target(target)
    with emu.emulate(target=target, **emulate_options):
        yield sorting


#: The kernel module's documented dispatch: M <= 2048 takes the 2-kernel path, larger M the 4-kernel chain.
MULTIPHASE_SPLIT = 2048

#: The kernels of each path, as the kernel module's docstring lists them: the oneshot kernel;
#: fused P0v2 then P23; ClearWS, P0 scatter, P1 count, then P23.
PATH_KERNELS = (("moe_sorting_oneshot_kernel",), ("p0v2_kernel", "p23_kernel"),
                ("clear_workspace_kernel", "p0_scatter_kernel", "p1_count_kernel", "p23_kernel"))


def _path_boundaries(num_experts, topk, unit_size, target):
    """(first multiphase M, first 4-kernel M) as upstream's dispatch decides: the
    oneshot bound is the largest M for which upstream's own
    ``moe_sorting_get_workspace_size`` asks for no workspace."""
    with upstream_session(target) as sorting:
        m = 0
        while m <= MULTIPHASE_SPLIT and sorting.moe_sorting_get_workspace_size(m, num_experts, topk, unit_size) == 0:
            m += 1
    return (m, MULTIPHASE_SPLIT + 1)


def _launcher(sanitize: bool):
    def launch(inputs, buffers, target):
        return _launch(inputs, buffers, target, sanitize)
    return launch


def _launch(inputs, buffers, target, sanitize):
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
            inputs.num_experts, inputs.unit_size, d.expert_mask, inputs.num_local_tokens, workspace,
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
        path_kernels=PATH_KERNELS,
        invalid_ids=("reject", "unchecked"),
    )
    for name, sanitize in (("flydsl-upstream", False), ("flydsl-upstream-sanitized", True))
]
