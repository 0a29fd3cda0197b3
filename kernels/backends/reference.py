"""The independent plain-loop model as a backend, so the harness, fuzzer and
replay can pit the golden model against a second implementation end to end.
It skips ids outside ``[0, E)`` (``drop``) and takes any ids (``unchecked``)."""
from __future__ import annotations

from oracle import sort_loops_validated

from ..registry import Backend
from .host_copy import write_result


def _launch(inputs, buffers, target):
    write_result(sort_loops_validated(inputs), buffers, inputs.unit_size)
    return None


BACKENDS = [
    Backend(
        name="loop-model",
        description="oracle.moe_sorting_loops: plain Python loops, independent of the golden model",
        needs=(),
        probe=lambda: None,
        launch=_launch,
        max_tokens=16384,
        invalid_ids=("reject", "drop", "unchecked"),
    ),
]
