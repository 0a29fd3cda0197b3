"""Inputs outside the contract raise ContractViolation naming field, row, slot and value."""
import numpy as np
import pytest
import torch
from hypothesis import given

import oracle
from fuzz.strategies import contract_violations


@given(contract_violations())
def test_every_violation_is_reported_with_its_field(example):
    kwargs, field = example
    with pytest.raises(oracle.ContractViolation) as info:
        oracle.moe_sorting(**kwargs)
    assert info.value.field == field
    assert field.split(".")[0] in str(info.value)
    # the loop model applies the same checks
    with pytest.raises(oracle.ContractViolation):
        oracle.moe_sorting_loops(**kwargs)


def _ok(T=4, k=2, E=8):
    ids = np.tile(np.arange(k, dtype=np.int32), (T, 1))
    return ids, np.ones((T, k), np.float32), E


def test_out_of_range_id_names_row_slot_and_value():
    ids, w, E = _ok()
    ids[2, 1] = 600
    with pytest.raises(oracle.ContractViolation, match=r"topk_ids\[2, 1\] = 600 .*num_experts=8"):
        oracle.moe_sorting(ids, w, E)


def test_repeated_expert_names_row_slots_and_value():
    ids, w, E = _ok(k=3)
    ids[3] = [5, 1, 5]
    with pytest.raises(oracle.ContractViolation, match=r"row 3 repeats expert 5 in slots \[0, 2\]"):
        oracle.moe_sorting(ids, w, E)


def test_rows_past_m_are_not_checked():
    ids, w, E = _ok()
    ids[3] = [7, 7]
    oracle.moe_sorting(ids, w, E, num_local_tokens=3)
    with pytest.raises(oracle.ContractViolation):
        oracle.moe_sorting(ids, w, E, num_local_tokens=4)


def test_token_count_at_two_to_the_24_is_rejected():
    T = 1 << 24
    ids = np.zeros((T, 1), np.int32)
    with pytest.raises(oracle.ContractViolation, match=r"16777216 does not fit the 24-bit token field"):
        oracle.moe_sorting(ids, np.zeros((T, 1), np.float32), 1, 1)


def test_torch_inputs_checked_for_dtype_and_contiguity():
    ids = torch.zeros((4, 2), dtype=torch.int64)
    with pytest.raises(oracle.ContractViolation, match="topk_ids: dtype is int64"):
        oracle.moe_sorting(ids, torch.ones(4, 2), 8)
    ids = torch.arange(8, dtype=torch.int32).reshape(2, 4).t()
    with pytest.raises(oracle.ContractViolation, match="topk_ids: is not contiguous"):
        oracle.moe_sorting(ids, torch.ones(4, 2), 8)


def test_torch_and_numpy_inputs_give_the_same_result():
    ids, w, E = _ok()
    a = oracle.moe_sorting(ids, w, E)
    b = oracle.moe_sorting(torch.from_numpy(ids), torch.from_numpy(w), E)
    assert oracle.compare(a, b).ok
