"""Campaigns with invalid expert ids: off by default, drawn only for backends that declare
a policy for them, memory-safety failures saved as fixtures that record their policy."""
import json

import numpy as np
import pytest

import regressions
from cases import Case
from fuzz.judge import case_kwargs
from regressions.fixtures import Fixture, FixtureError, load, save

from .campaign_helpers import campaign_args, failure_fixtures, fuzz, record


def test_campaigns_draw_no_hostile_ids_by_default(tmp_path):
    run = fuzz(*campaign_args(tmp_path, "--backend", "torch-cpu", "--cases", "25"))
    assert run.returncode == 0, run.stdout + run.stderr
    stats = record(tmp_path)["stats"]
    assert stats["policies"] == {"reject": stats["cases"]} and not stats["hostile"]
    assert record(tmp_path)["config"]["hostile_cases"] == "off" and "hostile ids:" not in run.stdout


def test_hostile_only_campaign_on_a_dropping_backend(tmp_path):
    run = fuzz(*campaign_args(tmp_path, "--backend", "torch-cpu", "--cases", "25", "--hostile-cases", "only"))
    assert run.returncode == 0, run.stdout + run.stderr
    stats = record(tmp_path)["stats"]
    assert sum(stats["hostile"].values()) == stats["cases"] >= 25
    assert set(stats["policies"]) <= {"drop", "unchecked"} and "drop" in stats["policies"]
    assert "hostile ids: " in run.stdout and "memory-safety failures: 0" in run.stdout


def test_hostile_cases_on_draws_about_one_case_in_ten(tmp_path):
    run = fuzz(*campaign_args(tmp_path, "--backend", "loop-model", "--cases", "200", "--hostile-cases", "on",
                              "--max-tokens", "64"))
    assert run.returncode == 0, run.stdout + run.stderr
    stats = record(tmp_path)["stats"]
    assert 4 <= sum(stats["hostile"].values()) <= 50, stats["hostile"]


def test_hostile_only_refuses_a_backend_that_declares_only_reject(tmp_path):
    run = fuzz(*campaign_args(tmp_path, "--backend", "planted-sentinel-t", "--hostile-cases", "only"))
    assert run.returncode == 2 and "declare only invalid_ids='reject'" in run.stderr, run.stderr


@pytest.mark.interpreter
def test_planted_write_past_the_end_is_found_saved_with_its_policy_and_replayed(tmp_path):
    run = fuzz(*campaign_args(tmp_path, "--backend", "planted-minus-one", "--cases", "40", "--seed", "2",
                              "--hostile-cases", "only", "--max-tokens", "128"), timeout=900)
    assert run.returncode == 1, run.stdout + run.stderr
    saved = failure_fixtures(tmp_path)
    assert saved, run.stdout
    for path in saved:
        data = json.loads(path.read_text())
        sig = data["failure"]["signature"]
        assert sig["output"] == "memory-safety" and sig["kind"] == "red_zone:sorted_ids", sig
        assert data["invalid_ids"] in ("drop", "unchecked") and data["case"]["hostile_ids"] != "none"
        fixture = load(path)
        assert (fixture.topk_ids == -1).any() and fixture.invalid_ids == data["invalid_ids"]
    assert "memory-safety failures: " in run.stdout
    replay = fuzz("replay", "--fixture", saved[0], "--backend", "planted-minus-one")
    assert replay.returncode == 1 and "FAIL" in replay.stdout and "memory safety: red_zone" in replay.stdout
    assert fuzz("replay", "--fixture", saved[0], "--backend", "torch-cpu").returncode == 0
    skipped = fuzz("replay", "--fixture", saved[0], "--backend", "planted-sentinel-t")
    assert skipped.returncode == 0 and " skip " in skipped.stdout, skipped.stdout


# ---------------------------------------------------------------- the fixture format
def _hostile_fixture(**case_kw):
    case = Case(16, 4, 6, **case_kw)
    kw = case_kwargs(case)
    policy = "unchecked" if case_kw.get("hostile_ids") == "repeat" else "drop"
    return Fixture(name=case.name, kind="failure", topk_ids=kw["topk_ids"], topk_weights=kw["topk_weights"],
                   num_experts=16, unit_size=32, case=case.to_dict(), invalid_ids=policy)


@pytest.mark.parametrize("kind", ["minus_one", "repeat"])
def test_a_fixture_records_the_policy_its_ids_need(tmp_path, kind):
    fixture = _hostile_fixture(hostile_ids=kind, hostile_count=2, seed=3)
    path = save(fixture, tmp_path)
    data = json.loads(path.read_text())
    assert data["invalid_ids"] == fixture.invalid_ids
    again = load(path)
    assert again.invalid_ids == fixture.invalid_ids and np.array_equal(again.topk_ids, fixture.topk_ids)
    data["invalid_ids"] = "reject"
    path.write_text(json.dumps(data))
    with pytest.raises(FixtureError, match="invalid_ids: = 'reject', but the ids of its counted rows need") as info:
        load(path)
    assert info.value.field == "invalid_ids"
    data["invalid_ids"] = "ignore"
    path.write_text(json.dumps(data))
    with pytest.raises(FixtureError, match="expected one of"):
        load(path)


def test_fixtures_with_valid_ids_record_no_policy(tmp_path):
    ids, w, _, _ = Case(16, 4, 6, seed=1).materialize()
    path = save(Fixture(name="plain", kind="edge", topk_ids=ids, topk_weights=w, num_experts=16, unit_size=32),
                tmp_path)
    assert "invalid_ids" not in json.loads(path.read_text()) and load(path).invalid_ids == "reject"
    assert all(f.invalid_ids in ("reject", "drop", "unchecked") for f in regressions.load_all())


# ---------------------------------------------------------------- where a hostile finding triggers
def test_explain_varies_the_kind_and_rows_of_invalid_ids():
    from fuzz.explain import variants

    base = Case(8, 1, 5, hostile_ids="minus_one", hostile_rows="first")
    axes = {}
    for axis, value, case in variants(base, (3,)):
        axes.setdefault(axis, []).append(value)
        assert case.hostile and case.topk <= case.num_experts
    assert axes["ids"] == ["minus_one", "past_end", "far", "negative", "mixed"]   # no repeat with topk 1
    assert axes["rows"] == ["any", "first", "last", "one"]
    assert "ids" not in {axis for axis, _, _ in variants(Case(8, 2, 5), (3,))}
    with_topk = {v for a, v, _ in variants(Case(8, 2, 5, hostile_ids="repeat"), (3,)) if a == "topk"}
    assert "1" not in with_topk                 # a repeat needs two slots
