"""FlyDSL's own ``moe_sorting_flydsl`` (backend ``flydsl-upstream``) on the production shapes.

Needs ``FLYDSL_ROOT`` (a FlyDSL source checkout); every test skips, saying so,
without it.  Two parts:

1. Agreement with the golden model, on ``flydsl-upstream`` (interpreter,
   sanitizer off, judged on outputs), on both emulated targets, at T on both
   sides of each upstream path boundary: the last oneshot T (table below; the
   host code picks it from M, E, topk and the target's LDS size) and 2048 (the
   2-kernel / 4-kernel split), plus EP masks and ``num_local_tokens < T``.  The
   path each launch reports must be the one the table predicts, so a change of
   upstream's thresholds fails here instead of silently moving coverage.
2. Every known finding (``FINDINGS.md``; fixtures under ``regressions/fixtures``,
   see their notes) still reproduces on ``flydsl-upstream-sanitized`` (or, for the null
   read and the host dispatch bug, on ``flydsl-upstream`` too), so we notice
   when upstream fixes one.  Each check names the kernel line it expects.

The default selection runs a few minutes on 2 cores; the full shape x target
x boundary matrix is ``@pytest.mark.large``.
"""
from __future__ import annotations

import os

import pytest

pytestmark = [
    pytest.mark.interpreter,
    pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                       reason="FLYDSL_ROOT is not set: no FlyDSL checkout to take moe_sorting_flydsl from"),
]

import kernels  # noqa: E402
import oracle  # noqa: E402
from cases import Case  # noqa: E402
from kernels.targets import TARGET_NAMES as TARGETS  # noqa: E402

UP, SAN = "flydsl-upstream", "flydsl-upstream-sanitized"
KERNEL = "moe_sorting_kernel.py"
ONESHOT = "moe_sorting_oneshot_kernel_0"
TWO_K = "p0v2_kernel_0+p23_kernel_1"
FOUR_K = "clear_workspace_kernel_0+p0_scatter_kernel_1+p1_count_kernel_2+p23_kernel_3"
MULTI_MAX = 2048  # M <= 2048: p0v2 + p23; above: the 4-kernel chain

#: (E, topk, unit_size) -> last T (really M) of the oneshot path per target, as
#: observed from the paths the interpreter reports.  Upstream's rule:
#: min(sub_tokens(E, LDS), max(16, 256 // max(topk, E // 8))).
ONESHOT_MAX = {
    (257, 9, 32): {"gfx942": 16, "gfx950": 16},   # DeepSeek-R1/V3
    (385, 7, 32): {"gfx942": 16, "gfx950": 16},   # DeepSeek-V4
    (513, 9, 32): {"gfx942": 8, "gfx950": 16},    # Qwen3.5: LDS-bound on gfx942
    (128, 4, 128): {"gfx942": 16, "gfx950": 16},  # Qwen3-MoE
    (129, 7, 32): {"gfx942": 16, "gfx950": 16},   # Qwen3-Next
    (161, 7, 32): {"gfx942": 16, "gfx950": 16},   # GLM-4-MoE
    (256, 8, 32): {"gfx942": 16, "gfx950": 16},
    (64, 6, 32): {"gfx942": 32, "gfx950": 32},
    (32, 5, 32): {"gfx942": 51, "gfx950": 51},
    (8, 2, 32): {"gfx942": 128, "gfx950": 128},   # Mixtral
}


def expected_path(shape, target, m):
    if m <= ONESHOT_MAX[shape][target]:
        return ONESHOT
    return TWO_K if m <= MULTI_MAX else FOUR_K


def check_case(case: Case, target: str, path: str | None = None):
    """Run ``case`` on flydsl-upstream; assert the path (``path``, else the one the
    table predicts) and agreement with the golden model."""
    ids, w, mask, local = case.materialize()
    expected = oracle.moe_sorting(ids, w, case.num_experts, case.unit_size, mask, local)
    result = kernels.run(UP, ids, w, case.num_experts, case.unit_size, mask, local, target=target)
    m = case.tokens if local is None else local
    shape = (case.num_experts, case.topk, case.unit_size)
    want = path or expected_path(shape, target, m)
    assert result.path == want, f"{case.name}@{target}: path {result.path}, expected {want}"
    verdict = oracle.compare(expected, result, "strict")
    assert verdict.ok, f"{case.name}@{target}: {verdict.summary}"


def boundary_cases(shape, target, with_mask=True, with_local=True):
    """T on both sides of each boundary (> 0), with and without EP mask and M < T."""
    E, k, u = shape
    b = ONESHOT_MAX[shape][target]
    out = []
    for t in (b, b + 1, MULTI_MAX, MULTI_MAX + 1):
        out.append(Case(E, k, t, u, seed=t))
        if with_mask:
            out.append(Case(E, k, t, u, mask_mode="ratio", mask_ratio=0.6, seed=t + 1))
    if with_local:  # the host code dispatches on M: M on both sides of the oneshot bound, T beyond it
        out.append(Case(E, k, b + 7, u, num_local_tokens=b, seed=3))
        out.append(Case(E, k, b + 7, u, num_local_tokens=b + 1, mask_mode="ratio", mask_ratio=0.5, seed=4))
    return out


def _ids(cases):
    return [c.name for c in cases]


# -- default selection: the shapes whose boundaries differ most, and the 4k split once per target
FAST = [
    ((257, 9, 32), "gfx942"), ((257, 9, 32), "gfx950"),
    ((513, 9, 32), "gfx942"), ((513, 9, 32), "gfx950"),
    ((8, 2, 32), "gfx950"),
]
FAST_CASES = [(s, t, c) for s, t in FAST for c in boundary_cases(s, t)
              if c.tokens <= MULTI_MAX or s == (8, 2, 32)]


@pytest.mark.parametrize("shape,target,case", FAST_CASES,
                         ids=[f"{c.name}@{t}" for _, t, c in FAST_CASES])
def test_upstream_boundaries(shape, target, case):
    check_case(case, target)


FULL_CASES = [(s, t, c) for s in ONESHOT_MAX for t in TARGETS for c in boundary_cases(s, t)]


@pytest.mark.large
@pytest.mark.parametrize("shape,target,case", FULL_CASES,
                         ids=[f"{c.name}@{t}" for _, t, c in FULL_CASES])
def test_upstream_boundaries_all_production_shapes(shape, target, case):
    check_case(case, target)


def test_cross_target_host_caches():
    """Upstream caches per shape without the arch in the key; the backend resets them
    on a target change.  E=513 k=9 T=12 is oneshot on gfx950 but 2-kernel on gfx942
    (whose oneshot kernel, sized for 8 rows, would drop tokens): alternate targets."""
    case = Case(513, 9, 12, 32, seed=12)
    for target in ("gfx950", "gfx942", "gfx950", "gfx942"):
        check_case(case, target)


# -- part 2: the known findings still reproduce -----------------------------------------------

def _raise(backend, case, target):
    ids, w, mask, local = case.materialize()
    with pytest.raises(Exception) as info:
        kernels.run(backend, ids, w, case.num_experts, case.unit_size, mask, local, target=target,
                    moe_buf=case.moe_buf_array())
    return info.value


FINDINGS = {
    # name: (case, backends, targets, exception class name, text the message must hold)
    "nullread": (Case(8, 2, 0), (UP, SAN), TARGETS, "OutOfBoundsError", "at 0x0 is outside every live allocation"),
    "oob-cumdup": (Case(8, 2, 1), (SAN,), TARGETS, "OutOfBoundsError", f"{KERNEL}:167 (from :448"),
    "p23-race": (Case(128, 1, 17, routing="one_expert"), (SAN,), TARGETS, "RaceError", "(from :1835"),
    "gfx942-lds": (Case(819, 1, 1, num_local_tokens=0), (UP, SAN), ("gfx942",), "ValueError", "LDS too small for E=819"),
    "mbview": (Case(8, 2, 4, seed=1, moe_buf="uint8x3"), (UP, SAN), TARGETS, "RuntimeError", "must be divisible by 4"),
}
#: Findings that are wrong outputs, not exceptions: name -> (case, backends, text of the verdict).
WRONG_OUTPUTS = {
    "mbtail": (Case(256, 8, 3, seed=1, moe_buf="float32x1"), (UP, SAN), "moe_buf was not zeroed"),
}


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_known_finding_still_reproduces(name):
    case, backends, targets, exc_name, text = FINDINGS[name]
    for backend in backends:
        for target in targets:
            exc = _raise(backend, case, target)
            assert type(exc).__name__ == exc_name, f"{name} on {backend}@{target}: {type(exc).__name__}: {exc}"
            assert text in str(exc), f"{name} on {backend}@{target}: {exc}"
            if name == "nullread":
                assert f"{KERNEL}:338" in str(exc)


@pytest.mark.parametrize("name", sorted(WRONG_OUTPUTS))
def test_known_wrong_output_still_reproduces(name):
    from fuzz.campaign.check import run_case

    case, backends, text = WRONG_OUTPUTS[name]
    for backend in backends:
        for target in TARGETS:
            outcome = run_case(case, backend, target)
            assert not outcome.ok and text in outcome.summary, f"{name} on {backend}@{target}: {outcome.summary}"
    assert run_case(case, "loop-model").ok       # the golden model's twin accepts the same layout


def test_known_findings_are_saved_as_fixtures():
    """Each finding above has exactly one failure fixture, xfailed for the backends it names."""
    import regressions

    fixtures = [f for f in regressions.load_all() if f.kind == "failure"]
    named = {n: (v[0], v[1]) for n, v in FINDINGS.items()} | {n: (v[0], v[1]) for n, v in WRONG_OUTPUTS.items()}
    for name, (case, backends) in named.items():
        hits = [f for f in fixtures if f.name == f"{case.name}-{name}"]
        assert len(hits) == 1, f"finding {name}: {len(hits)} fixtures"
        assert set(backends) <= set(hits[0].known_failures), hits[0].known_failures


def test_gfx942_lds_bug_is_gfx942_only():
    check_case(Case(819, 1, 1, num_local_tokens=0), "gfx950", path=ONESHOT)


def _direct_4k(workspace_fill):
    """Call upstream directly (4-kernel path, E=2, T=2049) with a workspace we fill,
    on the sanitizing interpreter; returns the exception raised."""
    import importlib

    import torch

    import kernels.emu as emu
    from kernels.backends import flydsl_upstream

    sorting = importlib.import_module(flydsl_upstream.MODULE)
    ids, w, _, _ = Case(2, 1, 2049).materialize()
    T, k, E, u = 2049, 1, 2, 32
    P = T * k + E * u - k
    mesh_stride = -(-T // u) * u
    ws = torch.full(((E * mesh_stride + 3) // 4 + E + 1,), workspace_fill, dtype=torch.int32)
    outs = (torch.zeros(P, dtype=torch.int32), torch.zeros(P), torch.zeros(-(-P // u), dtype=torch.int32),
            torch.zeros(2, dtype=torch.int32), torch.ones(T, 8))
    flydsl_upstream.reset_host_caches()
    with pytest.raises(Exception) as info:
        with emu.emulate(target="gfx950", sanitize=True):
            sorting.moe_sorting_flydsl(torch.from_numpy(ids), torch.from_numpy(w), *outs, E, u, None, None, ws)
    return info.value


def test_clear_workspace_store_to_word0_reproduces():
    """Finding (e) of FINDINGS.md: lanes past the workspace store 0 to workspace[0] from several
    workgroups (kernel :1358).  The interpreter sees it only when that changes the
    word, so the workspace is poisoned here; upstream itself uses torch.empty."""
    exc = _direct_4k(0x5A5A5A5A)
    assert type(exc).__name__ == "RaceError" and f"{KERNEL}:1358" in str(exc), exc


def test_p23_race_reaches_4k_path():
    """With a zeroed workspace the clear kernel's stores change nothing, and the p23
    race (finding (c) of FINDINGS.md, kernel :1835) is the first finding on the 4-kernel path too."""
    exc = _direct_4k(0)
    assert type(exc).__name__ == "RaceError" and "(from :1835" in str(exc), exc
