"""Backend ``flydsl-own``: the suite's own FlyDSL MoE sort (``kernels.moesort``).

Runs natively when torch sees a ROCm GPU (``torch.version.hip`` and a visible
device); otherwise under the CPU interpreter ``kernels.emu.emulate(target=...)``
on CPU tensors.  It reports the path taken (small / medium / large) and writes
nothing past the valid extent of any output.  The kernels read M from the
harness's ``num_local_tokens`` device tensor and the launch depends on T only,
so the backend is graph-capture safe (``capture_safe``).
"""
from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path

from ..flydsl_support import flydsl_problem
from ..harness import poisoned_workspace
from ..registry import Backend
from ..targets import TARGET_NAMES as TARGETS


def _native() -> bool:
    from ..moesort.api import native_gpu

    return native_gpu()


def _emulator():
    """``kernels.emu.emulate``, or None when the interpreter is not available."""
    try:
        from .. import emu
    except ImportError:
        return None
    return getattr(emu, "emulate", None)


def _probe():
    if importlib.util.find_spec("flydsl") is None:
        return flydsl_problem()
    if _native():
        return None
    if flydsl_problem() is not None:
        return flydsl_problem()
    if _emulator() is None:
        return "no ROCm GPU here and the CPU interpreter kernels.emu.emulate is not available yet"
    return None


def _target(target):
    if target is None:
        from ..moesort.api import default_target

        return default_target()
    if target not in TARGETS:
        raise ValueError(f"flydsl-own: target={target!r}; expected one of {TARGETS}")
    return target


def _executes_on(target) -> str:
    t = target or "gfx950"
    return f"native {t}" if _native() else f"cpu-interpreter {t}"


def _poisoned_workspace(inputs, target, device):
    from ..moesort.api import workspace_size

    return poisoned_workspace(workspace_size(inputs.tokens, inputs.num_experts, inputs.topk, inputs.unit_size, target),
                              device)


def _path_boundaries(num_experts, topk, unit_size, target):
    from ..moesort import path_thresholds

    return tuple(path_thresholds(num_experts, topk, unit_size, _target(target)))


def _launch(inputs, buffers, target):
    from ..moesort.api import moe_sorting

    target = _target(target)
    d = buffers.device_inputs
    workspace = _poisoned_workspace(inputs, target, buffers.sorted_ids.device)
    if _native():
        ctx = contextlib.nullcontext()
    else:
        emulate = _emulator()
        if emulate is None:
            raise RuntimeError("flydsl-own: kernels.emu.emulate is not available")
        record = {"findings": "record"} if inputs.invalid_ids == "unchecked" else {}
        ctx = emulate(target=target, strict_buffers=True, **record)   # the kernels' contract: see kernels/moesort/dsl.py
    with ctx:
        return moe_sorting(
            d.topk_ids, d.topk_weights, buffers.sorted_ids, buffers.sorted_weights,
            buffers.sorted_expert_ids, buffers.num_valid_ids, buffers.moe_buf,
            inputs.num_experts, inputs.unit_size, d.expert_mask, d.num_local_tokens,
            workspace, target=target,
        )


def _targets() -> tuple:
    """Both targets on the interpreter; natively only the GPU's own arch."""
    try:
        if _native():
            from ..moesort.api import default_target

            return (default_target(),)
    except Exception:  # noqa: BLE001 - a broken GPU stack: declare both, probe reports
        pass
    return TARGETS


def _device() -> str:
    return "cuda" if _native() else "cpu"


BACKENDS = [
    Backend(
        name="flydsl-own",
        description="the suite's own FlyDSL MoE sort (small/medium/large paths), "
                    "native on a ROCm GPU, else on the CPU interpreter",
        needs=("flydsl", "rocm-gpu-or-kernels.emu"),
        probe=_probe,
        launch=_launch,
        reports_path=True,
        device=_device,
        executes_on=_executes_on,
        targets=_targets(),
        sources=lambda: (str(Path(__file__).resolve().parents[1] / "moesort"),),
        path_boundaries=_path_boundaries,
        invalid_ids=("reject", "drop", "unchecked"),
        capture_safe=True,
    ),
]
