"""Every backend against the golden model, through kernels.run.

Runs are judged by :func:`fuzz.judge.judge_run`: outputs against the golden
model, interpreter findings against ``regressions/known_findings.toml``, so a
kernel with known findings (FlyDSL's, with ``FLYDSL_ROOT`` set) passes while
any new finding or unexplained mismatch fails, naming it.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import kernels
import oracle
from cases import Case
from fuzz.judge import judge_run, run_case
from fuzz.strategies import cases
from kernels.registry import Backend, get, register

CI_MAX_TOKENS = 2048  # per-example cap here; campaigns go further


def check(backend_name, case, target=None):
    outcome = run_case(case, backend_name, target)
    assert outcome.ok, f"{case.name}@{target}: {outcome.summary}"
    return outcome


@given(data=st.data())
def test_backend_agrees_with_golden_model(backend_name, data):
    b = get(backend_name)
    cap = min(b.max_tokens or CI_MAX_TOKENS, CI_MAX_TOKENS)
    case = data.draw(cases(max_tokens=cap), label="case")
    target = data.draw(st.sampled_from(b.targets), label="target")
    outcome = check(backend_name, case, target)
    assert outcome.backend == backend_name and outcome.executed_on
    if b.reports_path and outcome.judged:
        assert outcome.path


@pytest.mark.parametrize("dtype,shape", [(torch.bfloat16, (7, 3, 5)), (torch.int8, (0,)), (torch.float64, (2, 9))])
def test_moe_buf_of_any_dtype_and_shape_is_zeroed(backend_name, dtype, shape):
    ids, w, _, _ = Case(16, 2, 7, seed=1).materialize()
    expected = oracle.moe_sorting(ids, w, 16, 32)
    j = judge_run(backend_name, expected, dict(topk_ids=ids, topk_weights=w, num_experts=16, unit_size=32,
                                               moe_buf=torch.ones(shape, dtype=dtype)))
    assert j.ok, j.summary


def test_torch_inputs_are_accepted(backend_name):
    ids, w, mask, _ = Case(32, 4, 9, mask_mode="ratio", seed=2).materialize()
    j = judge_run(backend_name, oracle.moe_sorting(ids, w, 32, 16, mask),
                  dict(topk_ids=torch.from_numpy(ids), topk_weights=torch.from_numpy(w), num_experts=32,
                       unit_size=16, expert_mask=torch.from_numpy(mask)),
                  target=get(backend_name).targets[0], canary=False)
    assert j.ok and j.judged, j.summary


def test_unknown_backend_and_bad_input_are_named():
    ids, w, _, _ = Case(16, 2, 4).materialize()
    with pytest.raises(KeyError, match="backend='nope'"):
        kernels.run("nope", ids, w, 16)
    with pytest.raises(oracle.ContractViolation, match="unit_size"):
        kernels.run("torch-cpu", ids, w, 16, unit_size=48)
    with pytest.raises(ValueError, match="target='gfx900'"):
        kernels.run("torch-cpu", ids, w, 16, target="gfx900")


def test_available_lists_every_backend_with_a_reason_when_unavailable():
    status = kernels.available()
    assert {"loop-model", "torch-cpu", "torch-cuda"} <= set(status)
    assert status["torch-cpu"] is None
    for name, reason in status.items():
        assert reason is None or (isinstance(reason, str) and reason), name


def test_a_broken_backend_is_caught():
    """A test-only backend that drops the last entry of every expert's run."""
    def launch(inputs, buffers, target):
        get("torch-cpu").launch(inputs, buffers, target)
        ids = buffers.sorted_ids
        ids[1] = ids[2]
    register(Backend(name="broken-for-test", description="drops entry 1", needs=(), probe=lambda: None,
                     launch=launch, writes_past_extent=True, test_only=True))
    with pytest.raises(AssertionError, match=r"sorted_ids\[1\]"):
        check("broken-for-test", Case(8, 2, 40, seed=3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA/HIP GPU (torch.cuda.is_available() is False)")
@pytest.mark.parametrize("case", [Case(257, 9, 1, seed=1), Case(257, 9, 64, mask_mode="ratio", seed=2),
                                  Case(8, 2, 512, seed=3)], ids=lambda c: c.name)
def test_graph_replay_matches_eager_launch(case):
    from kernels.harness import launch_and_read
    from oracle import normalize_inputs

    inputs = normalize_inputs(*case.materialize()[:2], case.num_experts, case.unit_size,
                              *case.materialize()[2:])
    eager = launch_and_read(get("torch-cuda"), inputs)
    graphed = launch_and_read(get("torch-cuda"), inputs, graph=True)
    expected = oracle.sort_validated(inputs)
    assert oracle.compare(expected, eager).ok
    v = oracle.compare(expected, graphed)
    assert v.ok, v.summary
    for name in ("sorted_ids", "sorted_expert_ids", "num_valid_ids"):
        np.testing.assert_array_equal(getattr(eager, name), getattr(graphed, name))


def test_the_names_the_registry_declares_are_those_its_modules_define():
    import importlib

    from kernels.registry import BACKEND_MODULES

    checked = []
    for modname, names in BACKEND_MODULES.items():
        try:
            module = importlib.import_module(modname)
        except ImportError:              # an optional dependency missing: its names are all there is
            continue
        assert tuple(b.name for b in module.BACKENDS) == names, modname
        checked.append(modname)
    assert "kernels.backends.flydsl_own" in checked and "kernels.backends.reference" in checked


def test_test_only_backends_come_from_the_test_configuration_and_are_never_listed_to_users():
    import os
    import subprocess
    import sys

    from kernels.registry import BACKEND_MODULES, EXTRA_MODULES_ENV, all_backends
    from tests.backends import MODULES

    assert not any(m.startswith("tests.") for m in BACKEND_MODULES)
    assert set(MODULES) <= set(os.environ[EXTRA_MODULES_ENV].split(","))
    planted = {n for n, b in all_backends().items() if b.test_only}
    assert {"planted-sentinel-t", "planted-findings", "planted-minus-one", "planted-baked-m"} <= planted
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != EXTRA_MODULES_ENV}
    listed = subprocess.run([sys.executable, "-m", "fuzz", "--list-backends"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=300, check=True).stdout
    assert "backend: flydsl-own" in listed and "planted" not in listed and "test-only" not in listed
