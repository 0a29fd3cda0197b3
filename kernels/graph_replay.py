"""The capture-replay check of a capture-safe backend (CONTRACT.md, "Graph capture").

:func:`check_capture_replay` captures one launch with the ``num_local_tokens``
device tensor holding the first M, then, for each M in turn, writes it into
that tensor, poisons the outputs, replays the graph and judges the outputs
against the golden model's answer for that M.  The capture is a real
``torch.cuda.graph`` on a CUDA/HIP device and the interpreter's capture
emulation on the CPU (:func:`kernels.harness.capture`), where a host read of
a tensor during the capture raises :class:`kernels.emu.HostSyncError`.  A
backend that reads M on the host, or picks its launch configuration from it,
fails: it replays what it saw at capture time.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from oracle import Verdict, compare, normalize_inputs, sort_validated

from .harness import allocate, capture, poison_all, run_and_read
from .result import BackendResult


@dataclasses.dataclass
class Replay:
    """One replay: the M written into the tensor, the outputs and their verdict."""

    m: int
    result: BackendResult
    verdict: Verdict


def check_capture_replay(backend, topk_ids, topk_weights, num_experts: int, unit_size: int = 32,
                         expert_mask=None, *, m_values: Sequence[int], target: Optional[str] = None,
                         red_zone: int = 0) -> list[Replay]:
    """Capture ``backend`` (a :class:`kernels.registry.Backend`) once with M =
    ``m_values[0]`` and replay it for every M of ``m_values`` (the first too);
    T = ``topk_ids.shape[0]`` is the capacity, so every row must hold valid ids.

    Inputs are validated as by :func:`kernels.run` (``ContractViolation`` names
    the field and value, an M outside ``[0, T]`` included).  Returns one
    :class:`Replay` per M, in order; the capture itself may raise
    :class:`kernels.emu.HostSyncError`.
    """
    if not m_values:
        raise ValueError("m_values: give at least one M")
    if not backend.capture_safe:
        raise ValueError(f"backend {backend.name!r} does not declare capture_safe")
    per_m = [normalize_inputs(topk_ids, topk_weights, num_experts, unit_size, expert_mask, m) for m in m_values]
    if target is None:
        target = backend.targets[0]
    if target not in backend.targets:
        raise ValueError(f"target={target!r}: backend {backend.name!r} supports {backend.targets}")
    buffers = allocate(per_m[0], backend.device(), red_zone=red_zone)
    replay, path = capture(backend, per_m[0], buffers, target)
    replays = []
    for inputs in per_m:
        buffers.device_inputs.num_local_tokens.fill_(inputs.m)
        poison_all(buffers)
        result = run_and_read(backend, inputs, buffers, target, lambda: (replay(), path)[1])
        verdict = compare(sort_validated(inputs), result, backend.contract, canary=red_zone > 0,
                          unit_size=inputs.unit_size)
        replays.append(Replay(inputs.m, result, verdict))
    return replays
