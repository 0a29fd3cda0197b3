"""The invalid-ids policies of the golden model: reject (the default), drop, and what
the robustness clause checks on outputs."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import oracle
from cases import HOSTILE_KINDS, HOSTILE_ROWS, Case

VALUE_KINDS = ("minus_one", "past_end", "far", "negative")


@st.composite
def dropping_cases(draw):
    """Cases whose counted rows hold ids outside [0, E) (never a repeated expert)."""
    E = draw(st.integers(1, 300))
    k = draw(st.integers(1, min(E, 12)))
    T = draw(st.integers(1, 80))
    local = draw(st.one_of(st.none(), st.integers(1, T)))
    return Case(E, k, T, draw(st.sampled_from((1, 4, 32))), local, draw(st.sampled_from(("none", "ratio", "one"))),
                seed=draw(st.integers(0, 2**32 - 1)), hostile_ids=draw(st.sampled_from(VALUE_KINDS)),
                hostile_count=draw(st.integers(1, 40)), hostile_rows=draw(st.sampled_from(HOSTILE_ROWS)))


def _as_masked_experts(case: Case):
    """The case's inputs with every id outside [0, E) in slot s sent to an extra, masked
    expert E + s (one per slot, so that a row keeps distinct experts)."""
    ids, w, mask, local = case.materialize()
    E, k = case.num_experts, case.topk
    m = case.tokens if local is None else local
    bad = (ids < 0) | (ids >= E)
    bad[m:] = False
    ids = np.where(bad, E + np.arange(k, dtype=np.int32), ids).astype(np.int32)
    mask = np.append(np.ones(E, np.int32) if mask is None else mask, np.zeros(k, np.int32))
    return dict(topk_ids=ids, topk_weights=w, num_experts=E + k, unit_size=case.unit_size, expert_mask=mask,
                num_local_tokens=local)


@given(dropping_cases())
def test_drop_is_a_masked_expert(case):
    ids, w, mask, local = case.materialize()
    got = oracle.moe_sorting(ids, w, case.num_experts, case.unit_size, mask, local, invalid_ids="drop")
    ref = oracle.moe_sorting(**_as_masked_experts(case))
    n = ref.valid_length
    assert got.num_valid_ids.tolist() == ref.num_valid_ids.tolist()
    assert got.sorted_ids[:n].tolist() == ref.sorted_ids[:n].tolist()
    assert got.sorted_weights[:n].view(np.uint32).tolist() == ref.sorted_weights[:n].view(np.uint32).tolist()
    assert got.sorted_expert_ids[: n // case.unit_size].tolist() == ref.sorted_expert_ids[: n // case.unit_size].tolist()
    assert len(got.sorted_ids) == oracle.max_num_tokens_padded(case.tokens, case.topk, case.num_experts,
                                                                case.unit_size)
    loops = oracle.moe_sorting_loops(ids, w, case.num_experts, case.unit_size, mask, local, invalid_ids="drop")
    assert oracle.compare(got, loops).ok


@given(st.builds(Case, num_experts=st.integers(2, 64), topk=st.just(2), tokens=st.integers(1, 30),
                 seed=st.integers(0, 2**32 - 1)))
def test_drop_changes_nothing_for_valid_ids(case):
    ids, w, mask, local = case.materialize()
    assert oracle.compare(oracle.moe_sorting(ids, w, case.num_experts),
                          oracle.moe_sorting(ids, w, case.num_experts, invalid_ids="drop")).ok


def test_reject_is_the_default_and_names_the_id():
    ids, w, _, _ = Case(8, 2, 4, hostile_ids="minus_one", hostile_rows="last", seed=1).materialize()
    with pytest.raises(oracle.ContractViolation, match=r"topk_ids\[3, \d\] = -1 is outside"):
        oracle.moe_sorting(ids, w, 8)
    with pytest.raises(oracle.ContractViolation, match=r"topk_ids\[3, \d\] = -1"):
        oracle.moe_sorting_loops(ids, w, 8)


def test_drop_still_refuses_a_repeated_expert():
    ids, w, _, _ = Case(8, 3, 4, hostile_ids="repeat", hostile_rows="first", seed=2).materialize()
    with pytest.raises(oracle.ContractViolation, match=r"row 0 repeats expert .* drops ids outside"):
        oracle.moe_sorting(ids, w, 8, invalid_ids="drop")


def test_several_minus_ones_in_a_row_are_no_repeated_expert():
    ids = np.array([[-1, 3, -1], [2, -1, -1]], np.int32)
    r = oracle.moe_sorting(ids, np.ones((2, 3), np.float32), 4, 1, invalid_ids="drop")
    assert r.num_valid_ids.tolist() == [2, 2]
    assert oracle.census(ids, 2, 4) == oracle.IdCensus(out_of_range=4, repeated_rows=0)


def test_the_model_defines_no_outputs_for_unchecked():
    ids, w, _, _ = Case(8, 2, 4).materialize()
    for policy in ("unchecked", "ignore", None):
        with pytest.raises(oracle.ContractViolation, match="invalid_ids: ="):
            oracle.moe_sorting(ids, w, 8, invalid_ids=policy)
    inputs = oracle.normalize_inputs(ids, w, 8, invalid_ids="unchecked")
    with pytest.raises(oracle.ContractViolation, match="invalid_ids"):
        oracle.sort_validated(inputs)


def test_unchecked_inputs_still_follow_every_other_rule():
    ids, w, _, _ = Case(8, 2, 4, hostile_ids="mixed", hostile_count=3, seed=3).materialize()
    inputs = oracle.normalize_inputs(ids, w, 8, invalid_ids="unchecked")
    assert inputs.invalid_ids == "unchecked"
    with pytest.raises(oracle.ContractViolation, match="unit_size"):
        oracle.normalize_inputs(ids, w, 8, unit_size=3, invalid_ids="unchecked")
    with pytest.raises(oracle.ContractViolation, match="num_local_tokens"):
        oracle.normalize_inputs(ids, w, 8, num_local_tokens=5, invalid_ids="unchecked")


@pytest.mark.parametrize("kind", HOSTILE_KINDS[1:])
def test_census_picks_the_weakest_policy(kind):
    case = Case(16, 4, 10, hostile_ids=kind, hostile_count=2, seed=4)
    ids = case.materialize()[0]
    found = oracle.census(ids, 10, 16)
    assert not found.clean
    policy = oracle.needed_policy(found)
    assert policy == ("unchecked" if found.repeated_rows else "drop")
    if policy == "drop":
        oracle.moe_sorting(ids, case.materialize()[1], 16, invalid_ids="drop")
    assert oracle.census(ids, 0, 16).clean       # rows past M do not count
    assert oracle.needed_policy(oracle.census(Case(16, 4, 10).materialize()[0], 10, 16)) == "reject"


@dataclasses.dataclass
class _Out:
    num_valid_ids: np.ndarray
    sorted_ids: np.ndarray = None
    sorted_expert_ids: np.ndarray = None
    canary: dict = None


def _inputs(T=3, k=2, E=4, unit=4, mask=None):
    ids = np.tile(np.arange(k, dtype=np.int32), (T, 1))
    return oracle.normalize_inputs(ids, np.ones((T, k), np.float32), E, unit, mask)


def _result(inputs, **changes):
    """The golden model's outputs for ``inputs`` as a kernel result, with ``changes``."""
    r = oracle.sort_validated(inputs)
    out = _Out(r.num_valid_ids.copy(), r.sorted_ids.copy(), r.sorted_expert_ids.copy())
    for name, (index, value) in changes.items():
        getattr(out, name)[index] = value
    return out


def test_robustness_holds_for_the_golden_answer():
    for inputs in (_inputs(), _inputs(mask=np.array([1, 0, 1, 1], np.int32))):
        assert oracle.check_robustness(_result(inputs), inputs) == []


def test_robustness_checks_num_valid_ids_bounds():
    inputs = _inputs()                      # P = 3*2 + 4*4 - 2 = 20
    found = oracle.check_robustness(_result(inputs, num_valid_ids=(0, 21)), inputs)
    assert [m.detail for m in found] == ["padded length 21 is outside [0, P=20]"]
    found = oracle.check_robustness(_result(inputs, num_valid_ids=(1, 2)), inputs)
    assert [(m.kind, m.index, m.expected, m.actual) for m in found] == [("num_valid_bounds", 1, 3, 2)]


def test_robustness_checks_the_indices_the_gemm_uses():
    inputs = _inputs()
    (m,) = oracle.check_robustness(_result(inputs, sorted_ids=(1, (0 << 24) | 3)), inputs)   # token 3 = M
    assert (m.output, m.kind, m.index, m.token, m.slot) == ("sorted_ids", "index_bounds", 1, 3, 0)
    (m,) = oracle.check_robustness(_result(inputs, sorted_ids=(0, (2 << 24) | 1)), inputs)   # slot 2 = topk
    assert m.slot == 2 and "slot < topk=2" in m.detail
    assert oracle.check_robustness(_result(inputs, sorted_ids=(19, 5)), inputs) == []        # past the valid length
    masked = _inputs(mask=np.array([1, 0, 1, 0], np.int32))                                   # E_local = 2
    (m,) = oracle.check_robustness(_result(masked, sorted_expert_ids=(0, 2)), masked)
    assert (m.output, m.kind, m.block, m.actual) == ("sorted_expert_ids", "index_bounds", 0, 2)
    (m,) = oracle.check_robustness(_result(masked, sorted_expert_ids=(0, -1)), masked)
    assert "outside [0, E_local=2)" in m.detail


def test_robustness_checks_red_zones():
    inputs = _inputs()
    out = _result(inputs)
    poison = np.uint32(0x7EADBEEF)
    raw = np.full(len(out.sorted_ids) + 2, poison, np.uint32).view(np.int32)
    raw[: len(out.sorted_ids)] = out.sorted_ids
    out.canary = {"raw": {"sorted_ids": raw}, "poison": {"sorted_ids": poison},
                  "lengths": {"sorted_ids": len(out.sorted_ids)}}
    assert oracle.check_robustness(out, inputs) == []
    raw[len(out.sorted_ids)] = 0             # one past the end
    (m,) = oracle.check_robustness(out, inputs)
    assert (m.output, m.kind, m.index) == ("sorted_ids", "red_zone", 20)
