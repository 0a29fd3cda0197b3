"""The suite's own FlyDSL MoE sorting kernels (small / medium / large paths).

Written from the published design (see ``small``, ``multi``), depending only
on the ``flydsl`` pip package.  ``paths`` (pure Python) says which path a
shape takes; ``api.moe_sorting`` is the aiter-style entry point; ``bench``
prints interpreter time and emulated work per path and production shape.

On the CPU interpreter::

    import kernels.emu as emu
    from kernels.moesort import allocate_outputs, moe_sorting
    outs = allocate_outputs(T, topk, E, unit_size)
    with emu.emulate(target="gfx950"):
        path = moe_sorting(topk_ids, topk_weights, *outs, E, unit_size, expert_mask, M)

On a ROCm GPU the same call with device tensors runs natively.
"""
from .paths import (
    LDS_BYTES,
    MEDIUM_MAX_TOKENS,
    PATHS,
    TARGETS,
    Thresholds,
    choose_path,
    mesh_stride,
    path_boundaries,
    path_thresholds,
    small_max_tokens,
    workspace_elems,
)


def __getattr__(name):
    # The entry points import flydsl/torch lazily, so path logic stays cheap.
    if name in ("moe_sorting", "allocate_outputs", "workspace_size", "native_gpu", "default_target"):
        from . import api

        return getattr(api, name)
    raise AttributeError(name)


__all__ = [
    "LDS_BYTES", "MEDIUM_MAX_TOKENS", "PATHS", "TARGETS", "Thresholds", "allocate_outputs", "choose_path",
    "default_target", "mesh_stride", "moe_sorting", "native_gpu", "path_boundaries", "path_thresholds", "small_max_tokens",
    "workspace_elems", "workspace_size",
]
