"""The entry points of FlyDSL's MoE family, declared for :mod:`.entrypoints` (FlyDSL's files carry none).

:data:`TABLE` maps a path suffix to the file's :class:`~.entrypoints.EntryPoint` s:

* ``kernels/moe/moe_sorting_kernel.py``: the sort ``moe_sorting_flydsl`` and the
  fused softmax + top-k + sort ``moe_softmax_sort_flydsl``;
* ``kernels/moe/topk_gating_softmax_kernel.py``: the gating entry, the builder
  ``build_topk_gating_softmax_module`` and a launch of what it returns.

Their dispatch space: the production (E, topk, unit_size) triples of
:data:`cases.PRODUCTION_SHAPES`, every logits dtype the gating and fused
entries accept (``f32``, ``f16``, ``bf16``), ``renormalize`` both ways (gating), the
expert mask off and on (the sort and the fused entry), and T from the host
code's boundaries with the workspace sizer ``moe_sorting_get_workspace_size``
(zero exactly on the single-kernel path).  Arguments are uninitialized CPU
tensors of the sizes the entries document (nothing runs: launches are only
recorded).  What is held fixed is stated in each entry's ``not_varied``.
"""
from __future__ import annotations

import torch

from cases import PRODUCTION_SHAPES
from oracle import max_num_tokens_padded

from .entrypoints import EntryPoint, Sizer

#: (E, topk, unit_size) of every production shape.
SHAPES = tuple(sorted({(s.num_experts, s.topk, s.unit_size) for s in PRODUCTION_SHAPES}))
#: (E, topk) of every production shape (the gating has no unit_size).
PAIRS = tuple(sorted({(s.num_experts, s.topk) for s in PRODUCTION_SHAPES}))
LOGIT_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
MOE_BUF_COLUMNS = 128

_NOT_VARIED_SORT = (
    "topk_weights: float32 (the only weight dtype the sort kernels load)",
    "num_local_tokens: None, M = rows of topk_ids (a device tensor is read with .item(), "
    "which capture refuses: known finding host-read-num-local-tokens)",
    f"moe_buf: (T, {MOE_BUF_COLUMNS}) bf16 (its size only sets the zeroing grid)",
)


def _sort_outputs(p):
    """Sort outputs for point ``p`` (sizes of the sort's contract)."""
    padded = max_num_tokens_padded(p["T"], p["topk"], p["E"], p["unit"])
    blocks = -(-padded // p["unit"])
    return (torch.empty(padded, dtype=torch.int32), torch.empty(padded, dtype=torch.float32),
            torch.empty(blocks, dtype=torch.int32), torch.empty(2, dtype=torch.int32),
            torch.empty((p["T"], MOE_BUF_COLUMNS), dtype=torch.bfloat16))


def _mask(p):
    return torch.ones(p["E"], dtype=torch.int32) if p["mask"] else None


def call_sort(module, p):
    """``moe_sorting_flydsl`` at point ``p``."""
    ids = torch.empty((p["T"], p["topk"]), dtype=torch.int32)
    weights = torch.empty((p["T"], p["topk"]), dtype=torch.float32)
    module.moe_sorting_flydsl(ids, weights, *_sort_outputs(p), p["E"], unit_size=p["unit"], expert_mask=_mask(p))


def call_fused(module, p):
    """``moe_softmax_sort_flydsl`` at point ``p``."""
    logits = torch.empty((p["T"], p["E"]), dtype=LOGIT_DTYPES[p["dtype"]])
    module.moe_softmax_sort_flydsl(logits, *_sort_outputs(p), p["E"], p["topk"], p["dtype"], unit_size=p["unit"],
                                   expert_mask=_mask(p), renormalize=True)


def call_gating(module, p):
    """``build_topk_gating_softmax_module`` for point ``p``, then a launch of the launcher it returns."""
    launch = module.build_topk_gating_softmax_module(num_experts=p["E"], topk=p["topk"], dtype_str=p["dtype"],
                                                     renormalize=p["renormalize"])
    logits = torch.empty((p["T"], p["E"]), dtype=LOGIT_DTYPES[p["dtype"]])
    out = [torch.empty((p["T"], p["topk"]), dtype=dt) for dt in (torch.float32, torch.int32, torch.int32)]
    launch(logits, *out, p["T"])


def _workspace_size(module, p):
    return module.moe_sorting_get_workspace_size(p["T"], p["E"], p["topk"], unit_size=p["unit"])


WORKSPACE_SIZER = Sizer("moe_sorting_get_workspace_size", _workspace_size)

TABLE = {
    "kernels/moe/moe_sorting_kernel.py": (
        EntryPoint("moe_sorting_flydsl", call=call_sort,
                   space={"E,topk,unit": SHAPES, "mask": (False, True)},
                   sizers=(WORKSPACE_SIZER,),
                   not_varied=_NOT_VARIED_SORT + ("workspace: None (the entry allocates it)",)),
        EntryPoint("moe_softmax_sort_flydsl", call=call_fused,
                   space={"E,topk,unit": SHAPES, "dtype": tuple(LOGIT_DTYPES), "mask": (False, True)},
                   sizers=(WORKSPACE_SIZER,),
                   not_varied=_NOT_VARIED_SORT[1:] + (
                       "renormalize: True (varied through the gating entry, whose body the fused kernel emits too)",)),
    ),
    "kernels/moe/topk_gating_softmax_kernel.py": (
        EntryPoint("build_topk_gating_softmax_module", call=call_gating,
                   space={"E,topk": PAIRS, "dtype": tuple(LOGIT_DTYPES), "renormalize": (True, False)},
                   not_varied=("stream: the default",)),
    ),
}
