"""Hand-worked examples of the contract, computed on paper from CONTRACT.md."""
import numpy as np
import pytest

import oracle

S = lambda slot, token: (slot << 24) | token  # noqa: E731


def test_three_tokens_three_experts():
    ids = np.array([[0, 2], [1, 2], [2, 0]], np.int32)
    w = np.array([[0.5, 0.25], [1.0, 2.0], [3.0, 4.0]], np.float32)
    r = oracle.moe_sorting(ids, w, num_experts=3, unit_size=4)
    sent = S(2, 3)
    # expert 0: (t0,s0) (t2,s1); expert 1: (t1,s0); expert 2: (t0,s1) (t1,s1) (t2,s0)
    assert r.sorted_ids[:12].tolist() == [
        S(0, 0), S(1, 2), sent, sent,
        S(0, 1), sent, sent, sent,
        S(1, 0), S(1, 1), S(0, 2), sent,
    ]
    assert r.sorted_weights[:12].tolist() == [0.5, 4.0, 0, 0, 1.0, 0, 0, 0, 0.25, 2.0, 3.0, 0]
    assert r.sorted_expert_ids[:3].tolist() == [0, 1, 2]
    assert r.num_valid_ids.tolist() == [12, 3]
    assert len(r.sorted_ids) == 3 * 2 + 3 * 4 - 2
    assert len(r.sorted_expert_ids) == 4  # ceil(16 / 4)


def test_expert_mask_drops_and_renumbers():
    ids = np.array([[0, 2], [1, 2], [2, 0]], np.int32)
    w = np.ones((3, 2), np.float32)
    r = oracle.moe_sorting(ids, w, 3, 4, expert_mask=np.array([1, 0, 1], np.int32))
    sent = S(2, 3)
    assert r.sorted_ids[:8].tolist() == [S(0, 0), S(1, 2), sent, sent, S(1, 0), S(1, 1), S(0, 2), sent]
    assert r.sorted_expert_ids[:2].tolist() == [0, 1]  # global expert 2 is local 1
    assert r.num_valid_ids.tolist() == [8, 3]


def test_num_local_tokens_uses_m_in_sentinel_and_ignores_later_rows():
    ids = np.array([[1, 0], [0, 1], [1, 0]], np.int32)
    w = np.ones((3, 2), np.float32)
    r = oracle.moe_sorting(ids, w, 2, 2, num_local_tokens=2)
    sent = S(2, 2)
    assert r.sorted_ids[:4].tolist() == [S(1, 0), S(0, 1), S(0, 0), S(1, 1)]
    assert r.num_valid_ids.tolist() == [4, 2]
    assert sent not in r.sorted_ids[:4].tolist()
    r3 = oracle.moe_sorting(ids, w, 2, 4, num_local_tokens=1)
    assert r3.sorted_ids[:8].tolist() == [S(1, 0)] + [S(2, 1)] * 3 + [S(0, 0)] + [S(2, 1)] * 3


def test_empty_expert_takes_no_block_unless_min_one_block():
    ids = np.array([[2]], np.int32)
    w = np.ones((1, 1), np.float32)
    r = oracle.moe_sorting(ids, w, 3, 2)
    assert r.num_valid_ids.tolist() == [2, 1]
    assert r.sorted_expert_ids[:1].tolist() == [2]
    v = oracle.moe_sorting(ids, w, 3, 2, min_one_block=True)
    assert v.num_valid_ids.tolist() == [6, 1]
    assert v.sorted_expert_ids[:3].tolist() == [0, 1, 2]
    assert v.sorted_ids[:6].tolist() == [S(1, 1)] * 4 + [S(0, 0), S(1, 1)]


def test_weights_are_copied_bit_exactly():
    bits = np.array([[0x7FC00001, 0x80000000, 0x00000001, 0xFF800000]], np.uint32)
    ids = np.array([[3, 2, 1, 0]], np.int32)
    r = oracle.moe_sorting(ids, bits.view(np.float32), 4, 1)
    assert r.sorted_weights[:4].view(np.uint32).tolist() == [0xFF800000, 0x00000001, 0x80000000, 0x7FC00001]


def test_topk_at_least_128_packs_into_the_sign_bit():
    E, k = 130, 130
    ids = np.arange(k, dtype=np.int32)[None, :]
    r = oracle.moe_sorting(ids, np.ones((1, k), np.float32), E, 2)
    packed = r.sorted_ids.view(np.uint32)
    assert packed[2 * 129] == (129 << 24) | 0  # expert 129: token 0, slot 129
    assert packed[1] == (130 << 24) | 1  # padding after expert 0: the sentinel


def test_t_zero():
    r = oracle.moe_sorting(np.zeros((0, 9), np.int32), np.zeros((0, 9), np.float32), 257, 32)
    assert r.num_valid_ids.tolist() == [0, 0]
    assert len(r.sorted_ids) == 257 * 32 - 9


def test_min_one_block_overflow_is_a_contract_violation():
    with pytest.raises(oracle.ContractViolation, match="min_one_block"):
        oracle.moe_sorting(np.zeros((0, 2), np.int32), np.zeros((0, 2), np.float32), 4, 8, min_one_block=True)
