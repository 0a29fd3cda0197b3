"""FlyDSL's own ``moe_sorting_flydsl`` (backends ``flydsl-upstream*``) on the production shapes.

Needs ``FLYDSL_ROOT`` (a FlyDSL source checkout); every test skips, saying so,
without it.  Every run is judged on the sanitized backend the way a campaign
judges a case: outputs against the golden model, interpreter findings against
``regressions/known_findings.toml`` -- a known finding passes, a new one fails
naming its check, kernel line and call chain.

1. Path boundaries, on both emulated targets: T on both sides of the last
   oneshot T (table below; the host code picks it from M, E, topk and the
   target's LDS size) and of 2048 (the 2-kernel / 4-kernel split), with and
   without EP masks, and ``num_local_tokens < T``.  The path each launch
   reports must be the one the table predicts, so a change of upstream's
   thresholds fails here instead of silently moving coverage.
2. Every known finding still reproduces on its fixture (an entry that no
   longer does is stale: perhaps fixed upstream), and removing an entry turns
   its finding into a failure that names it.

The default selection runs a few minutes on 2 cores; the full shape x target
x boundary matrix is ``@pytest.mark.large``.
"""
from __future__ import annotations

import dataclasses
import os

import pytest

pytestmark = [
    pytest.mark.interpreter,
    pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                       reason="FLYDSL_ROOT is not set: no FlyDSL checkout to take moe_sorting_flydsl from"),
]

import regressions  # noqa: E402
from cases import Case  # noqa: E402
from fuzz.judge import run_case  # noqa: E402
from kernels.targets import TARGET_NAMES as TARGETS  # noqa: E402
from regressions import known_findings  # noqa: E402

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


def check_case(case: Case, target: str, path: str | None = None, backend: str = SAN):
    """Run ``case`` on ``backend`` (the sanitized one by default); assert the path
    (``path``, else the one the table predicts) and a clean judgement."""
    outcome = run_case(case, backend, target)
    assert outcome.ok, f"{case.name}@{target}: {outcome.summary}"
    m = case.tokens if case.num_local_tokens is None else case.num_local_tokens
    shape = (case.num_experts, case.topk, case.unit_size)
    want = path or expected_path(shape, target, m)
    assert outcome.path == want, f"{case.name}@{target}: path {outcome.path}, expected {want}"
    return outcome


def boundary_cases(shape, target, with_mask=True, with_local=True):
    """T on both sides of each boundary (> 0), with and without EP mask (half the experts
    on, and all of them) and M < T."""
    E, k, u = shape
    b = ONESHOT_MAX[shape][target]
    out = []
    for t in (b, b + 1, MULTI_MAX, MULTI_MAX + 1):
        out.append(Case(E, k, t, u, seed=t))
        if with_mask:
            out.append(Case(E, k, t, u, mask_mode="ratio", mask_ratio=0.6, seed=t + 1))
            if t in (b, MULTI_MAX):     # every expert on: each one's local id shows, the last chunk's too
                out.append(Case(E, k, t, u, mask_mode="all_on", seed=t + 2))
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


# -- part 2: the known findings --------------------------------------------------------------

KNOWN = known_findings.default()
WITH_FIXTURE = [e for e in KNOWN.entries if e.fixture]


@pytest.mark.parametrize("entry", WITH_FIXTURE, ids=[e.id for e in WITH_FIXTURE])
def test_known_finding_still_reproduces(entry):
    """The entry's fixture still shows the entry on each of its backends (on some
    target), and nothing else goes wrong in that run."""
    fixture = regressions.load(regressions.FIXTURE_DIR / f"{entry.fixture}.json")
    case = Case.from_dict(fixture.case)
    for backend in entry.backends:
        outcomes = [run_case(case, backend, target) for target in TARGETS]
        for o in outcomes:
            assert o.ok, f"{entry.id} on {backend}@{o.target}: {o.summary}"
        assert any(entry.id in o.known for o in outcomes), (
            f"known finding {entry.id} no longer reproduces on {backend} with {fixture.name} "
            f"(fixed upstream?): saw {[sorted(o.known) for o in outcomes]}; remove or update the entry in "
            f"regressions/known_findings.toml")


def test_an_unlisted_finding_fails_naming_check_line_and_chain():
    """Without its entry, the p23 race is a new finding: the failure names the check,
    the kernel line with its call chain, and the source text."""
    fewer = dataclasses.replace(KNOWN, entries=tuple(e for e in KNOWN.entries if e.id != "p23-cumsum-race"))
    outcome = run_case(Case(128, 1, 17, routing="one_expert"), SAN, "gfx950", known=fewer)
    assert not outcome.ok and outcome.judged
    assert outcome.signature.output == "finding"
    assert outcome.signature.kind.startswith(f"lds-race@{KERNEL}:172<1835"), outcome.signature
    assert "new finding: lds-race in p23_kernel" in outcome.summary
    assert "_lds_store_raw(cumsum_mr, local_idx_p23, tid)" in outcome.summary


def test_one_finding_is_one_signature_on_both_targets():
    fewer = dataclasses.replace(KNOWN, entries=())
    keys = {t: [s.key for s in run_case(Case(8, 2, 1), SAN, t, known=fewer).signatures] for t in TARGETS}
    assert keys["gfx942"] == keys["gfx950"] and keys["gfx942"], keys


def test_gfx942_lds_bug_is_gfx942_only():
    check_case(Case(819, 1, 1, num_local_tokens=0), "gfx950", path=ONESHOT)
