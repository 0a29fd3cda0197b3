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
    expected = oracle.moe_sorting(**fixture.run_args())
    failures = []
    for target in b.targets:
        try:
            result = kernels.run(backend_name, **fixture.run_args(), target=target,
                                 moe_buf=fixture.moe_buf(), red_zone=16)
        except Exception as exc:  # a crashing kernel is a failing replay
            failures.append(f"{target}: launch raised {type(exc).__name__}: {exc}")
            continue
        verdict = oracle.compare(expected, result, b.contract, canary=not b.writes_past_extent)
        if not verdict.ok:
            failures.append(f"{target}: {verdict.summary}")
    known = fixture.known_failures.get(backend_name)
    if known is not None:
        # A known failure must still fail (strictly): when it passes, the bug is fixed.
        if not failures:
            pytest.fail(f"{fixture.name}: the known failure of {backend_name} no longer reproduces "
                        f"({known}); remove it from the fixture's known_failures")
        pytest.xfail(f"known failure of {backend_name}: {known}")
    assert not failures, f"{fixture.name}: " + "; ".join(failures) + f"\n  note: {fixture.note}"
