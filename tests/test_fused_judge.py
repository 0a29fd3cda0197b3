"""The fused entry's judge (``check_fused``) on results built from the golden model: a token
left out of the sort is named as such, and the known finding of tokens past the first gating
block covers only tokens from the eighth on, in results of the fused oneshot kernel.  Needs no FlyDSL checkout."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import oracle
from fuzz.judge_logits import _mismatches
from kernels.backends.flydsl_upstream_fused import TOKEN_WITHOUT_PAIRS, FusedResult, check_fused
from regressions import known_findings

E, TOPK, UNIT, T = 512, 2, 16, 12


def _logits() -> torch.Tensor:
    rng = np.random.default_rng(20261207)
    return torch.from_numpy(rng.permuted(np.tile(np.linspace(-3.0, 3.0, E, dtype=np.float32), (T, 1)), axis=1))


def _result(logits: torch.Tensor, dropped=(), path="moe_sorting_oneshot_fused_kernel_0") -> FusedResult:
    """The golden model's sort of the golden choice, with the tokens ``dropped`` choosing no
    expert, as if launched on ``path``."""
    ids, weights = oracle.softmax_topk(logits, TOPK, True)
    ids = np.array(ids, np.int32)
    ids[list(dropped)] = -1
    out = oracle.moe_sorting(ids, np.ascontiguousarray(weights, np.float32), E, UNIT, None, None,
                             invalid_ids="drop" if dropped else "reject")
    return FusedResult(out.sorted_ids.copy(), out.sorted_weights.copy(), out.sorted_expert_ids.copy(),
                       out.num_valid_ids.copy(), True, path, "gfx950")


def test_the_golden_sort_passes():
    x = _logits()
    assert check_fused(x, TOPK, _result(x), unit_size=UNIT).ok


@pytest.mark.parametrize("dropped", [(8,), (8, 9, 10, 11), (3,)])
def test_a_token_left_out_is_named_and_nothing_else_differs(dropped):
    x = _logits()
    verdict = check_fused(x, TOPK, _result(x, dropped), unit_size=UNIT)
    assert not verdict.ok
    assert [(p.kind, p.row) for p in verdict.problems] == [(TOKEN_WITHOUT_PAIRS, r) for r in dropped]


@pytest.mark.parametrize("dropped,path,covered", [
    ((8,), "moe_sorting_oneshot_fused_kernel_0", True),
    ((8, 9, 10, 11), "moe_sorting_oneshot_fused_kernel_0", True),
    ((3,), "moe_sorting_oneshot_fused_kernel_0", False),
    ((8,), "topk_gating_softmax_kernel_0+moe_sorting_oneshot_kernel_0", False),
])
def test_the_known_entry_covers_tokens_from_the_eighth_on_of_the_fused_kernel_only(dropped, path, covered):
    x = _logits()
    result = _result(x, dropped, path)
    known_list = known_findings.default()
    for m in _mismatches(check_fused(x, TOPK, result, unit_size=UNIT).problems):
        entry = known_list.match_mismatch(m, result, "flydsl-upstream-fused")
        assert (entry is not None and entry.id == "fused-oneshot-tokens-past-first-gating-block") == covered
        assert known_list.match_mismatch(m, result, "torch-router-cpu") is None


def test_logits_one_ulp_apart_with_equal_probabilities_are_a_near_tie():
    """Experts 0 and 2 share a logit and expert 3's is 1 ulp higher: float32 softmax gives the
    three one probability, so the stable order puts expert 3 third, outside the topk + 1
    window; the row is still a near tie, and choosing expert 3 (the larger logit) passes."""
    from kernels.backends.flydsl_upstream_fused import accept_near_tie_choice, near_tie_rows

    a = np.float32(0.6836860775947571)
    row = np.array([a, -2.2035098, a, np.nextafter(a, np.float32(1))], np.float32)
    x = torch.from_numpy(np.stack([row, np.array([3.0, 0.0, 0.0, 0.0], np.float32)]))
    probs = oracle.softmax(x)
    assert probs[0, 0] == probs[0, 3]                       # the premise: equal probabilities
    assert near_tie_rows(x, 1) == [0]
    assert not isinstance(accept_near_tie_choice(probs[0], np.array([3]), True), str)
