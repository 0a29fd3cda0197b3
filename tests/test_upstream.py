"""FlyDSL's own ``moe_sorting_flydsl`` (backends ``flydsl-upstream*``) on the production shapes.

Needs ``FLYDSL_ROOT`` (a FlyDSL source checkout); every test skips, saying so,
without it.  Every run is judged on the sanitized backend the way a campaign
judges a case: outputs against the golden model, interpreter findings against
``regressions/known_findings.toml`` -- a known finding passes, a new one fails
naming its check, kernel line and call chain.

1. Path boundaries, on both emulated targets: M on both sides of each
   boundary of the checkout's own declared dispatch
   (``flydsl_upstream.declared_dispatch``: its entry point traced under
   capture, its workspace sizer), with and without EP masks, and
   ``num_local_tokens < T``.  The path each launch reports must be the one
   that dispatch gives, so the cases follow a revision that adds or removes
   a path.  At the pinned commit the traced dispatch must be the documented
   one (the oneshot bounds recorded below, the split at 2048), so a change
   of upstream's thresholds or a broken trace fails there.
2. Every known finding still reproduces on its fixture (an entry that no
   longer does is stale: perhaps fixed upstream), and removing an entry turns
   its finding into a failure that names it.

The default selection runs a few minutes on 2 cores; the full shape x target
x boundary matrix is ``@pytest.mark.large``.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess

import pytest

pytestmark = [
    pytest.mark.interpreter,
    pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                       reason="FLYDSL_ROOT is not set: no FlyDSL checkout to take moe_sorting_flydsl from"),
]

import regressions  # noqa: E402
from cases import Case  # noqa: E402
from fuzz.judge import run_case  # noqa: E402
from fuzz.judge_logits import judge_router  # noqa: E402
from kernels.backends.checkout_dispatch import CHECKOUT  # noqa: E402
from kernels.backends.flydsl_upstream import DOCSTRING_KERNELS, declared_dispatch  # noqa: E402
from kernels.emu.findings import Finding  # noqa: E402
from kernels.registry import get  # noqa: E402
from kernels.targets import TARGET_NAMES as TARGETS  # noqa: E402
from regressions import known_findings  # noqa: E402

UP, SAN = "flydsl-upstream", "flydsl-upstream-sanitized"
KERNEL = "moe_sorting_kernel.py"
ONESHOT = "moe_sorting_oneshot_kernel_0"
PINNED = "11c4174d"

#: The production shapes (E, topk, unit_size) -> last T (really M) of the oneshot path per
#: target at the pinned commit, as observed from the paths the interpreter reports there.
#: Upstream's rule: min(sub_tokens(E, LDS), max(16, 256 // max(topk, E // 8))).
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
MULTI_MAX = 2048  # at the pinned commit, M <= 2048: p0v2 + p23; above: the 4-kernel chain


def dispatch_of(shape, target):
    """The checkout's declared dispatch for ``shape`` on ``target`` (the judge's)."""
    return declared_dispatch(*shape, target)


def expected_path(shape, target, m):
    """The path the checkout's declared dispatch gives M = ``m``, as the interpreter reports it."""
    d = dispatch_of(shape, target)
    return "+".join(f"{k}_{i}" for i, k in enumerate(d.kernels[d.path_of(m)])) or None


def check_case(case: Case, target: str, path: str | None = None, backend: str = SAN):
    """Run ``case`` on ``backend`` (the sanitized one by default); assert the path
    (``path``, else the one the checkout's declared dispatch gives) and a clean judgement."""
    outcome = run_case(case, backend, target)
    assert outcome.ok, f"{case.name}@{target}: {outcome.summary}"
    m = case.tokens if case.num_local_tokens is None else case.num_local_tokens
    shape = (case.num_experts, case.topk, case.unit_size)
    want = path or expected_path(shape, target, m)
    assert outcome.path == want, f"{case.name}@{target}: path {outcome.path}, expected {want}"
    return outcome


#: The cases at one boundary B of the declared dispatch (the first M of a path): the last M
#: of the path before (``last``) and B itself (``first``), plain, with an EP mask (60% of the
#: experts on), every expert on at the last M; at the first boundary also M < T on both sides.
ROLES = ("last", "first", "last-mask", "first-mask", "last-all-on", "local-last", "local-first")


def boundary_case(shape, bound: int, role: str):
    """The case of ``role`` (:data:`ROLES`) at boundary ``bound``."""
    E, k, u = shape
    t = bound - 1 if role.startswith("last") else bound
    if role == "local-last":     # the host code dispatches on M: M on both sides of the bound, T beyond it
        return Case(E, k, bound + 6, u, num_local_tokens=bound - 1, seed=3)
    if role == "local-first":
        return Case(E, k, bound + 6, u, num_local_tokens=bound, mask_mode="ratio", mask_ratio=0.5, seed=4)
    if role.endswith("-mask"):
        return Case(E, k, t, u, mask_mode="ratio", mask_ratio=0.6, seed=t + 1)
    if role.endswith("-all-on"):   # every expert on: each one's local id shows, the last chunk's too
        return Case(E, k, t, u, mask_mode="all_on", seed=t + 2)
    return Case(E, k, t, u, seed=t)


def check_boundary(shape, target, index: int, role: str):
    """The ``role`` case at the checkout's ``index``-th boundary; skipped where it declares fewer."""
    bounds = dispatch_of(shape, target).bounds
    if index >= len(bounds):
        pytest.skip(f"the checkout's dispatch for E={shape[0]} topk={shape[1]} on {target} has "
                    f"{len(bounds) + 1} path(s): no boundary #{index}")
    if role.startswith("local") and index > 0:
        pytest.skip("M < T is checked at the first boundary only")
    check_case(boundary_case(shape, bounds[index], role), target)


# -- default selection: the shapes whose boundaries differ most, and the multiphase split once per target
FAST = [
    ((257, 9, 32), "gfx942"), ((257, 9, 32), "gfx950"),
    ((513, 9, 32), "gfx942"), ((513, 9, 32), "gfx950"),
    ((8, 2, 32), "gfx950"),
]
FAST_CASES = [(s, t, i, r) for s, t in FAST for i in ((0, 1) if s == (8, 2, 32) else (0,)) for r in ROLES
              if i == 0 or not r.startswith("local")]


def _label(shape, target, index, role):
    return f"E{shape[0]}-k{shape[1]}-u{shape[2]}-bound{index}-{role}@{target}"


@pytest.mark.parametrize("shape,target,index,role", FAST_CASES, ids=[_label(*c) for c in FAST_CASES])
def test_upstream_boundaries(shape, target, index, role):
    check_boundary(shape, target, index, role)


FULL_CASES = [(s, t, i, r) for s in ONESHOT_MAX for t in TARGETS for i in (0, 1) for r in ROLES
              if i == 0 or not r.startswith("local")]


@pytest.mark.large
@pytest.mark.parametrize("shape,target,index,role", FULL_CASES, ids=[_label(*c) for c in FULL_CASES])
def test_upstream_boundaries_all_production_shapes(shape, target, index, role):
    check_boundary(shape, target, index, role)


def _pinned_checkout() -> str | None:
    """Why the checkout is not the pinned commit's kernel file unmodified (None: it is)."""
    root = os.environ["FLYDSL_ROOT"]
    git = ["git", "-C", root]
    head = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if not head.startswith(PINNED):
        return f"FLYDSL_ROOT is at {head[:12] or 'no git commit'}, not {PINNED}"
    dirty = subprocess.run(git + ["status", "--porcelain", "kernels/moe/moe_sorting_kernel.py"],
                           capture_output=True, text=True).stdout.strip()
    return f"the kernel file is modified ({dirty})" if dirty else None


@pytest.mark.parametrize("target", TARGETS)
def test_declared_dispatch_is_traced_from_the_pinned_checkout(target):
    """At the pinned commit the dispatch traced from the checkout is its documented one:
    the oneshot bounds recorded above, the split at 2048, the kernels the docstring lists."""
    reason = _pinned_checkout()
    if reason:
        pytest.skip(f"{reason}: the recorded dispatch is the pinned commit's")
    for shape, last in ONESHOT_MAX.items():
        d = dispatch_of(shape, target)
        assert d.source == CHECKOUT, d.describe()
        assert d.bounds == (last[target] + 1, MULTI_MAX + 1), d.describe()
        assert d.kernels == DOCSTRING_KERNELS, d.describe()


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
    target), and nothing else goes wrong in that run.  An entry whose code the
    checkout no longer has is absent in this revision: skipped, saying so; one whose
    code is there but that no longer reproduces is stale (fixed?): a failure."""
    fixture = regressions.load(regressions.FIXTURE_DIR / f"{entry.fixture}.json")
    backends = [b for b in entry.backends if get(b).takes == fixture.takes]
    assert backends, f"{entry.id}: none of its backends {entry.backends} takes its fixture's {fixture.takes}"
    for backend in backends:
        outcomes = [_judge_fixture(fixture, backend, target) for target in TARGETS]
        for o in outcomes:
            assert o.ok, f"{entry.id} on {backend}@{o.target}: {o.summary}"
        if any(entry.id in o.known_counts for o in outcomes):
            continue
        absent = known_findings.absence(entry, [os.environ["FLYDSL_ROOT"]])
        if absent:
            pytest.skip(f"{entry.id}: {absent}")
        pytest.fail(f"known finding {entry.id} is stale (fixed?): it no longer reproduces on {backend} with "
                    f"{fixture.name}, though its code is present: saw {[sorted(o.known_counts) for o in outcomes]}; "
                    f"remove or update the entry in regressions/known_findings.toml")


def _judge_fixture(fixture, backend: str, target):
    """The judgement of ``fixture`` on ``backend`` at ``target``: a case of top-k ids through
    ``run_case``, router logits through ``judge_router``."""
    if fixture.takes == "logits":
        return judge_router(backend, fixture.inputs, target)
    return run_case(Case.from_dict(fixture.case), backend, target)


def test_an_unlisted_finding_fails_naming_check_line_and_chain():
    """Without its entry, the p23 race is a new finding: the failure names the check,
    the kernel line with its call chain, and the source text (at the pinned commit:
    lines 172 < 1835).  The full list matches the same finding to its entry, exactly
    or with its line text changed."""
    fewer = dataclasses.replace(KNOWN, entries=tuple(e for e in KNOWN.entries if e.id != "p23-cumsum-race"))
    outcome = run_case(Case(128, 1, 17, routing="one_expert"), SAN, "gfx950", known_list=fewer)
    assert not outcome.ok and outcome.judged
    assert outcome.signature.output == "finding"
    finding = Finding.from_dict(outcome.failures[0].finding)
    assert KNOWN.match(finding, SAN).id == "p23-cumsum-race", finding.describe()
    inner, site = finding.frames[0], finding.frames[1]
    assert outcome.signature.kind.startswith(f"lds-race@{KERNEL}:{inner.line}<{site.line}"), outcome.signature
    if _pinned_checkout() is None:
        assert (inner.line, site.line) == (172, 1835)
    assert "new finding: lds-race in p23_kernel" in outcome.summary
    assert site.text.startswith("_lds_store_raw(cumsum_mr, ") and site.text in outcome.summary


def test_one_finding_is_one_signature_on_both_targets():
    fewer = dataclasses.replace(KNOWN, entries=())
    keys = {t: [s.key for s in run_case(Case(8, 2, 1), SAN, t, known_list=fewer).signatures] for t in TARGETS}
    assert keys["gfx942"] == keys["gfx950"] and keys["gfx942"], keys


def test_gfx942_lds_bug_is_gfx942_only():
    check_case(Case(819, 1, 1, num_local_tokens=0), "gfx950", path=ONESHOT)
