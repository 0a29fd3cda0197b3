"""The declared-dispatch check: a backend that declares which kernels each of its
paths launches (``Backend.path_kernels`` with ``path_boundaries``) is judged on
whether every launch ran the kernels of the path its M falls in."""
from __future__ import annotations

import pytest

from cases import Case
from fuzz.dispatch import dispatch_error, launched_kernels
from fuzz.judge import judge_inputs, run_case
from kernels.registry import Backend, get, register

#: The test backends' dispatch: M < 5 one kernel, 5 <= M < 9 two, M >= 9 three.
BOUNDS = (5, 9)
KERNELS = (("small_kernel",), ("count_kernel", "scatter_kernel"), ("clear_kernel", "count_kernel", "scatter_kernel"))


def _dispatching(name: str, switch_at: tuple) -> str:
    """Register a correct sort (torch-cpu) that reports the kernels of the path
    ``switch_at`` puts M in, under a dispatch declared as :data:`BOUNDS`."""
    def launch(inputs, buffers, target):
        get("torch-cpu").launch(inputs, buffers, target)
        path = KERNELS[sum(inputs.m >= b for b in switch_at)]
        return "+".join(f"{k}_{i}" for i, k in enumerate(path))
    register(Backend(name=name, description="sorts correctly, reports a path", needs=(), probe=lambda: None,
                     launch=launch, test_only=True, writes_past_extent=True, reports_path=True,
                     path_boundaries=lambda E, k, u, target: BOUNDS, path_kernels=KERNELS))
    return name


@pytest.mark.parametrize("tokens", [0, 4, 5, 8, 9, 30])
def test_a_launch_on_the_declared_path_passes(tokens):
    backend = _dispatching("dispatch-as-declared-for-test", BOUNDS)
    outcome = run_case(Case(8, 2, tokens, seed=tokens), backend)
    assert outcome.ok, outcome.summary


@pytest.mark.parametrize("switch_at, tokens, ran", [((6, 9), 5, "small_kernel"), ((5, 8), 8, "clear_kernel"),
                                                    ((4, 9), 4, "count_kernel")])
def test_a_boundary_moved_by_one_fails_at_that_m_naming_both_paths(switch_at, tokens, ran):
    backend = _dispatching(f"dispatch-moved-{switch_at[0]}-{switch_at[1]}-for-test", switch_at)
    outcome = run_case(Case(8, 2, tokens, seed=1), backend)
    assert not outcome.ok
    (failure,) = outcome.failures
    assert failure.signature.output == "dispatch"
    expected = KERNELS[sum(tokens >= b for b in BOUNDS)]
    assert failure.signature.kind == "expected:" + "+".join(expected)
    assert f"M={tokens} " in failure.summary and "+".join(expected) in failure.summary and ran in failure.summary
    # one token further from the moved boundary, both dispatches agree
    assert run_case(Case(8, 2, tokens + (1 if ran == "small_kernel" else -1) * 2, seed=1), backend).ok


def test_m_is_num_local_tokens_when_given():
    """T = 12 is on the three-kernel path; M = 6 and M = 4 put the launch on the others."""
    backend = _dispatching("dispatch-as-declared-m-for-test", BOUNDS)
    case = Case(8, 2, 12, seed=3, num_local_tokens=6)
    assert run_case(case, backend).ok
    j = judge_inputs(backend, dict(_kwargs(case), num_local_tokens=4))
    assert j.ok and j.path == "small_kernel_0"


def _kwargs(case):
    ids, w, mask, local = case.materialize()
    return dict(topk_ids=ids, topk_weights=w, num_experts=case.num_experts, unit_size=case.unit_size,
                expert_mask=mask, num_local_tokens=local)


def test_launch_index_suffixes_are_dropped_and_undeclared_backends_are_not_checked():
    assert launched_kernels("p0v2_kernel_0+p23_kernel_1") == ("p0v2_kernel", "p23_kernel")
    assert launched_kernels("a_b_12") == ("a_b",)
    assert dispatch_error(get("torch-cpu"), "anything_0", 3, 8, 2, 32, None) is None
    backend = get(_dispatching("dispatch-no-path-for-test", BOUNDS))
    assert dispatch_error(backend, None, 3, 8, 2, 32, None) is None
