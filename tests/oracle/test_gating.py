"""The gating front end: softmax in f32, top-k with lower-id tie-break."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import oracle


def test_ties_go_to_the_lower_expert_id():
    logits = np.array([[1.0, 3.0, 3.0, 0.0, 3.0]], np.float32)
    ids, w = oracle.softmax_topk(logits, 3)
    assert ids.tolist() == [[1, 2, 4]]
    assert w[0, 0] == w[0, 1] == w[0, 2]


def test_softmax_rows_sum_to_one_and_order_is_descending():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 64)).astype(np.float32)
    ids, w = oracle.softmax_topk(logits, 8)
    p = oracle.softmax(logits)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert (np.diff(w, axis=1) <= 0).all()
    np.testing.assert_array_equal(np.take_along_axis(p, ids.astype(np.int64), 1), w)


def test_renormalize_divides_by_the_chosen_sum():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]], np.float32))
    _, w = oracle.softmax_topk(logits, 2, renormalize=True)
    np.testing.assert_allclose(w, [[0.4 / 0.7, 0.3 / 0.7]], rtol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_half_inputs_are_widened_exactly(dtype):
    logits = torch.randn(16, 32, generator=torch.Generator().manual_seed(1)).to(dtype)
    ids, w = oracle.softmax_topk(logits, 4)
    ids32, w32 = oracle.softmax_topk(logits.float().numpy(), 4)
    np.testing.assert_array_equal(ids, ids32)
    np.testing.assert_array_equal(w, w32)


@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 8), st.integers(2, 40)),
                  elements=st.floats(-30, 30, width=32)), st.data())
def test_topk_feeds_the_sort_model(logits, data):
    k = data.draw(st.integers(1, logits.shape[1]))
    ids, w = oracle.softmax_topk(logits, k)
    assert (np.sort(ids, axis=1)[:, 1:] != np.sort(ids, axis=1)[:, :-1]).all()
    oracle.moe_sorting(ids, w, logits.shape[1], 16)


def test_bad_dtype_and_topk_are_violations():
    with pytest.raises(oracle.ContractViolation, match="logits"):
        oracle.softmax_topk(np.zeros((2, 4), np.int32), 2)
    with pytest.raises(oracle.ContractViolation, match="topk"):
        oracle.softmax_topk(np.zeros((2, 4), np.float32), 5)


def test_degenerate_rows_are_nan_inf_and_no_finite_logit():
    inf, nan = np.float32(np.inf), np.float32(np.nan)
    x = np.array([[0, 1, 2, 3],
                  [0, nan, 2, 3],
                  [0, inf, 2, 3],
                  [-inf, -inf, -inf, -inf],
                  [-inf, 1, -inf, -inf]], np.float32)
    assert oracle.degenerate_rows(x).tolist() == [False, True, True, True, False]
    ids, w = oracle.softmax_topk(x, 2, renormalize=True)
    assert ids[4].tolist() == [1, 0] and w[4].tolist() == [1.0, 0.0]   # -inf: probability 0, lower id next
    assert ids[1:4].tolist() == [[0, 1]] * 3 and np.isnan(w[1:4]).all()
