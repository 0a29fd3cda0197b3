"""Compile provider for ``flydsl-upstream``: FlyDSL's ``kernels/moe/moe_sorting_kernel.py``.

Needs ``FLYDSL_ROOT`` naming a FlyDSL source checkout (``kernels/__init__.py``
then resolves ``kernels.moe`` there).  Its host entry point
``moe_sorting_flydsl`` asks ``torch.cuda`` for the CU count, so the provider
calls the launchers that ``compile_moe_sorting(...)`` returns directly, with
CPU placeholders, one per path:

* ``oneshot``  (T <= ONESHOT_MAX_T = min(sub_tokens, max(16, BLOCK_SIZE //
  max(topk, E // 8))), the threshold the module documents; ``sub_tokens``
  from its ``_compute_sub_tokens(E, arch)``): one kernel, LDS sized from
  ``max_tokens`` = T rounded up to 8 and for two workgroups per CU -- so the
  job assumes ``min_workgroups_per_cu = 2``;
* ``2k`` (T <= 2048): ``launch_p0v2_p23`` (two kernels);
* ``4k`` (T > 2048): ``launch_4k_fused`` (four kernels);

and the kernels of the softmax + top-k + sort entry point
``moe_softmax_sort_flydsl`` (bf16 logits, renormalize=True):

* ``fused`` (T <= min(sub_tokens, 16), where ``_supports_fused_oneshot``):
  ``compile_moe_sorting_oneshot_fused`` -- gating and sort in one kernel;
  ``min_workgroups_per_cu = 2`` like oneshot.  Its grid is a compile-time
  constant: 1 + 2 x the flagship part's CU count (304 / 256);
* ``gating`` (larger T): the stand-alone ``topk_gating_softmax`` kernel the
  fallback runs before the ids-based sort (mask does not apply: one job).

Provider contract: see :mod:`kernels.compilecheck.providers`.
"""
from __future__ import annotations

import os
from typing import Optional

from ...targets import get_target
from ..jobs import CompileJob, path_representatives, placeholders

NAME = "flydsl-upstream"
PATHS = ("oneshot", "2k", "4k", "fused", "gating")
MEDIUM_MAX_T = 2048
MIN_WG_PER_CU = {"oneshot": 2, "2k": 1, "4k": 1, "fused": 2, "gating": 1}
LOGITS_DTYPE = "bf16"
FUSED_MAX_T = 16
CU_GRID = 304 * 2  # any grid size: it is a runtime argument, not compiled in


def _module():
    from kernels.moe import moe_sorting_kernel

    return moe_sorting_kernel


def probe() -> Optional[str]:
    if not os.environ.get("FLYDSL_ROOT"):
        return "FLYDSL_ROOT is not set (it must name a FlyDSL source checkout)"
    try:
        m = _module()
    except Exception as exc:  # noqa: BLE001
        return f"kernels.moe.moe_sorting_kernel does not import: {type(exc).__name__}: {exc}"
    for attr in ("compile_moe_sorting", "_compute_sub_tokens", "BLOCK_SIZE", "_supports_fused_oneshot"):
        if not hasattr(m, attr):
            return f"FlyDSL's moe_sorting_kernel has no {attr} (checkout too old/new for this provider)"
    return None


def choose_path(tokens: int, num_experts: int, topk: int, target: str) -> str:
    m = _module()
    sub_tokens = m._compute_sub_tokens(num_experts, target)
    oneshot_max = min(sub_tokens, max(16, m.BLOCK_SIZE // max(topk, num_experts // 8)))
    if tokens <= oneshot_max:
        return "oneshot"
    return "2k" if tokens <= MEDIUM_MAX_T else "4k"


def _softmax_sort_jobs(target, s) -> list:
    m = _module()
    out = []

    def job(path, kernel, tokens, mask):
        return CompileJob(
            backend=NAME, kernel=kernel, path=path, num_experts=s.num_experts, topk=s.topk,
            unit_size=s.unit_size, tokens=tokens, mask=mask, target=target,
            min_workgroups_per_cu=MIN_WG_PER_CU[path], model=s.model,
        )

    fused_t = min(m._compute_sub_tokens(s.num_experts, target), FUSED_MAX_T)
    if (hasattr(m, "compile_moe_sorting_oneshot_fused") and fused_t >= 1 and s.topk <= s.num_experts
            and m._supports_fused_oneshot(s.num_experts, s.topk, LOGITS_DTYPE)):
        out += [job("fused", "oneshot_fused", fused_t, mask) for mask in (False, True)]
    if m._supports_fused_oneshot(s.num_experts, s.topk, LOGITS_DTYPE):
        out.append(job("gating", "topk_gating_softmax", MEDIUM_MAX_T, False))
    return out


def jobs(targets, shapes) -> list:
    out = []
    for target in targets:
        for s in shapes:
            out += _softmax_sort_jobs(target, s)
            reps = path_representatives(lambda t: choose_path(t, s.num_experts, s.topk, target))
            for path, tokens in reps.items():
                for mask in (False, True):
                    out.append(CompileJob(
                        backend=NAME, kernel={"oneshot": "oneshot", "2k": "p0v2_p23", "4k": "4k_fused"}[path],
                        path=path, num_experts=s.num_experts, topk=s.topk, unit_size=s.unit_size,
                        tokens=tokens, mask=mask, target=target,
                        min_workgroups_per_cu=MIN_WG_PER_CU[path], model=s.model,
                    ))
    return out


def compile(job: CompileJob) -> None:
    import torch

    m = _module()
    E, k, U, T = job.num_experts, job.topk, job.unit_size, job.tokens
    if job.path == "gating":
        from kernels.moe.topk_gating_softmax_kernel import build_topk_gating_softmax_module

        launch = build_topk_gating_softmax_module(num_experts=E, topk=k, dtype_str=LOGITS_DTYPE, renormalize=True)
        ids = torch.zeros((T, k), dtype=torch.int32)
        launch(torch.zeros((T, E), dtype=torch.bfloat16), torch.zeros((T, k)), ids, torch.zeros_like(ids), T)
        return
    b = placeholders(T, E, k, U, job.mask)
    mask = b["expert_mask"] if job.mask else torch.ones(1, dtype=torch.int32)
    moe_elems = b["moe_buf"].numel()
    max_tokens = -(-max(T, 8) // 8) * 8
    oneshot, p0v2_p23, fused_4k = m.compile_moe_sorting(
        num_experts=E, topk=k, max_tokens=max_tokens, unit_size=U, has_mask=job.mask
    )
    outs = (b["topk_weights"], b["sorted_ids"], b["sorted_weights"], b["sorted_expert_ids"],
            b["num_valid_ids"], b["moe_buf"], mask)
    if job.path == "oneshot":
        oneshot(b["topk_ids"], *outs, T, moe_elems, 1 + CU_GRID)
        return
    if job.path == "fused":
        fused = m.compile_moe_sorting_oneshot_fused(
            num_experts=E, topk=k, dtype_str=LOGITS_DTYPE, renormalize=True, max_tokens=max_tokens,
            unit_size=U, has_mask=job.mask)
        fused(torch.zeros((T, E), dtype=torch.bfloat16), *outs[1:], T, moe_elems,
              1 + 2 * get_target(job.target).num_cus)
        return
    mesh_stride = -(-T // U) * U
    mesh_i32 = -(-(E * mesh_stride) // 4)
    ws_total = mesh_i32 + E + 1
    workspace = torch.zeros(ws_total, dtype=torch.int32)
    if job.path == "2k":
        p0v2_p23(b["topk_ids"], workspace, *outs, T, mesh_stride, mesh_i32, moe_elems, E + CU_GRID)
    elif job.path == "4k":
        fused_4k(b["topk_ids"], workspace, *outs, T, mesh_stride, mesh_i32, moe_elems, ws_total,
                 1, -(-ws_total // 1024), CU_GRID, E + CU_GRID)
    else:
        raise ValueError(f"unknown upstream path {job.path!r}")
