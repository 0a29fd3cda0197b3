"""Test-only backends with one planted bug each, to prove the suite finds bugs.

Each wraps the torch CPU backend, reports a made-up path by T (``small``
below :data:`SMALL_LIMIT`, ``large`` from it on) and breaks one rule of the
contract on one path only.  They are never selected by default.
"""
from __future__ import annotations

from kernels.backends.torch_backend import _launch as torch_launch
from kernels.registry import Backend
from oracle.inputs import to_int32

SMALL_LIMIT = 64


def _path(inputs) -> str:
    return "small" if inputs.tokens < SMALL_LIMIT else "large"


def _sentinel_from_t(inputs, buffers, target):
    """large path: padding holds (topk << 24) | T instead of | M."""
    torch_launch(inputs, buffers, target)
    path = _path(inputs)
    if path == "large" and inputs.m != inputs.tokens:
        good = to_int32((inputs.topk << 24) | inputs.m)
        bad = to_int32((inputs.topk << 24) | inputs.tokens)
        ids = buffers.sorted_ids
        ids[ids == good] = bad
    return path


def _drops_last_block_expert(inputs, buffers, target):
    """small path: the last valid block's expert id is left at 0."""
    torch_launch(inputs, buffers, target)
    path = _path(inputs)
    total = int(buffers.num_valid_ids[0])
    if path == "small" and total >= inputs.unit_size:
        buffers.sorted_expert_ids[total // inputs.unit_size - 1] = 0
    return path


def _planted(name, launch, doc):
    return Backend(name=name, description=doc, needs=("torch",), probe=lambda: None, launch=launch,
                   reports_path=True, writes_past_extent=True, test_only=True)


BACKENDS = [
    _planted("planted-sentinel-t", _sentinel_from_t, "large path builds the sentinel from T, not M"),
    _planted("planted-block-expert", _drops_last_block_expert, "small path zeroes the last block's expert"),
]
