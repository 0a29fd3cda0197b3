"""What one backend launch returns: :class:`BackendResult`."""
from __future__ import annotations

import dataclasses
from typing import Optional

from oracle import SortResult


@dataclasses.dataclass
class BackendResult(SortResult):
    """The oracle's result fields plus what only a kernel run can tell: whether
    ``moe_buf`` was zeroed (and where not), the kernel path taken, where it ran,
    with a red zone the raw outputs for the comparator's canary check, the
    invalid-ids policy the launch ran under, and, on the interpreter, the
    findings it recorded and which store wrote each output element (see
    :mod:`kernels.harness`)."""

    moe_buf_zeroed: bool = False
    moe_buf_residue: Optional[dict] = None   # where moe_buf was left non-zero (kernels.harness.moe_buf_residue)
    path: Optional[str] = None
    backend: str = ""
    target: Optional[str] = None
    executed_on: str = ""
    canary: Optional[dict] = None
    invalid_ids: str = "reject"      # the policy of the launch (oracle.invalid_ids)
    findings: list = dataclasses.field(default_factory=list)   # kernels.emu.Finding, recorded in the launch
    written_by: dict = dataclasses.field(default_factory=dict)   # output -> writer site id per element
    writer_sites: dict = dataclasses.field(default_factory=dict)  # writer site id -> "kernel at file:line ..."
