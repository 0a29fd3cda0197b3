"""The robustness clause (CONTRACT.md, "Robustness"): what a kernel's outputs must
show whatever its expert ids.

:func:`check_robustness` returns the :class:`~oracle.compare.Mismatch` list of
the clause's output checks on one result: ``num_valid_ids[0]`` within
``[0, P]`` and ``num_valid_ids[1] = M`` (kind ``num_valid_bounds``), and, when
the result carries canaries (``kernels.run(..., red_zone=N)``), every red zone
behind an output untouched (kind ``red_zone``).  The rest of the clause --
no access outside the kernel's arguments and LDS, termination -- is judged
from the interpreter's findings and the harness's time limit
(``fuzz.judge``), not from outputs.
"""
from __future__ import annotations

import numpy as np

from .compare import Mismatch, red_zone_writes


def check_robustness(actual, max_num_tokens_padded: int, m: int) -> list:
    """The clause's output checks on ``actual`` (see the module docstring)."""
    out = []
    nv = np.asarray(actual.num_valid_ids)
    if nv.shape != (2,):
        out.append(Mismatch("num_valid_ids", "num_valid_bounds", detail=f"has shape {nv.shape}, expected (2,)"))
    else:
        total, rows = int(nv[0]), int(nv[1])
        if not 0 <= total <= max_num_tokens_padded:
            out.append(Mismatch("num_valid_ids", "num_valid_bounds", index=0, expected=max_num_tokens_padded,
                                actual=total, detail=f"padded length {total} is outside "
                                                     f"[0, P={max_num_tokens_padded}]"))
        if rows != m:
            out.append(Mismatch("num_valid_ids", "num_valid_bounds", index=1, expected=m, actual=rows,
                                detail=f"M: expected {m}, got {rows}"))
    if getattr(actual, "canary", None):
        out += red_zone_writes(actual)
    return out
