"""The independent plain-loop model as a backend, so the harness, fuzzer and
replay can pit the golden model against a second implementation end to end."""
from __future__ import annotations

from oracle import moe_sorting_loops

from ..registry import Backend
from .host_copy import write_result


def _launch(inputs, buffers, target):
    write_result(
        moe_sorting_loops(inputs.topk_ids, inputs.topk_weights, inputs.num_experts,
                          inputs.unit_size, inputs.expert_mask, inputs.num_local_tokens),
        buffers,
        inputs.unit_size,
    )
    return None


BACKENDS = [
    Backend(
        name="loop-model",
        description="oracle.moe_sorting_loops: plain Python loops, independent of the golden model",
        needs=(),
        probe=lambda: None,
        launch=_launch,
        max_tokens=16384,
    ),
]
