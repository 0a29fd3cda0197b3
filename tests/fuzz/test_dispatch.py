"""The declared-dispatch check: a backend that declares which kernels each of its
paths launches (``Backend.path_kernels`` with ``path_boundaries``) is judged on
whether every launch ran the kernels of the path its M falls in -- and the
dispatch a checkout declares (``kernels.backends.checkout_dispatch``): its
launcher's paths found by tracing, its sizer's workspace bound, their
disagreement caught, the fallback when tracing fails (no FlyDSL checkout
needed: a fake module, ``fake_checkout``)."""
from __future__ import annotations

import pytest

from cases import Case
from fuzz.dispatch import dispatch_error, launched_kernels
from fuzz.judge import judge_inputs, run_case
from kernels.backends.checkout_dispatch import (
    CHECKOUT,
    FALLBACK,
    Dispatch,
    checkout_dispatch,
    declare,
    dispatch_key,
    launcher_segments,
)
from kernels.registry import Backend, get, register

#: The test backends' dispatch: M < 5 one kernel, 5 <= M < 9 two, M >= 9 three.
BOUNDS = (5, 9)
KERNELS = (("small_kernel",), ("count_kernel", "scatter_kernel"), ("clear_kernel", "count_kernel", "scatter_kernel"))


def _dispatching(name: str, switch_at: tuple, by: str = "M") -> str:
    """Register a correct sort (torch-cpu) that reports the kernels of the path
    ``switch_at`` puts M (``by="T"``: the capacity T) in, under a dispatch declared as
    :data:`BOUNDS` in that same key."""
    def launch(inputs, buffers, target):
        get("torch-cpu").launch(inputs, buffers, target)
        key = inputs.m if by == "M" else buffers.device_inputs.topk_ids.shape[0]
        path = KERNELS[sum(key >= b for b in switch_at)]
        return "+".join(f"{k}_{i}" for i, k in enumerate(path))
    register(Backend(name=name, description="sorts correctly, reports a path", needs=(), probe=lambda: None,
                     launch=launch, test_only=True, writes_past_extent=True, reports_path=True,
                     path_boundaries=lambda E, k, u, target: BOUNDS, path_kernels=KERNELS,
                     dispatch_by=lambda E, k, u, target: by))
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


def test_a_dispatch_in_the_capacity_judges_each_launch_by_its_t():
    """T = 12 is on the three-kernel path whatever M: a backend whose bounds are in T
    passes there with M = 4, and one whose launch follows M fails there, naming T and M."""
    by_t = _dispatching("dispatch-by-t-for-test", BOUNDS, by="T")
    assert run_case(Case(8, 2, 12, seed=3, num_local_tokens=4), by_t).ok
    follows_m = _dispatching("dispatch-follows-m-declared-t-for-test", BOUNDS, by="T")
    assert dispatch_error(get(follows_m), "small_kernel_0", 4, 8, 2, 32, None, t=12)[1].startswith("T=12 (M=4)")
    assert dispatch_error(get(follows_m), "small_kernel_0", 4, 8, 2, 32, None) is None     # t unknown: M it is


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


# ---------------------------------------------------------------- the dispatch a checkout declares
A, B, C = ("oneshot",), ("p0v2", "p23"), ("clear", "scatter", "count", "p23")


def _launcher(*starts_kernels):
    """kernels_at(m) of a launcher whose paths start at the given (first M, kernels)."""
    def kernels_at(m):
        return next(k for s, k in reversed(starts_kernels) if m >= s)
    return kernels_at


def test_launcher_segments_find_every_path_start_by_bisection():
    launcher = _launcher((0, A), (17, B), (2049, C))
    assert launcher_segments(launcher, 1 << 17, hint=17) == [(0, A), (17, B), (2049, C)]
    assert launcher_segments(launcher, 1 << 17) == [(0, A), (17, B), (2049, C)]      # no sizer hint
    # a path for M = 0 alone, and one starting between two probes
    odd = _launcher((0, ()), (1, A), (17, B), (3001, C))
    assert launcher_segments(odd, 5000, hint=17) == [(0, ()), (1, A), (17, B), (3001, C)]


def test_declared_bounds_are_the_launchers_with_the_sizers_workspace_bound():
    segments = [(0, A), (17, B), (2049, C)]
    agree = declare(segments, 17, "test")
    assert (agree.bounds, agree.kernels, agree.source) == ((17, 2049), (A, B, C), CHECKOUT)
    # the sizer asks for a workspace one M earlier than the launcher starts using it
    assert declare(segments, 16, "test").bounds == (16, 2049)
    assert declare(segments, 18, "test").bounds == (18, 2049)
    assert declare(segments, 3000, "test").bounds == (17, 3000)     # the nearest boundary moves
    # no sizer; a launcher with one path; a revision without the 4-kernel path
    assert declare(segments, None, "test").bounds == (17, 2049)
    assert declare([(0, B)], 17, "test").bounds == ()
    assert declare([(0, A), (17, B)], 17, "test").kernels == (A, B)
    # a shape whose oneshot never fits: every path takes a workspace from M = 0, no boundary moves
    assert declare([(0, B), (2049, C)], 0, "test").bounds == (2049,)
    with pytest.raises(ValueError, match="strictly increasing"):
        Dispatch((5, 5), (A, B, C), CHECKOUT, "test")
    with pytest.raises(ValueError, match="kernel tuples"):
        Dispatch((5,), (A,), CHECKOUT, "test")


def _declared_backend(name, dispatch):
    """A correct sort whose launches report the kernels ``KERNELS``-style of a
    launcher starting paths at (17, 2049), under ``dispatch``."""
    launcher = _launcher((0, A), (17, B), (2049, C))

    def launch(inputs, buffers, target):
        get("torch-cpu").launch(inputs, buffers, target)
        return "+".join(f"{k}_{i}" for i, k in enumerate(launcher(inputs.m)))
    register(Backend(name=name, description="sorts correctly, reports a path", needs=(), probe=lambda: None,
                     launch=launch, test_only=True, writes_past_extent=True, reports_path=True,
                     path_boundaries=lambda E, k, u, target: dispatch.bounds,
                     path_kernels=lambda E, k, u, target: dispatch.kernels,
                     dispatch_source=lambda E, k, u, target: dispatch.source))
    return name


def test_a_sizer_that_disagrees_with_the_launcher_fails_the_dispatch_check_between_the_two():
    segments = [(0, A), (17, B), (2049, C)]
    consistent = get(_declared_backend("dispatch-consistent-for-test", declare(segments, 17, "test")))
    moved = get(_declared_backend("dispatch-sizer-moved-for-test", declare(segments, 16, "test")))
    for m in (15, 16, 17, 2048, 2049):
        path = "+".join(f"{k}_{i}" for i, k in enumerate(_launcher(*segments)(m)))
        assert dispatch_error(consistent, path, m, 8, 2, 32, None) is None
        error = dispatch_error(moved, path, m, 8, 2, 32, None)
        assert (error is not None) == (m == 16), (m, error)
    expected, described = dispatch_error(moved, "oneshot_0", 16, 8, 2, 32, None)
    assert expected == B and "falls in path 1" in described and "[dispatch from the checkout]" in described
    outcome = run_case(Case(8, 2, 16, seed=1), "dispatch-sizer-moved-for-test")
    assert not outcome.ok and outcome.signature.output == "dispatch"
    assert run_case(Case(8, 2, 16, seed=1), "dispatch-consistent-for-test").dispatch_source == CHECKOUT


@pytest.mark.interpreter
@pytest.mark.parametrize("small_max, sizer_from, bounds", [(8, 9, (9,)), (8, 8, (8,)), (12, 9, (9,)), (5, 6, (6,))])
def test_the_dispatch_of_a_fake_checkout_is_traced_under_capture(monkeypatch, small_max, sizer_from, bounds):
    """The fake module's entry point really traced (launches recorded, none run):
    its paths and, from its sizer, where the workspace path begins."""
    import torch

    from kernels import emu

    from . import fake_checkout

    monkeypatch.setattr(fake_checkout, "SMALL_MAX", small_max)
    monkeypatch.setattr(fake_checkout, "SIZER_FROM", sizer_from)
    out = torch.full((fake_checkout.BLOCK,), -1, dtype=torch.int32)
    with emu.emulate(target="gfx950"):
        d = checkout_dispatch(lambda m: fake_checkout.entry(out, m), fake_checkout.workspace_size, 64)
    assert d.source == CHECKOUT and d.bounds == bounds
    assert d.kernels == (("small_kernel",), ("count_kernel", "scatter_kernel"))
    assert f"its path starts: {small_max + 1};" in d.detail and f"first M with a workspace {sizer_from}" in d.detail
    assert (out == -1).all(), "a traced launch ran"


@pytest.mark.interpreter
@pytest.mark.parametrize("entry, key", [("entry_by_capacity", "T"), ("entry_by_tokens", "M")])
def test_whether_a_checkout_dispatches_by_capacity_or_tokens_is_traced(entry, key):
    """Called with T at the first bound and M = 1, an entry that reads M on the device
    launches the second path: its dispatch is in T; one that dispatches on M, in M."""
    import torch

    from kernels import emu

    from . import fake_checkout

    out = torch.full((fake_checkout.BLOCK,), -1, dtype=torch.int32)
    call = getattr(fake_checkout, entry)
    with emu.emulate(target="gfx950"):
        d = checkout_dispatch(lambda m: call(out, m), fake_checkout.workspace_size, 64)
        assert dispatch_key(lambda t, m: call(out, t, m), d) == key
    assert d.bounds == (fake_checkout.SIZER_FROM,) and (out == -1).all()
    assert dispatch_key(lambda t, m: None, Dispatch((), (("small_kernel",),), CHECKOUT, "-")) == "M"


def test_the_upstream_backend_falls_back_on_the_documented_dispatch_saying_why(monkeypatch):
    """An entry point that cannot be traced (here: it reads a tensor on the host, which
    capture refuses) gives the documented dispatch, split at the sizer's bound."""
    import contextlib
    import types

    from kernels import emu
    from kernels.backends import flydsl_upstream

    def entry(topk_ids, *args):
        return int(topk_ids.sum())          # a host read: refused under capture

    module = types.SimpleNamespace(moe_sorting_flydsl=entry,
                                   moe_sorting_get_workspace_size=lambda m, E, k, u: 0 if m < 20 else 1)

    @contextlib.contextmanager
    def session(target, **options):
        with emu.emulate(target=target):
            yield module
    monkeypatch.setattr(flydsl_upstream, "upstream_session", session)
    monkeypatch.setenv("FLYDSL_ROOT", "/nonexistent/fake-checkout-for-test")
    flydsl_upstream._declared.cache_clear()
    try:
        d = flydsl_upstream.declared_dispatch(8, 2, 32, "gfx950")
        assert d.source == FALLBACK and d.bounds == (20, flydsl_upstream.DOCSTRING_SPLIT + 1)
        assert d.kernels == flydsl_upstream.DOCSTRING_KERNELS and "HostSyncError" in d.why
        assert flydsl_upstream._dispatch_source(8, 2, 32, "gfx950").startswith("fallback (the checkout's entry")
        del module.moe_sorting_get_workspace_size
        flydsl_upstream._declared.cache_clear()
        assert flydsl_upstream.declared_dispatch(8, 2, 32, "gfx950") is None
    finally:
        flydsl_upstream._declared.cache_clear()


def test_a_campaign_summary_says_where_the_dispatch_came_from_and_which_lines_changed(capsys):
    from fuzz.campaign.stats import CampaignStats
    from fuzz.campaign.summary import print_summary

    stats = CampaignStats()
    base = {"type": "case", "seconds": 0.1, "backend": "b", "target": None, "path": "p", "bucket": "x",
            "experts": 8, "tokens": 4, "ok": True}
    stats.consume(dict(base, dispatch_source="checkout", text_changed=["p23-cumsum-race"]))
    stats.consume(dict(base, dispatch_source="fallback (the checkout's entry point could not be traced: E)"))
    stats.consume(dict(base))
    s = stats.to_dict()
    assert s["dispatch_sources"] == {"b: checkout": 1, "b: fallback (the checkout's entry point could not be "
                                                        "traced: E)": 1}
    assert s["text_changed"] == {"p23-cumsum-race": 1}
    print_summary({"stats": s, "executed_on": {}, "new_failures": []}, "record.json")
    out = capsys.readouterr().out
    assert "declared dispatch of b from the checkout: 1 case\n" in out
    assert "declared dispatch of b from the fallback (the checkout's entry point could not be traced: E): 1 case" in out
    assert "known (line text changed; `fuzz replay` and each case summary show both texts): p23-cumsum-race 1 case" \
        in out
