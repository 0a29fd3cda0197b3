"""Cases: deterministic from their seed, named, serializable, and honest about their knobs."""
import json

import numpy as np
import pytest
from hypothesis import given

from cases import Case
from fuzz.strategies import cases


@given(cases(max_tokens=2000))
def test_case_rebuilds_bit_for_bit_and_round_trips_json(case):
    again = Case.from_dict(json.loads(case.to_json()))
    assert again == case
    a, b = case.materialize(), again.materialize()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1].view(np.uint32), b[1].view(np.uint32))
    assert (a[2] is None) == (b[2] is None)
    ids = a[0]
    assert ids.shape == (case.tokens, case.topk) and ids.dtype == np.int32
    assert ((ids >= 0) & (ids < case.num_experts)).all()
    s = np.sort(ids, axis=1)
    assert (s[:, 1:] != s[:, :-1]).all()


def test_name_describes_the_case():
    assert Case(257, 9, 300, mask_mode="ratio", mask_ratio=0.5).name == "E257-k9-T300-u32-ep50"
    assert Case(8, 2, 5, unit_size=64, num_local_tokens=3, routing="hot", weights="special").name \
        == "E8-k2-T5-u64-M3-hot-wsp"


@pytest.mark.parametrize("mode,check", [
    ("all_on", lambda m: m.all()), ("all_off", lambda m: not m.any()),
    ("one", lambda m: m.sum() == 1), ("ratio", lambda m: 0 < m.sum() < len(m)),
])
def test_mask_modes(mode, check):
    _, _, mask, _ = Case(200, 4, 10, mask_mode=mode, seed=5).materialize()
    assert mask.dtype == np.int32 and check(mask)


def test_one_expert_routing_puts_every_row_on_one_expert():
    ids, *_ = Case(64, 6, 500, routing="one_expert", seed=2).materialize()
    common = set(ids[0])
    for row in ids:
        common &= set(row)
    assert len(common) >= 1


def test_special_weights_include_nan_inf_negative_zero_and_denormals():
    _, w, *_ = Case(64, 8, 400, weights="special", seed=3).materialize()
    bits = w.view(np.uint32)
    assert np.isnan(w).any() and np.isinf(w).any()
    assert (bits == 0x80000000).any() and ((bits & 0x7F800000) == 0).any()


@pytest.mark.parametrize("field,value", [("mask_mode", "half"), ("topk", 0), ("tokens", -1),
                                         ("num_local_tokens", 99), ("mask_ratio", 2.0),
                                         ("moe_buf", "float64x2"), ("moe_buf", "uint8x0"), ("moe_buf", "uint8"),
                                         ("hostile_ids", "nan"), ("hostile_count", 0), ("hostile_rows", "middle"),
                                         ("hostile_ids", "repeat")])
def test_bad_case_fields_are_named(field, value):
    kw = dict(num_experts=8, topk=2, tokens=10)
    kw[field] = value
    if (field, value) == ("hostile_ids", "repeat"):
        kw["topk"] = 1                          # a repeat needs a second slot
    with pytest.raises(ValueError, match=f"Case.{field}"):
        Case(**kw)


def test_moe_buf_layout_is_named_saved_only_when_not_default_and_built_as_asked():
    plain = Case(8, 2, 5)
    assert "moe_buf" not in plain.to_dict() and plain.moe_buf_array().shape == (5, 8)
    odd = Case(8, 2, 5, moe_buf="uint8x3")
    assert odd.name == "E8-k2-T5-u32-mbuint8x3"
    assert Case.from_dict(json.loads(odd.to_json())) == odd
    buf = odd.moe_buf_array()
    assert buf.dtype == np.uint8 and buf.shape == (5, 3) and buf.nbytes % 4 == 3


@pytest.mark.parametrize("kind", ["minus_one", "past_end", "far", "negative", "repeat", "mixed"])
@pytest.mark.parametrize("rows", ["any", "first", "last", "one"])
def test_hostile_ids_land_in_counted_rows_only_and_leave_the_rest_of_the_case(kind, rows):
    plain = Case(16, 4, 12, num_local_tokens=9, mask_mode="ratio", seed=7)
    hostile = Case(16, 4, 12, num_local_tokens=9, mask_mode="ratio", seed=7, hostile_ids=kind, hostile_count=3,
                   hostile_rows=rows)
    (ids, w, mask, _), (hids, hw, hmask, _) = plain.materialize(), hostile.materialize()
    np.testing.assert_array_equal(w.view(np.uint32), hw.view(np.uint32))
    np.testing.assert_array_equal(mask, hmask)
    changed = np.argwhere(ids != hids)
    assert 1 <= len(changed) <= 3 and (changed[:, 0] < 9).all()
    want = {"first": {0}, "last": {8}}.get(rows)
    if want is not None:
        assert set(changed[:, 0]) == want
    if rows == "one":
        assert len(set(changed[:, 0])) == 1
    if kind == "repeat":
        for row in set(changed[:, 0]):
            assert len(set(hids[row])) < 4
    elif kind != "mixed":
        planted = hids[ids != hids]
        assert ((planted < 0) | (planted >= 16)).all()


def test_hostile_mode_is_named_saved_only_when_set_and_plants_nothing_without_counted_rows():
    case = Case(8, 2, 5, hostile_ids="minus_one", hostile_count=2, hostile_rows="last")
    assert case.name == "E8-k2-T5-u32-hneg1x2-last" and case.hostile
    assert Case.from_dict(json.loads(case.to_json())) == case
    assert not {"hostile_ids", "hostile_count", "hostile_rows"} & set(Case(8, 2, 5).to_dict())
    empty = Case(8, 2, 5, num_local_tokens=0, hostile_ids="far")
    np.testing.assert_array_equal(empty.materialize()[0], Case(8, 2, 5, num_local_tokens=0).materialize()[0])
