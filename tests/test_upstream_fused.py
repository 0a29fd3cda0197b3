"""FlyDSL's fused ``moe_softmax_sort_flydsl`` against ``oracle.softmax_topk`` + ``oracle.moe_sorting``.

Needs ``FLYDSL_ROOT``; skipped, saying so, without it.  Tolerances and the
near-tie rule are stated in ``kernels/backends/flydsl_upstream_fused.py``.
Covers the fused oneshot kernel (M <= 16 and E a power of two) and the
2-kernel fallback (gating kernel, then moe_sorting_flydsl), both targets,
renormalize on/off, EP masks, num_local_tokens < T, exact logit ties (the
lower-id rule), f32 / bf16 / f16 logits up to E = 512, degenerate rows (NaN,
+inf, all -inf; the known finding fused-degenerate-row-dropped), and records
upstream's known fused-path bug as a strict xfail.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.interpreter,
    pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                       reason="FLYDSL_ROOT is not set: no FlyDSL checkout to take moe_softmax_sort_flydsl from"),
]

from kernels.backends.flydsl_upstream_fused import (  # noqa: E402
    DEGENERATE_ROW_PAIRS,
    check_fused,
    near_tie_rows,
    run_fused,
)
from kernels.targets import TARGET_NAMES  # noqa: E402

FUSED = "moe_sorting_oneshot_fused_kernel_0"


def logits(T, E, seed, dtype=torch.float32, scale=3.0, ties=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, E, generator=g) * scale
    if ties:  # exact ties among the most probable experts of every row
        top = torch.topk(x, 3, dim=1).indices
        for r in range(T):
            x[r, top[r, 1]] = x[r, top[r, 0]]
            x[r, top[r, 2]] = x[r, top[r, 0]]
    return x.to(dtype)


def judge(x, topk, target, **kw):
    result = run_fused(x, topk, target=target, **kw)
    verdict = check_fused(x, topk, result, **{k: v for k, v in kw.items() if k != "sanitize"})
    assert verdict.checked, verdict.summary
    assert verdict.ok, f"{target} path={result.path}: {verdict.summary}"
    return result


CASES = [
    # (E, topk, T, extra kwargs, expected path on both targets (None: not asserted))
    (256, 8, 5, {}, FUSED),
    (256, 8, 16, {"renormalize": False}, FUSED),
    (128, 4, 16, {"unit_size": 128}, FUSED),
    (64, 6, 9, {"expert_mask": (np.arange(64) % 3 != 0).astype(np.int32)}, FUSED),
    (256, 8, 12, {"num_local_tokens": 7}, FUSED),
    (256, 8, 17, {}, "p0v2_kernel_0+p23_kernel_1"),  # fallback: gating kernel, then the 2-kernel sort
    (32, 5, 40, {"num_local_tokens": 30, "expert_mask": (np.arange(32) % 2).astype(np.int32)}, None),
]


@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("E,topk,T,kw,path", CASES, ids=[f"E{c[0]}-k{c[1]}-T{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_fused_agrees_with_golden_gating(E, topk, T, kw, path, target):
    result = judge(logits(T, E, seed=E + T), topk, target, **kw)
    if path:
        assert result.path == path


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_exact_ties_go_to_the_lower_expert(target):
    x = logits(8, 64, seed=5, ties=True)
    assert near_tie_rows(x, 6) == []  # exact ties are checked exactly, not excluded
    judge(x, 6, target)


def test_bf16_logits_small_experts():
    """bf16 (widened exactly; many exact ties), E=4: the gating loads are 64-bit atoms."""
    judge(logits(16, 4, seed=7, dtype=torch.bfloat16, scale=1.0), 2, "gfx950")


FALLBACK = "p0v2_kernel_0+p23_kernel_1"
#: (E, T, path): the fused oneshot kernel (one gating block of tokens) and the fallback
#: (gating kernel, then the 2-kernel sort); 16-bit logits load as 128-bit atoms of 8 experts.
WIDE_CASES = [(128, 16, FUSED), (256, 16, FUSED), (512, 8, FUSED),
              (128, 40, FALLBACK), (256, 40, FALLBACK), (512, 40, FALLBACK)]


@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
@pytest.mark.parametrize("E,T,path", WIDE_CASES, ids=[f"E{c[0]}-T{c[1]}" for c in WIDE_CASES])
def test_16_bit_logits_many_experts(E, T, path, dtype, target):
    """bf16 / f16 logits at E = 128, 256, 512 (16-byte gating loads), renormalized or not;
    bf16 rounding makes exact ties common, which the lower-id rule decides exactly."""
    result = judge(logits(T, E, seed=E + T + 1, dtype=dtype), 8, target, renormalize=E != 256)
    assert result.path == path


def test_near_tie_rows_are_detected():
    x = torch.zeros(3, 8)
    x[0, :] = torch.arange(8.0)                 # clear gaps: no near tie
    x[1, :] = torch.arange(8.0)
    x[1, 6] = 7.0 - 1e-6                        # ranks 0 and 1 within TIE_RTOL
    x[2, :] = torch.arange(8.0)
    x[2, 6] = 7.0                               # exact tie: not a near tie
    assert near_tie_rows(x, 2) == [1]


def test_check_can_fail():
    """A wrong weight or a swapped id must be reported."""
    x = logits(5, 256, seed=1)
    result = run_fused(x, 8, target="gfx950")
    assert check_fused(x, 8, result).ok
    n = int(result.num_valid_ids[0])
    result.sorted_weights[0] *= np.float32(1.001)
    assert not check_fused(x, 8, result).ok
    result.sorted_weights[0] /= np.float32(1.001)
    result.sorted_ids[[0, n - 1]] = result.sorted_ids[[n - 1, 0]]
    assert not check_fused(x, 8, result).ok


def test_unsupported_expert_count_raises():
    """The fused entry point (and its fallback gating kernel) only supports E = 2^j <= 1024."""
    with pytest.raises(ValueError, match="num_experts=257 is not supported"):
        run_fused(logits(4, 257, seed=0), 9, target="gfx950")


@pytest.mark.xfail(strict=True, reason=(
    "upstream bug: the fused oneshot kernel gates only block 0's TOKENS_PER_BLOCK tokens "
    "(4 * 64 / THREADS_PER_TOKEN: 8 for E=512, 4 for E=1024) but is chosen for M <= 16 "
    "(moe_sorting_kernel.py:2318-2322, gating body topk_gating_softmax_kernel.py:~190); on gfx950 "
    "(sub_tokens 32) E=512 with M in 9..16 drops tokens 8..M-1"))
def test_fused_e512_more_tokens_than_one_gating_block():
    judge(logits(16, 512, seed=3), 8, "gfx950")


#: Known findings of the fused entry (regressions/known_findings.toml, backend "flydsl-upstream-fused",
#: "-sanitized" where the sanitizer must be on to see them): id -> (T, E, topk, run_fused kwargs, sanitize).
FUSED_FINDINGS = {
    "fused-null-logits-read": (0, 256, 8, {}, False),
    "fused-uninit-weights-lds": (4, 256, 8, {"num_local_tokens": 0}, True),
}


@pytest.mark.parametrize("name", sorted(FUSED_FINDINGS))
def test_fused_known_finding_still_reproduces(name):
    """The run raises a sanitizer finding that the known-findings entry ``name`` matches."""
    from kernels.emu.findings import finding_from_error
    from regressions import known_findings

    T, E, topk, kw, sanitize = FUSED_FINDINGS[name]
    entry = known_findings.default().by_id(name)
    try:
        run_fused(logits(T, E, seed=1), topk, target="gfx950", sanitize=sanitize, **kw)
    except Exception as exc:  # noqa: BLE001 - the finding is raised; anything else fails below
        finding = finding_from_error(exc)
        backend = "flydsl-upstream-fused-sanitized" if sanitize else "flydsl-upstream-fused"
        assert entry.matches(finding, backend), finding.describe()
        return
    absent = known_findings.absence(entry, [os.environ["FLYDSL_ROOT"]])
    if absent:
        pytest.skip(f"{name}: {absent}")
    pytest.fail(f"known finding {name} is stale (fixed?): the run raised nothing, though its code is present")


def test_fused_ep_store_of_one_value_by_every_wave_is_benign():
    """EP: every wave stores cumsum[E] into cumdup[E] (kernel :1049) in one instruction,
    as the sort's oneshot kernel does.  One value stored by every wave is benign
    under the sanitizer's rules, so the sanitized run is clean and agrees with the golden model."""
    judge(logits(5, 64, seed=1), 6, "gfx950", sanitize=True,
          expert_mask=(np.arange(64) % 3 != 0).astype(np.int32))


#: Degenerate rows (oracle.degenerate_rows) and how to make one: row index -> how.
DEGENERATE = {1: lambda row: row.__setitem__(1, float("nan")),
              3: lambda row: row.__setitem__(row.numel() - 2, float("inf")),
              4: lambda row: row.fill_(float("-inf"))}
#: (E, topk, T, path): the fused oneshot kernel and the fallback (gating kernel, then the sort).
FUSED_DEGENERATE = [(8, 2, 6, FUSED), (128, 8, 9, FUSED), (256, 8, 12, FUSED),
                    (8, 2, 20, "moe_sorting_oneshot_kernel_0")]


def degenerate_logits(T, E, dtype, rows=DEGENERATE):
    x = logits(T, E, seed=E + T).to(dtype)
    for r, make in rows.items():
        make(x[r])
    return x


def _uncovered(verdict, name):
    from regressions import known_findings

    entry = known_findings.default().by_id(name)
    return [p for p in verdict.problems if not entry.covers_mismatch(p, None, "flydsl-upstream-fused")]


@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("E,topk,T,path", FUSED_DEGENERATE, ids=[f"E{c[0]}-T{c[2]}" for c in FUSED_DEGENERATE])
def test_fused_degenerate_rows_break_only_their_tokens(E, topk, T, path, dtype, target):
    """NaN, +inf and all -inf rows among ordinary ones: every ordinary row is sorted as the
    golden model says, and every problem is the known finding's (a degenerate row's token
    without its topk pairs)."""
    x = degenerate_logits(T, E, dtype)
    result = run_fused(x, topk, target=target)
    assert result.path == path
    verdict = check_fused(x, topk, result)
    assert verdict.checked and verdict.degenerate_rows == sorted(DEGENERATE)
    assert sorted(p.row for p in verdict.problems) == sorted(DEGENERATE), verdict.summary
    assert _uncovered(verdict, "fused-degenerate-row-dropped") == [], verdict.summary


def test_fused_degenerate_finding_still_reproduces():
    """The known finding's minimal input (its notes): token 1 gets no pair at all."""
    x = torch.zeros(2, 8)
    x[1, 1] = float("nan")
    result = run_fused(x, 2, target="gfx950")
    tokens = result.sorted_ids[:result.num_valid_ids[0]].view(np.uint32) & 0xFFFFFF
    assert 1 not in tokens.tolist(), "the finding no longer reproduces: update known_findings.toml"
    verdict = check_fused(x, 2, result)
    assert [p.kind for p in verdict.problems] == [DEGENERATE_ROW_PAIRS], verdict.summary
    assert _uncovered(verdict, "fused-degenerate-row-dropped") == []


def test_degenerate_row_check_accepts_any_distinct_valid_experts_and_can_fail():
    """A degenerate row is judged by its ids only: the kernel's sort of an ordinary row, judged
    as if that row were degenerate, passes (its weights are not checked); losing one of that
    token's pairs or giving it an expert twice is reported."""
    x = logits(5, 64, seed=9)
    result = run_fused(x, 4, target="gfx950")
    nan_row = x.clone()
    nan_row[2, 7] = float("nan")
    assert check_fused(nan_row, 4, result).ok
    n = int(result.num_valid_ids[0])
    pairs = np.flatnonzero((result.sorted_ids[:n].view(np.uint32) & 0xFFFFFF) == 2)
    lost = dataclasses.replace(result, sorted_ids=result.sorted_ids.copy())
    lost.sorted_ids[pairs[0]] = (4 << 24) | 5          # the sentinel in place of one of its pairs
    assert DEGENERATE_ROW_PAIRS in [p.kind for p in check_fused(nan_row, 4, lost).problems]
    twice = dataclasses.replace(result, sorted_expert_ids=result.sorted_expert_ids.copy())
    blk_a, blk_b = pairs[0] // 32, pairs[1] // 32
    twice.sorted_expert_ids[blk_b] = twice.sorted_expert_ids[blk_a]
    assert DEGENERATE_ROW_PAIRS in [p.kind for p in check_fused(nan_row, 4, twice).problems]
