"""FlyDSL's ``moe_sorting_flydsl`` under graph capture, ``num_local_tokens`` a device tensor.

Needs ``FLYDSL_ROOT``; skipped, saying so, without it.  The entry point reads
the tensor on the host, which the interpreter's capture emulation refuses: the
known finding ``host-read-num-local-tokens`` (regressions/known_findings.toml)
must match what happens, and outside a capture the same call must still sort.
"""
from __future__ import annotations

import os

import pytest

pytestmark = [
    pytest.mark.interpreter,
    pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                       reason="FLYDSL_ROOT is not set: no FlyDSL checkout to take moe_sorting_flydsl from"),
]

import oracle  # noqa: E402
from cases import Case  # noqa: E402
from kernels import emu  # noqa: E402
from kernels.backends.flydsl_upstream import upstream_session  # noqa: E402
from kernels.emu.findings import finding_from_exception  # noqa: E402
from kernels.harness import allocate  # noqa: E402
from kernels.targets import TARGET_NAMES  # noqa: E402
from regressions import known_findings  # noqa: E402

E, K, T, M = 16, 2, 40, 23


def _call(target, **emulate_options):
    ids, w, _, _ = Case(E, K, T, seed=1).materialize()
    inputs = oracle.normalize_inputs(ids, w, E, 32, None, M)
    buffers = allocate(inputs, "cpu")
    d = buffers.device_inputs
    with upstream_session(target, **emulate_options) as sorting:
        sorting.moe_sorting_flydsl(d.topk_ids, d.topk_weights, buffers.sorted_ids, buffers.sorted_weights,
                                   buffers.sorted_expert_ids, buffers.num_valid_ids, buffers.moe_buf, E, 32, None,
                                   d.num_local_tokens)
    return inputs, buffers


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_the_host_read_of_num_local_tokens_is_the_known_finding(target):
    with emu.capture_graph() as graph:
        with pytest.raises(emu.HostSyncError) as err:
            _call(target)
    assert graph.launches == []
    assert err.value.read == ".item()"
    assert err.value.loc.rsplit(":", 1)[0].endswith("kernels/moe/moe_sorting_kernel.py")
    finding = finding_from_exception(err.value, [os.environ["FLYDSL_ROOT"]])
    assert finding is not None and finding.error == "HostSyncError"
    for backend in ("flydsl-upstream", "flydsl-upstream-sanitized"):
        entry = known_findings.default().match(finding, backend)
        assert entry is not None and entry.id == "host-read-num-local-tokens"


def test_outside_a_capture_the_same_call_sorts():
    """Sanitizer off, as the flydsl-upstream backend runs it (its LDS finding on this shape is another entry)."""
    inputs, buffers = _call("gfx950", sanitize=False)
    got = oracle.SortResult(*(getattr(buffers, name).numpy().copy() for name in
                              ("sorted_ids", "sorted_weights", "sorted_expert_ids", "num_valid_ids")))
    assert oracle.compare(oracle.sort_validated(inputs), got).ok
