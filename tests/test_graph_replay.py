"""The capture-replay check: one capture, replays for several M, judged by the golden model.

On the CPU the capture is the interpreter's capture emulation; the suite's
own kernels (``flydsl-own``) must replay correctly on every path and both
targets, and the planted backends that bake M in or read it on the host must
fail.  The real-graph check of ``torch-cuda`` is ``tests/test_graph_replay_cuda.py``.
"""
import numpy as np
import pytest

import oracle
from cases import Case
from kernels import available
from kernels.emu import HostSyncError
from kernels.graph_replay import check_capture_replay
from kernels.moesort import choose_path
from kernels.registry import get

pytestmark = pytest.mark.interpreter

# (E, topk, T): T picks the path on both targets (gfx942's smaller LDS moves
# the small/medium boundary, so the medium shape is checked on each target).
SHAPES = {
    "small": (16, 2, 40),
    "medium": (64, 6, 300),
    "large": (16, 2, 2100),
}
TARGETS = ("gfx942", "gfx950")


def _inputs(E, topk, T, mask_mode="none", seed=3):
    ids, weights, mask, _ = Case(num_experts=E, topk=topk, tokens=T, mask_mode=mask_mode, seed=seed).materialize()
    return ids, weights, mask


def _m_values(T):
    """The capture's M, then several others: fewer, none, all, one."""
    return [T // 2, T // 5, 0, T, 1, T - 1]


def _own():
    reason = available()["flydsl-own"]
    if reason:
        pytest.skip(f"flydsl-own unavailable: {reason}")
    return get("flydsl-own")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("path", list(SHAPES))
def test_own_kernels_replay_every_m_after_one_capture(path, target):
    E, topk, T = SHAPES[path]
    assert choose_path(T, E, topk, 32, target) == path
    ids, weights, mask = _inputs(E, topk, T, mask_mode="ratio" if path == "medium" else "none")
    replays = check_capture_replay(_own(), ids, weights, E, 32, mask, m_values=_m_values(T), target=target,
                                   red_zone=16)
    assert [r.m for r in replays] == _m_values(T)
    for r in replays:
        assert r.result.path == path
        assert r.verdict.ok, f"M={r.m}: {r.verdict.summary}"
        assert r.result.num_valid_ids[1] == r.m


def test_own_kernels_read_m_from_the_tensor_the_harness_fills():
    """The replays differ from one another as the golden model's answers for each M do."""
    E, topk, T = SHAPES["small"]
    ids, weights, mask = _inputs(E, topk, T)
    replays = check_capture_replay(_own(), ids, weights, E, 32, mask, m_values=[T, 3], target="gfx950")
    assert [r.verdict.ok for r in replays] == [True, True]
    assert replays[0].result.num_valid_ids[0] != replays[1].result.num_valid_ids[0]


@pytest.mark.parametrize("path", ["small", "large"])
def test_a_backend_that_bakes_m_in_fails_the_replay_check(path):
    E, topk, T = SHAPES[path]
    ids, weights, mask = _inputs(E, topk, T)
    replays = check_capture_replay(get("planted-baked-m"), ids, weights, E, 32, mask, m_values=_m_values(T),
                                   target="gfx950")
    assert replays[0].verdict.ok                       # the M of the capture
    failed = [r.m for r in replays if not r.verdict.ok]
    assert failed == [m for m in _m_values(T) if m != _m_values(T)[0]]
    assert all("num_valid_ids" in r.verdict.summary for r in replays if not r.verdict.ok)


def test_the_baking_backend_is_correct_outside_a_capture():
    """What the replay check catches is the baking, not a wrong sort."""
    import kernels

    E, topk, T = SHAPES["small"]
    ids, weights, mask = _inputs(E, topk, T)
    for m in (T, 7):
        result = kernels.run("planted-baked-m", ids, weights, E, 32, mask, np.array([m], np.int32))
        assert oracle.compare(oracle.moe_sorting(ids, weights, E, 32, mask, m), result).ok


def test_a_backend_that_reads_m_on_the_host_is_refused_at_capture():
    E, topk, T = SHAPES["small"]
    ids, weights, mask = _inputs(E, topk, T)
    with pytest.raises(HostSyncError) as err:
        check_capture_replay(get("planted-host-read-m"), ids, weights, E, 32, mask, m_values=[T, 5])
    assert err.value.loc.endswith("planted_capture.py:" + str(_line_of("planted_capture.py", ".item()")))


def _line_of(module_file, text):
    import tests.backends.planted_capture as mod

    lines = open(mod.__file__).read().splitlines()
    return next(i + 1 for i, line in enumerate(lines) if text in line and "planted defect" in line)


@pytest.mark.parametrize("bad, field", [
    (dict(m_values=[41]), "num_local_tokens"),
    (dict(m_values=[-1]), "num_local_tokens"),
    (dict(m_values=[]), "m_values"),
])
def test_bad_m_values_are_refused_naming_them(bad, field):
    E, topk, T = SHAPES["small"]
    ids, weights, mask = _inputs(E, topk, T)
    with pytest.raises(ValueError, match=field):
        check_capture_replay(_own(), ids, weights, E, 32, mask, **bad)


def test_a_backend_that_does_not_declare_capture_safety_is_refused():
    E, topk, T = SHAPES["small"]
    ids, weights, mask = _inputs(E, topk, T)
    with pytest.raises(ValueError, match="torch-cpu.*capture_safe"):
        check_capture_replay(get("torch-cpu"), ids, weights, E, 32, mask, m_values=[T])


def test_the_torch_backend_reads_no_tensor_on_the_host():
    """torch-cuda's launch code, run on the CPU with every host read of a tensor refused
    (the CPU cannot replay torch ops; tests/test_graph_replay_cuda.py replays a real graph)."""
    import torch

    from kernels.emu.hostsync import forbid_host_reads
    from kernels.harness import allocate

    E, topk, T = SHAPES["medium"]
    ids, weights, mask = _inputs(E, topk, T, mask_mode="ratio")
    for drop in (False, True):
        inputs = oracle.normalize_inputs(ids, weights, E, 32, mask, 17, "drop" if drop else "reject")
        buffers = allocate(inputs, "cpu")
        with forbid_host_reads():
            get("torch-cpu").launch(inputs, buffers, None)
        got = oracle.SortResult(*(getattr(buffers, n).numpy().copy() for n in
                                  ("sorted_ids", "sorted_weights", "sorted_expert_ids", "num_valid_ids")))
        assert oracle.compare(oracle.sort_validated(inputs), got).ok
    with pytest.raises(HostSyncError):
        with forbid_host_reads():
            torch.zeros(1).item()
