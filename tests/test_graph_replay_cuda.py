"""The capture-replay check with a real ``torch.cuda.graph``, on the ``torch-cuda`` backend.

Needs torch with a CUDA (or ROCm) device; skipped, saying so, without one.
Imports nothing of FlyDSL, so it runs where ``flydsl`` is not installed:
one capture with the ``num_local_tokens`` device tensor holding the first M,
then replays with other M written into it, each judged against the golden
model; a backend that bakes M into the graph must fail the same check.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch

from cases import Case
from kernels.graph_replay import check_capture_replay
from kernels.registry import get

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA/HIP device visible to torch (torch.cuda.is_available() is False)")

# (E, topk, T, mask_mode): production shapes and an EP mask
SHAPES = [(257, 9, 2048, "none"), (8, 2, 300, "none"), (64, 6, 1000, "ratio"), (129, 7, 17, "one")]


def _m_values(T):
    return [T // 2, T, 0, 1, T // 3, T - 1]


@pytest.mark.parametrize("E,topk,T,mask_mode", SHAPES)
def test_torch_cuda_replays_every_m_after_one_capture(E, topk, T, mask_mode):
    ids, weights, mask, _ = Case(E, topk, T, mask_mode=mask_mode, seed=T).materialize()
    replays = check_capture_replay(get("torch-cuda"), ids, weights, E, 32, mask, m_values=_m_values(T))
    assert [r.m for r in replays] == _m_values(T)
    for r in replays:
        assert r.verdict.ok, f"M={r.m}: {r.verdict.summary}"
        assert int(r.result.num_valid_ids[1]) == r.m


def _baked(inputs, buffers, target):
    """torch-cuda handed a fresh tensor filled with the host's M at capture time: the graph freezes it."""
    baked = torch.full((1,), inputs.m, dtype=torch.int32, device=buffers.device)
    d = dataclasses.replace(buffers.device_inputs, num_local_tokens=baked)
    return get("torch-cuda").launch(inputs, dataclasses.replace(buffers, device_inputs=d), target)


def test_a_backend_that_bakes_m_in_fails_with_a_real_graph():
    E, topk, T = 8, 2, 300
    ids, weights, mask, _ = Case(E, topk, T, seed=1).materialize()
    baked = dataclasses.replace(get("torch-cuda"), name="baked-torch-cuda", launch=_baked)
    replays = check_capture_replay(baked, ids, weights, E, 32, mask, m_values=_m_values(T))
    assert replays[0].verdict.ok
    assert [r.m for r in replays if not r.verdict.ok] == _m_values(T)[1:]
