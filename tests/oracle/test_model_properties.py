"""Property tests: the vectorized model against the plain-loop model, and
the contract's invariants checked directly on the model's output."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import oracle
from fuzz.strategies import cases


def _run(model, case, **kw):
    ids, w, mask, local = case.materialize()
    return model(ids, w, case.num_experts, case.unit_size, mask, local, **kw)


@given(cases(max_tokens=3000), st.booleans())
def test_vectorized_model_matches_loop_model(case, min_one_block):
    try:
        expected = _run(oracle.moe_sorting_loops, case, min_one_block=min_one_block)
    except oracle.ContractViolation:
        assert min_one_block and case.tokens == 0
        return
    actual = _run(oracle.moe_sorting, case, min_one_block=min_one_block)
    for name in ("sorted_ids", "sorted_expert_ids", "num_valid_ids"):
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), err_msg=name)
    np.testing.assert_array_equal(actual.sorted_weights.view(np.uint32),
                                  expected.sorted_weights.view(np.uint32))


@given(cases(max_tokens=5000))
def test_contract_invariants(case):
    ids, w, mask, local = case.materialize()
    r = oracle.moe_sorting(ids, w, case.num_experts, case.unit_size, mask, local)
    E, k, u = case.num_experts, case.topk, case.unit_size
    M = case.tokens if local is None else local
    total = int(r.num_valid_ids[0])
    assert r.num_valid_ids[1] == M
    assert len(r.sorted_ids) == case.tokens * k + E * u - k
    assert total % u == 0 and total <= len(r.sorted_ids)
    enabled = np.ones(E, bool) if mask is None else mask.astype(bool)
    routed = ids[:M][enabled[ids[:M]]]
    sentinel = np.uint32((k << 24) | M)
    packed = r.sorted_ids[:total].view(np.uint32)
    real = packed != sentinel
    assert real.sum() == routed.size  # every routed pair exactly once, nothing else
    tokens, slots = packed[real] & 0xFFFFFF, packed[real] >> 24
    assert (tokens < M).all() and (slots < k).all()
    assert len({(int(t), int(s)) for t, s in zip(tokens, slots)}) == routed.size
    # weights: the (token, slot) weight, bit-exact; 0 in padding
    np.testing.assert_array_equal(r.sorted_weights[:total][real].view(np.uint32),
                                  w[tokens, slots].view(np.uint32))
    assert (r.sorted_weights[:total][~real].view(np.uint32) == 0).all()
    # block experts: local ids, non-decreasing, each block's entries belong to it
    blocks = r.sorted_expert_ids[: total // u]
    assert (np.diff(blocks) >= 0).all()
    local_of = np.cumsum(enabled) - 1
    experts_of = ids[tokens, slots]
    assert (local_of[experts_of] == np.repeat(blocks, u)[real]).all()
    # inside an expert: ascending (token, slot)
    key = tokens.astype(np.int64) * 256 + slots
    same = experts_of[1:] == experts_of[:-1]
    assert (key[1:][same] > key[:-1][same]).all()
