"""Backend ``planted-router-high-tie``: ``torch-router-cpu`` with the tie rule reversed
(equal probabilities go to the higher expert id), to prove the logits judge and the
campaigns find a router bug."""
from __future__ import annotations

import torch

from kernels.backends.torch_router import router_launcher, topk_choice
from kernels.registry import Backend


def higher_id_ties(logits: torch.Tensor, topk: int, renormalize: bool):
    """:func:`topk_choice` with the tie rule reversed: equal probabilities go to the higher id."""
    flipped = torch.flip(logits, dims=[1])
    ids, weights = topk_choice(flipped, topk, renormalize)
    return (logits.shape[1] - 1 - ids).to(torch.int32).contiguous(), weights


BACKENDS = [
    Backend(name="planted-router-high-tie", description="test-only: torch-router-cpu with ties to the higher id",
            needs=("torch",), probe=lambda: None, launch=router_launcher("torch-cpu", "cpu", higher_id_ties),
            reports_path=True, takes="logits", test_only=True),
]
