"""Replay every saved regression fixture against every selected backend.

Each run is judged like a campaign case (``fuzz.judge.judge_run``): it passes
when the outputs agree with the golden model and every finding is a known
one (``regressions/known_findings.toml``); a new finding, an unexplained
mismatch or a crash fails, naming it.
"""
import pytest

import oracle
import regressions
from fuzz.judge import judge_run
from kernels.registry import get

FIXTURES = regressions.load_all()


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.path.stem for f in FIXTURES])
def test_replay(fixture, backend_name):
    b = get(backend_name)
    if b.max_tokens is not None and fixture.topk_ids.shape[0] > b.max_tokens:
        pytest.skip(f"T={fixture.topk_ids.shape[0]} exceeds {backend_name}'s max_tokens={b.max_tokens}")
    expected = oracle.moe_sorting(**fixture.run_args())
    failures = []
    for target in b.targets:
        j = judge_run(backend_name, expected, dict(fixture.run_args(), moe_buf=fixture.moe_buf()), target=target)
        if not j.ok:
            failures.append(f"{target}: {j.summary}")
    assert not failures, f"{fixture.name}: " + "; ".join(failures) + f"\n  note: {fixture.note}"
