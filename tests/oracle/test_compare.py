"""The comparator: one test per kind of mismatch it reports."""
import copy

import numpy as np
import pytest

import oracle
from kernels.result import BackendResult

IDS = np.array([[0, 2], [1, 2], [2, 0], [1, 0]], np.int32)
W = np.arange(8, dtype=np.float32).reshape(4, 2) + 1


def expected():
    return oracle.moe_sorting(IDS, W, 3, 4)


def actual(**changes):
    e = expected()
    a = BackendResult(*(copy.deepcopy(getattr(e, n)) for n in
                        ("sorted_ids", "sorted_weights", "sorted_expert_ids", "num_valid_ids")),
                      moe_buf_zeroed=True, path="small", backend="test")
    for name, fn in changes.items():
        fn(getattr(a, name)) if callable(fn) else setattr(a, name, fn)
    return a


def test_identical_outputs_agree():
    v = oracle.compare(expected(), actual())
    assert v.ok and "agree" in v.summary and v.path == "small"


def test_value_mismatch_names_position_block_expert_token_and_slot():
    def swap(ids):
        ids[4], ids[5] = ids[5], ids[4]  # expert 1's two entries, out of order
    v = oracle.compare(expected(), actual(sorted_ids=swap))
    m = v.first
    assert (m.output, m.kind, m.index, m.block, m.expert) == ("sorted_ids", "value", 4, 1, 1)
    assert (m.token, m.slot) == (1, 0)
    assert "sorted_ids[4]" in v.summary and "path=small" in v.summary and "1 more mismatch" in v.summary
    # per-block ordering does not care about the order inside a block
    assert oracle.compare(expected(), actual(sorted_ids=swap, sorted_weights=swap), "per_block").ok


def test_weight_mismatch_is_bitwise():
    def flip_sign_of_zero(w):
        w[2] = -0.0  # padding must be +0.0
    v = oracle.compare(expected(), actual(sorted_weights=flip_sign_of_zero))
    assert v.first.output == "sorted_weights" and v.first.kind == "value" and v.first.index == 2
    assert "0x80000000" in v.summary


def test_block_set_mismatch_reports_missing_and_extra():
    e = expected()
    def replace(ids):
        ids[0] = (1 << 24) | 3  # token 3 slot 1 instead of token 0 slot 0
    v = oracle.compare(e, actual(sorted_ids=replace), "per_block")
    m = v.first
    assert (m.kind, m.block, m.expert, m.token, m.slot) == ("block_set", 0, 0, 0, 0)
    assert "missing 1" in m.detail and "extra 1" in m.detail


def test_block_expert_mismatch():
    def wrong(blocks):
        blocks[1] = 2
    v = oracle.compare(expected(), actual(sorted_expert_ids=wrong))
    assert (v.first.output, v.first.kind, v.first.block) == ("sorted_expert_ids", "value", 1)


def test_num_valid_mismatch():
    def short(n):
        n[1] = 3
    v = oracle.compare(expected(), actual(num_valid_ids=short))
    assert (v.first.output, v.first.kind, v.first.index) == ("num_valid_ids", "num_valid", 1)
    assert "M: expected 4, got 3" in v.summary


def test_wrong_length_or_dtype():
    v = oracle.compare(expected(), actual(sorted_ids=expected().sorted_ids[:-1]))
    assert v.first.kind == "length"
    v = oracle.compare(expected(), actual(sorted_weights=expected().sorted_weights.astype(np.float64)))
    assert v.first.kind == "length" and "float64" in v.summary


def test_moe_buf_not_zeroed():
    v = oracle.compare(expected(), actual(moe_buf_zeroed=False))
    assert v.first.kind == "moe_buf"


def _canary_result(write_past=False, write_zone=False):
    e = expected()
    a = actual()
    valid = e.valid_length
    raw = {}
    lengths = {}
    for name in ("sorted_ids", "sorted_weights", "sorted_expert_ids", "num_valid_ids"):
        arr = getattr(a, name)
        buf = np.full(len(arr) + 4, 0x7EADBEEF, np.uint32)
        extent = {"sorted_expert_ids": valid // 4, "num_valid_ids": 2}.get(name, valid)
        buf[:extent] = arr[:extent].view(np.uint32)
        raw[name], lengths[name] = buf.view(arr.dtype), len(arr)
    if write_past:
        raw["sorted_ids"][valid] = 0
    if write_zone:
        raw["sorted_weights"][lengths["sorted_weights"] + 1] = 1.0
    a.canary = {"raw": raw, "poison": {n: np.uint32(0x7EADBEEF) for n in raw}, "lengths": lengths}
    return a


def test_canary_clean():
    assert oracle.compare(expected(), _canary_result(), canary=True).ok


def test_canary_write_past_valid_extent():
    v = oracle.compare(expected(), _canary_result(write_past=True), canary=True)
    assert (v.first.output, v.first.kind, v.first.index) == ("sorted_ids", "past_extent", 12)  # 4 + 4 + 4 rows


def test_canary_write_into_red_zone():
    v = oracle.compare(expected(), _canary_result(write_zone=True), canary=True)
    m = v.first
    assert (m.output, m.kind) == ("sorted_weights", "red_zone")
    assert m.index == len(expected().sorted_weights) + 1


def test_canary_without_raw_buffers_is_an_error():
    with pytest.raises(ValueError, match="red_zone"):
        oracle.compare(expected(), actual(), canary=True)


def test_verdict_is_serializable_and_has_a_signature():
    import json
    def bad(ids):
        ids[0] = 5
    v = oracle.compare(expected(), actual(sorted_ids=bad))
    assert v.signature() == ("sorted_ids", "value")
    assert json.loads(json.dumps(v.to_dict()))["ok"] is False
