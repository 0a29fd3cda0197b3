"""FlyDSL's top-k gating softmax kernel against ``oracle.softmax_topk``.

Needs ``FLYDSL_ROOT``; skipped, saying so, without it.  The rules (exact ids,
weight tolerance, near ties, degenerate rows) are stated in
``kernels/backends/flydsl_upstream_gating.py`` and ``oracle/CONTRACT.md``.
Covers f32, f16 and bf16 logits (16-bit logits at E >= 64 load as 16-byte
atoms), renormalization on and off, both targets, several workgroups with a
partial last one, exact ties (lower id), near ties, ``-inf`` logits, and the
known finding for NaN / ``+inf`` / all ``-inf`` rows.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.interpreter,
    pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                       reason="FLYDSL_ROOT is not set: no FlyDSL checkout to take the top-k gating kernel from"),
]

from kernels.backends.flydsl_upstream_gating import check_gating, run_gating  # noqa: E402
from kernels.targets import TARGET_NAMES  # noqa: E402
from regressions import known_findings  # noqa: E402

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
BACKEND = "flydsl-upstream-gating"


def logits(T, E, seed, dtype=torch.float32, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(T, E, generator=g) * scale).to(dtype)


def judge(x, topk, target, renormalize=True):
    result = run_gating(x, topk, renormalize=renormalize, target=target)
    verdict = check_gating(x, topk, result, renormalize=renormalize)
    assert verdict.ok, f"{target}: {verdict.summary}"
    return result, verdict


CASES = [  # (E, topk, T): T = 1, one partial workgroup, several with a partial last one
    (8, 2, 1), (64, 6, 37), (128, 8, 70), (256, 8, 40), (512, 8, 19),
]


@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("renormalize", [True, False], ids=["renorm", "raw"])
@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("E,topk,T", CASES, ids=[f"E{c[0]}-k{c[1]}-T{c[2]}" for c in CASES])
def test_gating_agrees_with_softmax_topk(E, topk, T, dtype, renormalize, target):
    judge(logits(T, E, seed=E * 7 + T, dtype=DTYPES[dtype]), topk, target, renormalize)


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_exact_ties_go_to_the_lower_expert(target):
    x = logits(16, 64, seed=3)
    top = torch.topk(x, 3, dim=1).indices
    for r in range(16):                       # three equal maxima, in different threads' columns
        x[r, top[r, 1]] = x[r, top[r, 0]]
        x[r, top[r, 2]] = x[r, top[r, 0]]
    result, verdict = judge(x, 4, target)
    assert verdict.near_tie_rows == []        # exact ties are checked exactly
    for r in range(16):
        assert result.topk_ids[r, :3].tolist() == sorted(top[r].tolist())


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_near_ties_are_accepted_within_rounding(target):
    """Logits that differ by an ulp or so: the kernel may order them either way, and every
    row here is a near tie, so the acceptance rule is what is exercised."""
    x = logits(12, 128, seed=11)
    top = torch.topk(x, 2, dim=1).indices
    for r in range(12):
        base = x[r, top[r, 0]].item()
        x[r, top[r, 1]] = float(np.nextafter(np.float32(base), np.float32(-np.inf))) if r % 2 else base - 2e-6
    result, verdict = judge(x, 3, target)
    assert verdict.near_tie_rows == list(range(12))


@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_minus_inf_logits_have_probability_zero(dtype, target):
    """-inf experts come after every finite one, in ascending id order, weight +0.0."""
    x = logits(4, 64, seed=5).to(DTYPES[dtype])
    x[0, 3:] = float("-inf")                 # 3 finite experts, topk 6: three -inf experts chosen
    x[1, ::2] = float("-inf")
    x[2, 40] = float("-inf")
    result, _ = judge(x, 6, target)
    assert result.topk_ids[0, 3:].tolist() == [3, 4, 5]
    assert result.topk_weights[0, 3:].view(np.uint32).tolist() == [0, 0, 0]


#: Minimal fixtures of the known findings: id -> (E, topk, rows to make non-finite -> how).
GATING_FINDINGS = {
    "gating-degenerate-row-id-minus-one": (8, 2, {0: "nan"}),
}
DEGENERATE = {"nan": lambda row: row.__setitem__(1, float("nan")),
              "+inf": lambda row: row.__setitem__(5, float("inf")),
              "all -inf": lambda row: row.fill_(float("-inf"))}


def _covered(verdict, name):
    entry = known_findings.default().by_id(name)
    return [p for p in verdict.problems if not entry.covers_mismatch(p, None, BACKEND)]


@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("name", sorted(GATING_FINDINGS))
def test_known_finding_still_reproduces(name, target):
    E, topk, rows = GATING_FINDINGS[name]
    x = torch.zeros(max(rows) + 1, E)
    for r, how in rows.items():
        DEGENERATE[how](x[r])
    result = run_gating(x, topk, target=target)
    verdict = check_gating(x, topk, result)
    assert verdict.problems, "the finding no longer reproduces: update known_findings.toml"
    assert _covered(verdict, name) == [], verdict.summary


@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_degenerate_rows_break_only_the_id_clause_and_only_their_rows(dtype, target):
    """NaN, +inf and all -inf rows among ordinary ones: the ordinary rows agree, and every
    problem is the known finding's (invalid ids in a degenerate row)."""
    x = logits(9, 128, seed=2).to(DTYPES[dtype])
    for r, how in ((1, "nan"), (4, "+inf"), (7, "all -inf")):
        DEGENERATE[how](x[r])
    result = run_gating(x, 8, target=target)
    verdict = check_gating(x, 8, result)
    assert verdict.degenerate_rows == [1, 4, 7]
    assert sorted({p.row for p in verdict.problems}) == [1, 4, 7], verdict.summary
    assert _covered(verdict, "gating-degenerate-row-id-minus-one") == [], verdict.summary


def test_check_can_fail():
    """A swapped id, a weight off by more than the tolerance and a wrong token-expert index are reported."""
    x = logits(5, 64, seed=1)
    result = run_gating(x, 4, target="gfx950")
    assert check_gating(x, 4, result).ok
    kinds = []
    for mutate in (lambda r: r.topk_ids.__setitem__((2, [0, 1]), r.topk_ids[2, [1, 0]]),
                   lambda r: r.topk_weights.__setitem__((3, 0), r.topk_weights[3, 0] * np.float32(1.001)),
                   lambda r: r.token_expert_indices.__setitem__((4, 1), 0)):
        bad = run_gating(x, 4, target="gfx950")
        mutate(bad)
        kinds += [p.kind for p in check_gating(x, 4, bad).problems]
    assert kinds == ["ids-differ", "weights-outside-tolerance", "token-expert-indices-differ"]


def test_degenerate_row_with_valid_ids_is_accepted():
    """The contract's answer for a degenerate row is any topk distinct valid ids, weights unspecified."""
    x = torch.zeros(2, 8)
    x[1, 2] = float("nan")
    result = run_gating(x, 2, target="gfx950")
    result.topk_ids[1] = [6, 3]
    result.topk_weights[1] = np.nan
    assert check_gating(x, 2, result).ok
    result.topk_ids[1] = [3, 3]
    assert [p.kind for p in check_gating(x, 2, result).problems] == ["degenerate-row-invalid-ids"]


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_zero_tokens_ask_for_an_empty_grid_the_known_finding(target):
    """T = 0: the launcher's grid is an unsigned index division of T - 1 (``arith.divui`` in
    its lowered host code), 2^64 / tokens_per_block workgroups, which HIP gets as 0: no
    workgroup runs and the finding is the known ``gating-empty-grid``."""
    from fuzz.judge_logits import judge_router
    from regressions import load_all

    fixture = next(f for f in load_all(takes="logits") if f.name == "E8-k2-T0-f32-emptygrid")
    j = judge_router("flydsl-upstream-gating-sanitized", fixture.inputs, target)
    assert [f.check for f in j.findings] == ["launch-grid-out-of-range"], j.summary
    assert j.known_counts == {"gating-empty-grid": 1} and j.ok, j.summary
    assert "refuses the launch" in j.findings[0].message


def test_the_gating_grid_is_an_unsigned_division_in_the_host_code():
    import importlib

    from kernels.backends.flydsl_upstream import upstream_session
    from kernels.backends.flydsl_upstream_gating import GATING_MODULE
    from kernels.emu.capture import lowered_text

    out = torch.zeros(0, 2)
    with upstream_session("gfx950"):
        launch = importlib.import_module(GATING_MODULE).build_topk_gating_softmax_module(8, 2, "f32", True)
        text = lowered_text(launch, torch.zeros(0, 8), out, out, out, 0)
    host = text[text.index("func.func @launch_topk_gating_softmax"):]
    assert "arith.divui" in host and "arith.floordivsi" not in host
