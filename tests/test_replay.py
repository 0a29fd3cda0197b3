"""Replay every saved regression fixture against every selected backend."""
import pytest

import kernels
import oracle
import regressions
from kernels.registry import get

FIXTURES = regressions.load_all()


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.path.stem for f in FIXTURES])
def test_replay(fixture, backend_name):
    b = get(backend_name)
    if b.max_tokens is not None and fixture.topk_ids.shape[0] > b.max_tokens:
        pytest.skip(f"T={fixture.topk_ids.shape[0]} exceeds {backend_name}'s max_tokens={b.max_tokens}")
    if backend_name in fixture.known_failures:
        pytest.xfail(f"known failure of {backend_name}: {fixture.known_failures[backend_name]}")
    expected = oracle.moe_sorting(**fixture.run_args())
    for target in b.targets:
        result = kernels.run(backend_name, **fixture.run_args(), target=target, red_zone=16)
        verdict = oracle.compare(expected, result, b.contract, canary=not b.writes_past_extent)
        assert verdict.ok, f"{fixture.name} on {target}: {verdict.summary}\n  note: {fixture.note}"
