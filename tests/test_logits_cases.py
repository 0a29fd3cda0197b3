"""Router cases (``cases.LogitsCase``), their strategy, logits fixtures and the gating-contract
judge, on the torch reference and a planted router (no FlyDSL checkout needed)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

import regressions
from cases import DISTRIBUTIONS, LOGIT_DTYPES, LogitsCase, RouterInputs, case_from_dict
from cases.logits import logits_bits
from fuzz.judge_logits import judge_router, run_logits_case
from fuzz.strategies import logits_cases
from kernels.registry import run as run_sort
from regressions.fixtures import FixtureError, load, load_all, save
from regressions.logits_fixtures import LogitsFixture

from .fuzz.campaign_helpers import campaign_args, failure_fixtures, fuzz, record


@pytest.mark.parametrize("dtype", LOGIT_DTYPES)
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_a_case_rebuilds_the_same_bits_from_its_seed(dtype, distribution):
    case = LogitsCase(16, 4, 9, dtype, distribution, seed=7)
    a, b = case.inputs(), LogitsCase.from_dict(json.loads(case.to_json())).inputs()
    assert a.logits_bits.dtype == (np.uint32 if dtype == "f32" else np.uint16)
    assert np.array_equal(a.logits_bits, b.logits_bits)
    assert not np.array_equal(a.logits_bits, LogitsCase(16, 4, 9, dtype, distribution, seed=8).inputs().logits_bits)


def test_distributions_hold_what_they_promise():
    x = LogitsCase(32, 4, 64, "f32", "ties", seed=1).inputs().logits().numpy()
    assert all((row == row.max()).sum() >= 2 for row in x)                 # the row's top is tied exactly
    x = LogitsCase(32, 4, 64, "f32", "near_ties", seed=1).inputs().logits().numpy()
    top2 = np.sort(x, axis=1)[:, -2:]
    assert (np.abs(top2[:, 1] - top2[:, 0]) <= 4 * np.spacing(np.abs(top2[:, 1]))).mean() > 0.5
    x = LogitsCase(32, 4, 200, "f32", "nonfinite", seed=1).inputs().logits().numpy()
    assert np.isnan(x).any() and np.isposinf(x).any() and (np.isneginf(x).all(axis=1)).any()
    x = LogitsCase(32, 4, 64, "bf16", "dominant", seed=1).inputs().logits().float().numpy()
    assert len(set(np.argmax(x, axis=1).tolist())) == 1


def test_bad_knobs_are_refused_naming_the_field():
    for kwargs, field in (({"dtype": "f64"}, "dtype"), ({"distribution": "wild"}, "distribution"),
                          ({"num_local_tokens": 9}, "num_local_tokens"), ({"scale": 0.0}, "scale")):
        with pytest.raises(ValueError, match=f"LogitsCase.{field}"):
            LogitsCase(8, 2, 4, **kwargs)
    assert case_from_dict(LogitsCase(8, 2, 4).to_dict()) == LogitsCase(8, 2, 4)
    assert case_from_dict({"num_experts": 8, "topk": 2, "tokens": 4}).name == "E8-k2-T4-u32"


def test_shrinking_moves_to_small_and_plain_cases():
    minimal = find(logits_cases(max_tokens=64), lambda c: c.tokens >= 3 and c.dtype == "bf16",
                   settings=settings(max_examples=300, database=None, suppress_health_check=list(HealthCheck)))
    assert (minimal.num_experts, minimal.topk, minimal.tokens, minimal.distribution, minimal.scale,
            minimal.renormalize, minimal.mask_mode, minimal.num_local_tokens, minimal.local_tokens_on_device) == \
        (2, 1, 3, "plain", 1.0, True, "none", None, False)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(logits_cases(max_tokens=40))
def test_the_torch_reference_agrees_with_the_golden_gating(case):
    outcome = run_logits_case(case, "torch-router-cpu")
    assert outcome.ok or not outcome.judged, outcome.summary


def test_a_wrong_tie_rule_fails_with_a_signature_and_the_judge_names_the_row():
    inputs = LogitsCase(8, 2, 3, "f32", "plain", seed=1).inputs()
    assert judge_router("torch-router-cpu", inputs).ok
    j = judge_router("planted-router-high-tie", inputs)
    assert not j.ok and j.judged
    (failure,) = j.failures()
    assert failure.signature.key.startswith("planted-router-high-tie/-/planted/")
    assert "gating-contract" in failure.summary


def test_a_sort_backend_refuses_logits_and_a_logits_backend_refuses_ids():
    with pytest.raises(ValueError, match="takes logits"):
        run_sort("torch-router-cpu", np.zeros((1, 1), np.int32), np.zeros((1, 1), np.float32), 4)
    with pytest.raises(ValueError, match="takes ids"):
        judge_router("torch-cpu", LogitsCase(4, 1, 1).inputs())


SPECIAL = np.array([np.nan, -0.0, np.inf, -np.inf, 1e-40, 3.0], np.float32)


@pytest.mark.parametrize("dtype", LOGIT_DTYPES)
def test_a_logits_fixture_replays_bit_for_bit(tmp_path, dtype):
    bits = logits_bits(np.tile(SPECIAL, (2, 1)), dtype)
    bits[0, 0] |= 0x1 << (8 if dtype != "f32" else 3)      # a NaN payload
    inputs = RouterInputs(bits, dtype, 2, 16, np.array([1, 0, 1, 1, 1, 1], np.int32), 1, True, False)
    fx = LogitsFixture("x", "edge", inputs, note="n", case=None)
    path = save(fx, tmp_path)
    back = load(path)
    assert back.id == fx.id and back.takes == "logits"
    assert np.array_equal(back.inputs.logits_bits, bits) and back.inputs.logits_bits.dtype == bits.dtype
    assert (back.inputs.dtype, back.inputs.topk, back.inputs.unit_size, back.inputs.num_local_tokens,
            back.inputs.local_tokens_on_device, back.inputs.renormalize) == (dtype, 2, 16, 1, True, False)
    assert np.array_equal(back.inputs.expert_mask, inputs.expert_mask)
    assert load_all(tmp_path) == [] and len(load_all(tmp_path, takes="logits")) == 1


def test_a_large_logits_fixture_goes_to_npz_and_back(tmp_path):
    inputs = LogitsCase(64, 8, 40, "bf16", seed=3).inputs()
    back = load(save(LogitsFixture("big", "edge", inputs), tmp_path))
    assert next(tmp_path.glob("*.npz")) and np.array_equal(back.inputs.logits_bits, inputs.logits_bits)


def test_a_bad_logits_fixture_names_the_field(tmp_path):
    data = json.loads(save(LogitsFixture("x", "edge", LogitsCase(4, 1, 2).inputs()), tmp_path).read_text())
    for field, change in (("params.logits_dtype", {"logits_dtype": "f8"}), ("inputs.logits_bits", {"tokens": 3}),
                          ("params.topk", {"topk": 5}), ("params.renormalize", {"renormalize": 1})):
        bad = dict(data, params=dict(data["params"], **change))
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(FixtureError, match=field.replace(".", r"\.")):
            load(tmp_path / "bad.json")


def test_old_fixtures_load_unchanged_and_apart_from_logits():
    ids = load_all()
    assert ids and all(f.takes == "ids" for f in ids)
    logits = load_all(takes="logits")
    assert logits and all(f.takes == "logits" for f in logits)
    assert len(load_all(takes=None)) == len(ids) + len(logits)
    assert {f.failure["known_finding"] for f in logits} <= {e.id for e in regressions.known_findings.default().entries}


def test_the_campaign_strategy_finds_the_planted_router_bug_and_its_fixture_replays(tmp_path, capsys):
    """The fast form of the campaign test below, in this process: the campaign's strategy for
    the planted router (a fixed derandomized search) meets a failing case, the campaign's
    saver writes its fixture, and ``fuzz replay`` fails it on the planted router alone."""
    from fuzz.__main__ import build_parser
    from fuzz.__main__ import main as fuzz_main
    from fuzz.campaign.worker import logits_strategy, save_failure

    config = build_parser().parse_args(["run", "--backend", "planted-router-high-tie"])   # the campaign's defaults
    strategy = logits_strategy(config, "planted-router-high-tie", None)
    case = find(strategy, lambda c: not run_logits_case(c, "planted-router-high-tie").ok,
                settings=settings(max_examples=50, database=None, derandomize=True, phases=[Phase.generate],
                                  suppress_health_check=list(HealthCheck)))
    saved = save_failure(run_logits_case(case, "planted-router-high-tie"), tmp_path, shrunk=True)
    assert load(saved).takes == "logits"
    capsys.readouterr()
    assert fuzz_main(["replay", "--fixture", str(saved), "--backend", "planted-router-high-tie",
                      "--backend", "torch-router-cpu"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"planted-router-high-tie@-\s+FAIL", out) and re.search(r"torch-router-cpu@-\s+pass", out), out


@pytest.mark.nightly
def test_campaign_finds_a_router_bug_and_its_fixture_replays(tmp_path):
    run = fuzz(*campaign_args(tmp_path, "--backend", "planted-router-high-tie", "--cases", "20"), timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    saved = failure_fixtures(tmp_path)[0]
    fx = load(saved)
    assert fx.takes == "logits" and fx.failure["backend"] == "planted-router-high-tie"
    assert record(tmp_path)["stats"]["by_path"]
    replay = fuzz("replay", "--fixture", saved, "--backend", "planted-router-high-tie", "--backend", "torch-router-cpu")
    assert replay.returncode == 1 and re.search(r"planted-router-high-tie@-\s+FAIL", replay.stdout), replay.stdout
    assert re.search(r"torch-router-cpu@-\s+pass", replay.stdout), replay.stdout
