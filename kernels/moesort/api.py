"""Host entry point of the suite's FlyDSL MoE sort (aiter ``moe_sorting_fwd`` argument set).

:func:`moe_sorting` launches the path :func:`paths.choose_path` picks for the
capacity T (``topk_ids.shape[0]``) and returns the path's name.  The kernels
read M from a one-element int32 tensor (``num_local_tokens``, or one the
entry point fills with the int given, default T) on every path, and the host
code never reads it: the launch configuration (path, grids, workspace size)
depends on T, E, topk, unit_size and the target only, so a launch can be
captured in a CUDA/HIP graph once and replayed for any M <= T written into
that tensor.  Outputs are
preallocated by the caller (see :func:`allocate_outputs`); they and the inputs
must be contiguous torch tensors on one device: a ROCm GPU, or the CPU when
the launch runs under ``kernels.emu.emulate``.

Sizes (the contract's): ``sorted_ids``/``sorted_weights`` hold at least
``T*topk + E*unit_size - topk`` elements, ``sorted_expert_ids`` at least
``ceil(that / unit_size)``, ``num_valid_ids`` 2.  The kernels address exactly
those lengths (extra elements are never touched).  ``moe_buf`` (any dtype and
shape, contiguous) is zeroed byte-wise.  ``workspace`` (int32, at least
:func:`workspace_size` elements) is used by the medium and large paths and
allocated when None.
"""
from __future__ import annotations

import os
from typing import Optional

from .paths import (
    MULTI_BLOCK,
    TARGETS,
    choose_path,
    small_block,
    workspace_elems,
    zero_blocks,
)

#: Every buffer a kernel addresses must stay below this many bytes, so the
#: masked-off offset 0x7FFFFFFC lies outside it (see ``dsl``).
MAX_BUFFER_BYTES = (1 << 31) - 16


def max_num_tokens_padded(tokens: int, topk: int, num_experts: int, unit_size: int) -> int:
    return tokens * topk + num_experts * unit_size - topk


def allocate_outputs(tokens: int, topk: int, num_experts: int, unit_size: int = 32,
                     *, device="cpu", moe_buf_shape=None, moe_buf_dtype=None):
    """Allocate ``(sorted_ids, sorted_weights, sorted_expert_ids, num_valid_ids,
    moe_buf)`` with the contract's sizes (``moe_buf`` defaults to float32
    ``[tokens, 8]``)."""
    import torch

    length = max_num_tokens_padded(tokens, topk, num_experts, unit_size)
    blocks = -(-length // unit_size)
    shape = (tokens, 8) if moe_buf_shape is None else tuple(moe_buf_shape)
    dtype = torch.float32 if moe_buf_dtype is None else moe_buf_dtype
    return (
        torch.empty(length, dtype=torch.int32, device=device),
        torch.empty(length, dtype=torch.float32, device=device),
        torch.empty(blocks, dtype=torch.int32, device=device),
        torch.empty(2, dtype=torch.int32, device=device),
        torch.empty(shape, dtype=dtype, device=device),
    )


def workspace_size(tokens: int, num_experts: int, topk: int, unit_size: int = 32,
                   target: str = "gfx950") -> int:
    """int32 elements of workspace the path of capacity T = ``tokens`` needs (0 for small)."""
    if choose_path(tokens, num_experts, topk, unit_size, target) == "small":
        return 0
    return workspace_elems(tokens, num_experts)


def native_gpu() -> bool:
    """True when torch sees a ROCm GPU (then kernels run natively)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(getattr(torch.version, "hip", None)) and torch.cuda.is_available()


def default_target() -> str:
    """The GPU's arch when one is present, else ``$ARCH``, else gfx950."""
    if native_gpu():
        from flydsl.runtime.device import get_rocm_arch

        return str(get_rocm_arch()).split(":")[0]
    arch = os.environ.get("ARCH", "")
    return arch if arch in TARGETS else "gfx950"


def _flat(t, name: str):
    if not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous")
    return t.reshape(-1)


def _check_bytes(name: str, nbytes: int) -> None:
    if nbytes > MAX_BUFFER_BYTES:
        raise ValueError(f"{name}: {nbytes} bytes exceeds the kernels' 2 GiB buffer limit")


def _local_tokens_tensor(num_local_tokens, tokens: int, device):
    """The one-element int32 tensor the kernels read M from (a new one for an int or None)."""
    import torch

    if isinstance(num_local_tokens, torch.Tensor):
        if num_local_tokens.dtype != torch.int32 or num_local_tokens.numel() != 1:
            raise ValueError(f"num_local_tokens must be a one-element int32 tensor, got {num_local_tokens.dtype} "
                             f"of shape {tuple(num_local_tokens.shape)}")
        if num_local_tokens.device != device:
            raise ValueError(f"num_local_tokens is on {num_local_tokens.device}, the other tensors on {device}")
        return num_local_tokens.reshape(1)
    m = tokens if num_local_tokens is None else int(num_local_tokens)
    if not 0 <= m <= tokens or m >= 1 << 24:
        raise ValueError(f"num_local_tokens={m} outside [0, min(T={tokens}, 2**24 - 1)]")
    return torch.full((1,), m, dtype=torch.int32, device=device)


def moe_sorting(topk_ids, topk_weights, sorted_ids, sorted_weights, sorted_expert_ids,
                num_valid_ids, moe_buf, num_experts: int, unit_size: int = 32,
                expert_mask=None, num_local_tokens=None, workspace=None, *,
                target: Optional[str] = None) -> str:
    """Sort ``topk_ids``/``topk_weights`` by expert into the given outputs.

    Returns the path taken (``"small"``, ``"medium"`` or ``"large"``).
    ``num_local_tokens`` (M) may be None (M = T), an int in ``[0, T]``, or a
    one-element int32 tensor on the launch device, which the kernels read (its
    value is never read on the host; one outside ``[0, T]`` is clamped to it).  ``target``
    (gfx942/gfx950) fixes the path thresholds and LDS sizing; by default the
    GPU's arch (or ``$ARCH``, else gfx950).
    """
    import torch

    from .multi import build_multi
    from .small import build_small

    if topk_ids.dim() != 2 or topk_weights.shape != topk_ids.shape:
        raise ValueError("topk_ids and topk_weights must both be [T, topk]")
    if topk_ids.dtype != torch.int32 or topk_weights.dtype != torch.float32:
        raise ValueError("topk_ids must be int32 and topk_weights float32")
    tokens, topk = int(topk_ids.shape[0]), int(topk_ids.shape[1])
    E, unit = int(num_experts), int(unit_size)
    if not 1 <= topk <= 255:
        raise ValueError(f"topk={topk} outside [1, 255]")
    if E < 1 or unit < 1:
        raise ValueError(f"num_experts={E}, unit_size={unit}: both must be >= 1")
    target = target or default_target()
    if target not in TARGETS:
        raise ValueError(f"target={target!r}; expected one of {TARGETS}")

    for name, t, dt in (("sorted_ids", sorted_ids, torch.int32), ("sorted_weights", sorted_weights, torch.float32),
                        ("sorted_expert_ids", sorted_expert_ids, torch.int32),
                        ("num_valid_ids", num_valid_ids, torch.int32)):
        if t.dtype != dt:
            raise ValueError(f"{name} must be {dt}, got {t.dtype}")
    length = max_num_tokens_padded(tokens, topk, E, unit)
    blocks = -(-length // unit)
    device = topk_ids.device
    ids = _flat(topk_ids, "topk_ids")
    wts = _flat(topk_weights, "topk_weights").view(torch.int32)
    sid = _flat(sorted_ids, "sorted_ids")
    swt = _flat(sorted_weights, "sorted_weights").view(torch.int32)
    sex = _flat(sorted_expert_ids, "sorted_expert_ids")
    nvi = _flat(num_valid_ids, "num_valid_ids")
    if sid.numel() < length or swt.numel() < length or sex.numel() < blocks or nvi.numel() < 2:
        raise ValueError(f"outputs too small: need {length} sorted ids/weights, {blocks} blocks, 2 num_valid_ids")
    mb = _flat(moe_buf, "moe_buf").view(torch.uint8)
    moe_bytes = mb.numel()
    for name, n in (("topk_ids", ids.numel() * 4), ("sorted_ids", length * 4),
                    ("moe_buf", moe_bytes), ("expert_mask", E * 4)):
        _check_bytes(name, n)

    has_mask = expert_mask is not None
    if has_mask:
        mask = _flat(expert_mask, "expert_mask")
        if mask.dtype != torch.int32 or mask.numel() != E:
            raise ValueError(f"expert_mask must be int32 [{E}]")
        n_mask = E
    else:
        mask = torch.ones(1, dtype=torch.int32, device=device)
        n_mask = 1
    # FlyDSL cannot take empty tensors: stand-ins of one element, sized 0 for the kernel.
    if ids.numel() == 0:
        ids = torch.zeros(1, dtype=torch.int32, device=device)
        wts = torch.zeros(1, dtype=torch.int32, device=device)
    if moe_bytes == 0:
        mb = torch.zeros(16, dtype=torch.uint8, device=device)
    byte_tail = moe_bytes % 4 != 0
    nlt = _local_tokens_tensor(num_local_tokens, tokens, device)
    n_in = tokens * topk

    if device.type == "cuda":
        if target != default_target():
            raise ValueError(f"target={target!r} but the GPU here is {default_target()}")
        extra = {"stream": torch.cuda.current_stream()}
    else:
        extra = {}
    path = choose_path(tokens, E, topk, unit, target)
    if path == "small":
        launch = build_small(E, topk, unit, has_mask, target, byte_tail)
        grid = 1 + zero_blocks(moe_bytes, small_block(E))
        launch(ids, wts, sid, swt, sex, nvi, mb, mask, nlt, n_in, length, blocks, n_mask, moe_bytes, grid, **extra)
        return path

    ws_elems = workspace_elems(tokens, E)
    _check_bytes("workspace", ws_elems * 4)
    if workspace is None:
        workspace = torch.empty(ws_elems, dtype=torch.int32, device=device)
    ws = _flat(workspace, "workspace")
    if ws.dtype != torch.int32 or ws.numel() < ws_elems:
        raise ValueError(f"workspace must be int32 with >= {ws_elems} elements")
    launch_medium, launch_large = build_multi(E, topk, unit, has_mask, byte_tail)
    zgrid = zero_blocks(moe_bytes, MULTI_BLOCK)
    aux = max(1, min(1024, -(-(ws_elems - E) // (4 * MULTI_BLOCK))))  # 16-byte stores: 4 int32 each
    launch = launch_medium if path == "medium" else launch_large
    launch(ids, wts, sid, swt, sex, nvi, mb, mask, ws, nlt, n_in, length, blocks, n_mask,
           moe_bytes, ws_elems, zgrid, aux, **extra)
    return path
