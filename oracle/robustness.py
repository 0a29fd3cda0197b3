"""The robustness clause (CONTRACT.md, "Robustness"): what a kernel's outputs must
show whatever its expert ids.

:func:`check_robustness` returns the :class:`~oracle.compare.Mismatch` list of
the clause's output checks on one result for its inputs (a
:class:`~oracle.inputs.SortInputs`, validated under any policy):

- ``num_valid_bounds``: ``num_valid_ids[0]`` within ``[0, P]`` and
  ``num_valid_ids[1] = M``;
- ``red_zone``: when the result carries canaries (``kernels.run(..., red_zone=N)``),
  every red zone behind an output untouched;
- ``index_bounds``: below ``num_valid_ids[0]`` (when that is within bounds), every entry
  of ``sorted_ids`` is the sentinel or packs a token ``< M`` and a slot
  ``< topk``, and every block of ``sorted_expert_ids`` holds a local expert id
  in ``[0, E_local)`` -- the GEMM that follows gathers and scatters rows by
  token and picks expert weights by block, so these are addresses one kernel
  later.  The first offending entry of each output is reported (``token`` and
  ``slot`` set for ``sorted_ids``).

The rest of the clause -- no access outside the kernel's arguments and LDS,
termination -- is judged from the interpreter's findings and the harness's
time limit (``fuzz.judge``), not from outputs.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .compare import Mismatch, red_zone_writes
from .inputs import SortInputs
from .result import unpack_id


def _num_valid(nv: np.ndarray, inputs: SortInputs) -> list:
    if nv.shape != (2,):
        return [Mismatch("num_valid_ids", "num_valid_bounds", detail=f"has shape {nv.shape}, expected (2,)")]
    out = []
    total, rows, length = int(nv[0]), int(nv[1]), inputs.max_num_tokens_padded
    if not 0 <= total <= length:
        out.append(Mismatch("num_valid_ids", "num_valid_bounds", index=0, expected=length, actual=total,
                            detail=f"padded length {total} is outside [0, P={length}]"))
    if rows != inputs.m:
        out.append(Mismatch("num_valid_ids", "num_valid_bounds", index=1, expected=inputs.m, actual=rows,
                            detail=f"M: expected {inputs.m}, got {rows}"))
    return out


def _sorted_ids(ids: np.ndarray, valid: int, inputs: SortInputs) -> Optional[Mismatch]:
    packed = np.asarray(ids)[:valid].view(np.uint32)
    token, slot = packed & 0xFFFFFF, packed >> 24
    bad = (packed != np.uint32(inputs.sentinel & 0xFFFFFFFF)) & ((token >= inputs.m) | (slot >= inputs.topk))
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    t, s = unpack_id(packed[i])
    return Mismatch("sorted_ids", "index_bounds", index=i, token=t, slot=s, actual=f"0x{int(packed[i]):08x}",
                    detail=f"{int(bad.sum())} entr{'ies hold' if bad.sum() > 1 else 'y holds'} below num_valid_ids[0] "
                           f"a pair outside token < M={inputs.m}, slot < topk={inputs.topk}; first at "
                           f"{i}: token {t} slot {s} (0x{int(packed[i]):08x})")


def _expert_ids(blocks: np.ndarray, valid: int, inputs: SortInputs) -> Optional[Mismatch]:
    local = inputs.num_experts if inputs.expert_mask is None else int(np.count_nonzero(inputs.expert_mask))
    b = np.asarray(blocks)[: valid // inputs.unit_size]
    bad = (b < 0) | (b >= local)
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    return Mismatch("sorted_expert_ids", "index_bounds", index=i, block=i, actual=int(b[i]),
                    detail=f"{int(bad.sum())} block(s) below num_valid_ids[0] / unit_size hold an expert id "
                           f"outside [0, E_local={local}); first: block {i} = {int(b[i])}")


def check_robustness(actual, inputs: SortInputs) -> list:
    """The clause's output checks on ``actual`` for ``inputs`` (see the module docstring)."""
    nv = np.asarray(actual.num_valid_ids)
    out = _num_valid(nv, inputs)
    if nv.shape == (2,) and 0 <= int(nv[0]) <= inputs.max_num_tokens_padded:   # else no valid extent to check
        valid = int(nv[0])
        out += [m for m in (_sorted_ids(actual.sorted_ids, valid, inputs),
                            _expert_ids(actual.sorted_expert_ids, valid, inputs)) if m is not None]
    if getattr(actual, "canary", None):
        out += red_zone_writes(actual)
    return out
