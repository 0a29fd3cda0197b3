"""What one launch of a backend that takes logits returns, and how an emulated launch
is recorded.

:class:`RouterRun` holds the outputs (a ``FusedResult``: the sort of the fused
entry or of the torch reference; or a ``GatingResult``: the top-k choice), the
path (the kernels the launch ran, in order, joined by ``+``, launch-index suffix
kept) and the interpreter's findings.  :func:`recorded` runs a launch so that the
path and the findings span every launcher call it makes (the fused entry's
fallback calls the gating kernel's launcher, then the sort's).
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Optional


@dataclasses.dataclass
class RouterRun:
    result: Any                      # FusedResult or GatingResult
    path: Optional[str]
    findings: list = dataclasses.field(default_factory=list)
    written_by: Optional[dict] = None  # no store tracking for these launches (fuzz.judge reads it)


@contextlib.contextmanager
def recorded():
    """``with recorded() as record: ...`` -- afterwards ``record["path"]`` names the kernels
    launched inside and ``record["findings"]`` lists the findings recorded inside.  A raise
    inside gets those findings as its ``findings`` attribute (as the sort's harness does)."""
    from ..emu.findings import collect
    from ..emu.stats import STATS

    record: dict = {"path": None, "findings": []}
    start = len(STATS.records)
    raised = None
    with collect() as found:
        try:
            yield record
        except Exception as exc:  # noqa: BLE001 - re-raised below with its findings
            raised = exc
    record["findings"] = list(found)
    record["path"] = "+".join(r.kernel for r in STATS.records[start:] if not r.rerun) or None
    if raised is not None:
        if not getattr(raised, "findings", None):
            raised.findings = record["findings"]
        raise raised
