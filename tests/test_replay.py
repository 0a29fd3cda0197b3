"""Replay every saved regression fixture against every selected backend.

Each run is judged like a campaign case (``fuzz.judge.judge_inputs``): it
passes when the outputs agree with the golden model and every finding is a
known one (``regressions/known_findings.toml``); a new finding, an
unexplained mismatch, a memory-safety failure or a crash fails, naming it.
A fixture with invalid ids runs under the policy its ids need, on backends
that declare one that fits (memory safety alone under ``unchecked``).
A fixture of router logits replays on every selected backend that takes logits,
judged by the gating contract (``fuzz.judge_logits``).
"""
import pytest

import regressions
from fuzz.judge import judge_inputs
from fuzz.judge_logits import judge_router
from kernels.registry import get

FIXTURES = regressions.load_all()


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.path.stem for f in FIXTURES])
def test_replay(fixture, backend_name):
    b = get(backend_name)
    if b.max_tokens is not None and fixture.topk_ids.shape[0] > b.max_tokens:
        pytest.skip(f"T={fixture.topk_ids.shape[0]} exceeds {backend_name}'s max_tokens={b.max_tokens}")
    failures = []
    for target in b.targets:
        j = judge_inputs(backend_name, dict(fixture.run_args(), moe_buf=fixture.moe_buf()), target)
        if j is None:
            pytest.skip(f"its ids need invalid_ids={fixture.invalid_ids!r}; {backend_name} supports {b.invalid_ids}")
        if not j.ok:
            failures.append(f"{target}: {j.summary}")
    assert not failures, f"{fixture.name}: " + "; ".join(failures) + f"\n  note: {fixture.note}"


LOGITS_FIXTURES = regressions.load_all(takes="logits")


@pytest.mark.parametrize("fixture", LOGITS_FIXTURES, ids=[f.path.stem for f in LOGITS_FIXTURES])
def test_replay_logits(fixture, logits_backend_name):
    """A fixture of router logits, judged by the gating contract on a backend that takes logits."""
    b = get(logits_backend_name)
    if fixture.inputs.tokens < b.min_tokens:
        pytest.skip(f"T={fixture.inputs.tokens} is below {logits_backend_name}'s min_tokens={b.min_tokens}")
    failures = [f"{t}: {j.summary}" for t in b.targets
                if not (j := judge_router(logits_backend_name, fixture.inputs, t)).ok]
    assert not failures, f"{fixture.name}: " + "; ".join(failures) + f"\n  note: {fixture.note}"
