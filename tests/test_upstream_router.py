"""The backends that take logits from a FlyDSL checkout: each path of the fused entry's own
dispatch judged by the gating contract, the gating kernel, and a planted change caught.

Needs ``FLYDSL_ROOT``; skipped, saying so, without it.
"""
from __future__ import annotations

import os

import pytest

pytestmark = [
    pytest.mark.interpreter,
    pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                       reason="FLYDSL_ROOT is not set: no FlyDSL checkout to take the fused entry from"),
]

from cases import LogitsCase  # noqa: E402
from fuzz.dispatch import launched_kernels  # noqa: E402
from fuzz.judge_logits import judge_router  # noqa: E402
from kernels.backends.flydsl_upstream_router import fused_path_boundaries, fused_path_kernels  # noqa: E402
from kernels.targets import TARGET_NAMES  # noqa: E402


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_every_path_of_the_fused_entry_agrees_and_follows_its_dispatch(target):
    bounds = fused_path_boundaries(8, 2, 32, target)
    kernels = fused_path_kernels(8, 2, 32, target)
    assert bounds[0] == 17 and len(kernels) == len(bounds) + 1     # FUSED_ONESHOT_MAX_T + 1
    firsts = (5,) + tuple(bounds)
    for path, T in enumerate(firsts):
        if path + 1 < len(firsts) and firsts[path + 1] == T:
            continue                                                # an empty path (the sort's oneshot, E = 8)
        j = judge_router("flydsl-upstream-fused", LogitsCase(8, 2, T, "bf16", "normal", seed=T).inputs(), target)
        assert j.ok and j.judged, j.summary
        assert launched_kernels(j.path) == kernels[path], j.path


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_the_gating_backend_agrees_on_ties_and_flags_degenerate_rows_as_known(target):
    j = judge_router("flydsl-upstream-gating", LogitsCase(64, 6, 20, "f32", "ties", seed=1).inputs(), target)
    assert j.ok and not j.known_counts, j.summary
    j = judge_router("flydsl-upstream-gating", LogitsCase(8, 2, 40, "f32", "nonfinite", seed=1).inputs(), target)
    assert j.ok and "gating-degenerate-row-id-minus-one" in j.known_counts, j.summary
