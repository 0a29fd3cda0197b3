"""Invalid expert ids end to end: each policy on every backend that declares it, the
memory-safety judgement, and ``reject`` as the default everywhere.

A backend declares the policies it supports (``Backend.invalid_ids``): under
``drop`` its outputs are compared with the golden model's ``drop`` answer,
under ``unchecked`` only memory safety is judged (red zones, ``num_valid_ids``
bounds, termination, the interpreter's memory-safety findings).  The
test-only ``planted-minus-one`` backend writes one past ``sorted_ids`` for
every id of -1: it must fail as a memory-safety failure on each of its paths,
through the harness's red-zone canary and, without a red zone, through the
interpreter's report of an access outside every allocation (its sanitizer off).
"""
import time

import numpy as np
import pytest
from hypothesis import given

import kernels
import oracle
from cases import Case
from fuzz.judge import judge_inputs, judge_run, run_case
from fuzz.signature import MEMORY_SAFETY
from fuzz.strategies import cases
from kernels import emu
from kernels.registry import Backend, get, register
from kernels.targets import TARGET_NAMES
from tests.backends.planted import SMALL_LIMIT

HOSTILE = {  # one case per policy a run can take, small enough for every backend
    "drop": Case(16, 4, 6, hostile_ids="minus_one", hostile_count=3, seed=1),
    "drop-far": Case(16, 4, 6, mask_mode="ratio", hostile_ids="far", hostile_count=2, hostile_rows="last", seed=2),
    "unchecked": Case(16, 4, 6, hostile_ids="mixed", hostile_count=6, seed=5),
}


def _kwargs(case):
    ids, w, mask, local = case.materialize()
    return dict(topk_ids=ids, topk_weights=w, num_experts=case.num_experts, unit_size=case.unit_size,
                expert_mask=mask, num_local_tokens=local)


def test_hostile_cases_need_the_policies_they_claim():
    needed = {name: oracle.needed_policy(oracle.census(_kwargs(c)["topk_ids"], c.tokens, c.num_experts))
              for name, c in HOSTILE.items()}
    assert needed == {"drop": "drop", "drop-far": "drop", "unchecked": "unchecked"}


# ---------------------------------------------------------------- each policy on each backend
def test_reject_refuses_and_undeclared_policies_are_named(backend_name):
    b = get(backend_name)
    kw = _kwargs(HOSTILE["drop"])
    with pytest.raises(oracle.ContractViolation, match=r"topk_ids\[\d+, \d\] = -1"):
        kernels.run(backend_name, **kw, target=b.targets[0])
    for policy in set(oracle.INVALID_ID_POLICIES) - set(b.invalid_ids):
        with pytest.raises(ValueError, match=f"invalid_ids='{policy}': backend '{backend_name}' supports"):
            kernels.run(backend_name, **kw, target=b.targets[0], invalid_ids=policy)


@pytest.mark.parametrize("name", ["drop", "drop-far"])
def test_drop_matches_the_golden_model(backend_name, name):
    b = get(backend_name)
    if "drop" not in b.invalid_ids:
        pytest.skip(f"{backend_name} declares {b.invalid_ids}, not drop")
    for target in b.targets:
        j = judge_inputs(backend_name, _kwargs(HOSTILE[name]), target)
        assert j.invalid_ids == "drop" and j.judged and j.ok, j.summary


def test_unchecked_is_judged_on_memory_safety_alone(backend_name):
    b = get(backend_name)
    if "unchecked" not in b.invalid_ids:
        pytest.skip(f"{backend_name} declares {b.invalid_ids}, not unchecked")
    for target in b.targets:
        j = judge_inputs(backend_name, _kwargs(HOSTILE["unchecked"]), target, seconds=600)
        assert j.invalid_ids == "unchecked" and not j.judged, j.summary
        assert j.ok, j.summary                # known findings count as known, as on valid input
        r = kernels.run(backend_name, **_kwargs(HOSTILE["unchecked"]), target=target, invalid_ids="unchecked")
        assert 0 <= r.num_valid_ids[0] <= len(r.sorted_ids) and r.num_valid_ids[1] == 6


# ---------------------------------------------------------------- the suite's own kernels
OWN = "flydsl-own"


def _own_cases():
    from kernels.moesort import path_thresholds

    out = []
    for target in TARGET_NAMES:
        th = path_thresholds(257, 9, 32, target)
        for path, T in (("small", th.medium - 1), ("medium", th.medium), ("large", th.large)):
            for kind in ("minus_one", "mixed", "repeat"):
                out.append(pytest.param(target, path, Case(257, 9, T, mask_mode="ratio" if kind == "mixed" else "none",
                                                           hostile_ids=kind, hostile_count=7, seed=T),
                                        id=f"{target}-{path}-{kind}"))
    return out


@pytest.mark.interpreter
@pytest.mark.parametrize("target,path,case", _own_cases())
def test_own_kernels_pass_hostile_cases_on_every_path_and_target(target, path, case):
    reason = get(OWN).probe()
    if reason:
        pytest.skip(f"{OWN} unavailable: {reason}")
    with emu.interpreter_options(sanitize=True):        # the backend adds strict_buffers
        outcome = run_case(case, OWN, target, seconds=600)
    ids = case.materialize()[0]
    assert outcome.path == path
    assert outcome.invalid_ids == oracle.needed_policy(oracle.census(ids, case.tokens, 257)) != "reject"
    assert outcome.ok, outcome.summary


# ---------------------------------------------------------------- a planted write past the end
PLANTED = "planted-minus-one"


@pytest.mark.interpreter
@pytest.mark.parametrize("tokens,path", [(5, "small"), (SMALL_LIMIT + 6, "large")])
@pytest.mark.parametrize("kind", ["minus_one", "mixed"])
@pytest.mark.parametrize("canary", [True, False], ids=["red-zone", "no-red-zone"])
def test_a_write_past_the_end_for_minus_one_is_caught_on_every_path(tokens, path, kind, canary):
    reason = get(PLANTED).probe()
    if reason:
        pytest.skip(f"{PLANTED} unavailable: {reason}")
    case = Case(8, 3, tokens, hostile_ids=kind, hostile_count=4, hostile_rows="one", seed=11)
    ids = case.materialize()[0]
    if not (ids == -1).any():
        case = Case(8, 3, tokens, hostile_ids="minus_one", hostile_count=1, seed=11)
    outcome = run_case(case, PLANTED, canary=canary)
    assert outcome.path == path and not outcome.ok
    sig = outcome.signature
    assert sig.output == MEMORY_SAFETY, outcome.summary
    if canary:
        assert sig.kind == "red_zone:sorted_ids" and "past the buffer end" in outcome.summary
    else:   # no red zone: the store lands outside every allocation, reported with the sanitizer off
        assert sig.kind.startswith("global-out-of-bounds@planted_hostile.py:")
        assert "is outside every live allocation" in outcome.summary and "sorted_ids=[" in outcome.summary
    assert outcome.invalid_ids in get(PLANTED).invalid_ids


@pytest.mark.interpreter
@pytest.mark.parametrize("kind", ["past_end", "far", "negative"])
def test_other_invalid_ids_pass_the_planted_backend(kind):
    if get(PLANTED).probe():
        pytest.skip(f"{PLANTED} unavailable: {get(PLANTED).probe()}")
    case = Case(8, 3, SMALL_LIMIT + 6, hostile_ids=kind, hostile_count=4, seed=12)
    assert not (case.materialize()[0] == -1).any()
    outcome = run_case(case, PLANTED)
    assert outcome.ok and outcome.invalid_ids == "drop", outcome.summary


# ---------------------------------------------------------------- termination
def test_a_launch_past_its_time_limit_fails_as_not_terminating():
    def launch(inputs, buffers, target):
        time.sleep(30)
    register(Backend(name="sleeper-for-test", description="never returns in time", needs=(), probe=lambda: None,
                     launch=launch, test_only=True, invalid_ids=("reject", "unchecked")))
    start = time.perf_counter()
    j = judge_run("sleeper-for-test", None, _kwargs(HOSTILE["unchecked"]), invalid_ids="unchecked", seconds=0.5)
    assert time.perf_counter() - start < 10
    assert not j.ok and j.timed_out == 0.5
    (failure,) = j.failures()
    assert failure.signature.key == f"sleeper-for-test/-/-/{MEMORY_SAFETY}/timeout"
    assert "did not terminate within 0.5 s" in failure.summary


def test_the_time_limit_needs_the_main_thread():
    """Signals reach only the main thread: elsewhere a launch runs without a limit."""
    import threading

    from fuzz.time_limit import can_limit

    def launch(inputs, buffers, target):
        time.sleep(0.6)
        get("torch-cpu").launch(inputs, buffers, target)
    register(Backend(name="slow-for-test", description="slow but correct", needs=(), probe=lambda: None,
                     launch=launch, test_only=True, writes_past_extent=True, invalid_ids=("reject", "unchecked")))
    seen = {}
    worker = threading.Thread(target=lambda: seen.update(
        limit=can_limit(), j=judge_inputs("slow-for-test", _kwargs(HOSTILE["unchecked"]), seconds=0.1)))
    worker.start()
    worker.join()
    assert can_limit() and not seen["limit"]
    assert seen["j"].ok and seen["j"].timed_out is None, seen["j"].summary


def test_unchecked_runs_check_num_valid_ids_bounds():
    def launch(inputs, buffers, target):
        get("torch-cpu").launch(inputs, buffers, target)
        buffers.num_valid_ids[0] = buffers.sorted_ids.numel() + 1
    register(Backend(name="overlong-for-test", description="claims one row too many", needs=(),
                     probe=lambda: None, launch=launch, test_only=True, writes_past_extent=True,
                     invalid_ids=("reject", "unchecked")))
    j = judge_inputs("overlong-for-test", _kwargs(HOSTILE["unchecked"]))
    assert not j.ok and [f.signature.kind for f in j.failures()] == ["num_valid_bounds:num_valid_ids"]


# ---------------------------------------------------------------- reject stays the default
@pytest.mark.parametrize("kind", ["minus_one", "past_end", "far", "negative", "repeat", "mixed"])
def test_kernels_run_rejects_every_kind_by_default(kind):
    kw = _kwargs(Case(16, 4, 6, hostile_ids=kind, hostile_count=2, seed=3))
    with pytest.raises(oracle.ContractViolation, match="topk_ids"):
        kernels.run("torch-cpu", **kw)


def test_a_hostile_case_never_reaches_a_backend_that_declares_only_reject():
    assert get("planted-sentinel-t").invalid_ids == ("reject",)
    with pytest.raises(ValueError, match="planted-sentinel-t' supports \\('reject',\\)"):
        run_case(HOSTILE["drop"], "planted-sentinel-t")


@given(cases(max_tokens=300))
def test_the_default_case_strategy_draws_valid_ids(case):
    ids, _, _, local = case.materialize()
    assert not case.hostile
    assert oracle.census(ids, case.tokens if local is None else local, case.num_experts).clean


def test_valid_cases_run_under_reject():
    j = judge_inputs("torch-cpu", _kwargs(Case(16, 4, 6, seed=4)))
    assert j.invalid_ids == "reject" and j.judged and j.ok
    assert kernels.run("torch-cpu", **_kwargs(Case(16, 4, 6, seed=4))).invalid_ids == "reject"
    assert np.array_equal(kernels.run("torch-cpu", **_kwargs(Case(16, 4, 6, seed=4)), invalid_ids="drop").sorted_ids,
                          kernels.run("torch-cpu", **_kwargs(Case(16, 4, 6, seed=4))).sorted_ids)


def test_torch_backend_range_checks_only_ids_that_may_be_invalid(monkeypatch):
    """Under reject kernels.run has checked the ids: the torch sort runs without the range
    check, as before the policies (benchmarks/bench_invalid_ids.py times the check)."""
    from kernels.backends import torch_backend

    seen = []
    real = torch_backend.torch_moe_sorting
    monkeypatch.setattr(torch_backend, "torch_moe_sorting",
                        lambda *a, drop_invalid=True: seen.append(drop_invalid) or real(*a, drop_invalid=drop_invalid))
    kw = _kwargs(Case(16, 4, 6, seed=4))
    for policy in ("reject", "drop", "unchecked"):
        kernels.run("torch-cpu", **kw, invalid_ids=policy)
    assert seen == [False, True, True]
