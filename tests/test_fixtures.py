"""Regression fixtures: format round trip, atomic content-addressed writes,
and a loader that rejects malformed files with the field named."""
import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import regressions
from cases import Case
from regressions.fixtures import Fixture, load, save


def _fixture(T=5, k=3, E=16, **kw):
    ids, w, mask, local = Case(E, k, T, weights="special", mask_mode="ratio", seed=T).materialize()
    return Fixture(name=f"t{T}", kind="failure", topk_ids=ids, topk_weights=w, num_experts=E,
                   unit_size=32, expert_mask=mask, num_local_tokens=local, **kw)


@pytest.mark.parametrize("T", [0, 5, 2000])  # 2000 * 3 entries go to an .npz
def test_round_trip_keeps_every_bit(tmp_path, T):
    f = _fixture(T)
    path = save(f, tmp_path)
    g = load(path)
    np.testing.assert_array_equal(g.topk_ids, f.topk_ids)
    np.testing.assert_array_equal(g.topk_weights.view(np.uint32), f.topk_weights.view(np.uint32))
    np.testing.assert_array_equal(g.expert_mask, f.expert_mask)
    assert g.id == f.id and (tmp_path / f"t{T}-{f.id}.npz").exists() == (T == 2000)


def test_same_content_same_file(tmp_path):
    a, b = save(_fixture(), tmp_path), save(_fixture(), tmp_path)
    assert a == b and len(list(tmp_path.glob("*.json"))) == 1


def _save_in_child(args):
    directory, T = args
    return str(save(_fixture(T), directory))


def test_concurrent_writers_never_leave_partial_files(tmp_path):
    with ProcessPoolExecutor(2) as pool:
        paths = list(pool.map(_save_in_child, [(tmp_path, T % 3 + 1) for T in range(12)]))
    assert len(set(paths)) == 3
    assert not list(tmp_path.glob(".*tmp"))
    for p in set(paths):
        load(p)


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d.pop("name"), "name"),
    (lambda d: d.update(format=7), "format"),
    (lambda d: d.update(kind="flaky"), "kind"),
    (lambda d: d["params"].update(num_experts="8"), "params.num_experts"),
    (lambda d: d["params"].update(topk=4), "inputs.topk_ids"),
    (lambda d: d["inputs"].update(topk_ids=[[1, 2], [3]]), "inputs.topk_ids"),
    (lambda d: d["inputs"].update(topk_weights_bits=[[-1, 0, 0]] * 5), "inputs.topk_weights_bits"),
    (lambda d: d.update(region=3), "region"),
    (lambda d: d["params"].update(num_local_tokens=1.5), "params.num_local_tokens"),
    (lambda d: d["params"].update(num_local_tokens_on_device="yes"), "params.num_local_tokens_on_device"),
])
def test_malformed_fixture_is_rejected_with_the_field_named(tmp_path, mutate, field):
    path = save(_fixture(), tmp_path)
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    with pytest.raises(regressions.FixtureError) as info:
        load(path)
    assert info.value.field == field and path.name in str(info.value)


def test_unreadable_json_is_rejected(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(regressions.FixtureError, match="unreadable JSON"):
        load(path)


def test_shipped_edge_fixtures_load():
    fixtures = regressions.load_all()
    assert len(fixtures) >= 8
    names = {f.name for f in fixtures}
    assert "E257-k9-T0-u32" in names and "E513-k9-T1000-u256" in names


def test_replay_uses_the_recorded_moe_buf_layout(tmp_path):
    plain = load(save(_fixture(case=Case(16, 3, 5).to_dict()), tmp_path))
    assert plain.moe_buf() is None
    odd = load(save(_fixture(case=Case(16, 3, 5, moe_buf="int8x3").to_dict()), tmp_path))
    buf = odd.moe_buf()
    assert buf.dtype == np.int8 and buf.shape == (5, 3)
