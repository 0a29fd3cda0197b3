"""What one backend launch returns: :class:`BackendResult`."""
from __future__ import annotations

import dataclasses
from typing import Optional

from oracle import SortResult


@dataclasses.dataclass
class BackendResult(SortResult):
    """The oracle's result fields plus what only a kernel run can tell: whether
    ``moe_buf`` was zeroed, the kernel path taken, where it ran and, with a red
    zone, the raw outputs for the comparator's canary check."""

    moe_buf_zeroed: bool = False
    path: Optional[str] = None
    backend: str = ""
    target: Optional[str] = None
    executed_on: str = ""
    canary: Optional[dict] = None
