"""Stable failure signatures: a thousand copies of one bug make one entry.

A signature is (backend, target, path, output, kind):

- an output mismatch: ``output`` and the comparator's mismatch ``kind`` of the
  first mismatch no known finding covers, on that target and kernel path;
- a finding no known finding matches: output ``finding`` and kind
  ``<check>@<call chain>`` (``lds-out-of-bounds@moe_sorting_kernel.py:167<448<315``,
  ``host-exception:ValueError@...``), with no target or path, so one finding
  seen on both targets and on every path through that code is one signature,
  while two calling lines of one helper are two;
- a launch that ran other kernels than the backend's declared dispatch gives
  its M (:mod:`fuzz.dispatch`): output ``dispatch``, kind
  ``expected:<kernels>``, on that target and the path it took;
- a launch that raised for another reason: ``crash:<ExceptionType>``
  (``@<file.py>:<line>`` when the error names a kernel op);
- a memory-safety failure (the robustness clause of CONTRACT.md): output
  ``memory-safety``, a class of its own whatever the ids were -- a new
  finding of a check in ``kernels.emu.findings.MEMORY_SAFETY_CHECKS``
  (kind ``<check>@<call chain>``, no target or path, as for any finding), a
  write into a red zone (``red_zone:<output>``), ``num_valid_ids`` outside
  its bounds (``num_valid_bounds:num_valid_ids``), an output index the next
  GEMM would take out of range (``index_bounds:<output>``), or a launch past
  its time limit (``timeout``).

Its ``key`` is a short string used in tables, its ``digest`` in file names.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Optional

from kernels.emu.findings import MEMORY_SAFETY_CHECKS

#: The ``output`` of every memory-safety signature.
MEMORY_SAFETY = "memory-safety"


@dataclasses.dataclass(frozen=True)
class Signature:
    backend: str
    target: Optional[str]
    path: Optional[str]
    output: str
    kind: str

    @property
    def key(self) -> str:
        return "/".join(str(p) for p in (self.backend, self.target or "-", self.path or "-", self.output, self.kind))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()[:8]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Signature":
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})


def of_verdict(backend: str, target, verdict) -> Signature:
    output, kind = verdict.signature()
    return Signature(backend, target, verdict.path, output, kind)


def of_mismatch(backend: str, target, path, mismatch) -> Signature:
    return Signature(backend, target, path, mismatch.output, mismatch.kind)


def of_finding(backend: str, finding) -> Signature:
    """One signature per finding site (its check and whole call chain), across targets;
    in the memory-safety class when its check is one of ``MEMORY_SAFETY_CHECKS``."""
    check = finding.check if finding.check != "host-exception" else f"host-exception:{finding.error}"
    output = MEMORY_SAFETY if finding.check in MEMORY_SAFETY_CHECKS else "finding"
    return Signature(backend, None, None, output, f"{check}@{finding.chain}")


def of_safety_mismatch(backend: str, target, path, mismatch) -> Signature:
    """A red-zone write, ``num_valid_ids`` or an output index out of bounds (``oracle.check_robustness``)."""
    return Signature(backend, target, path, MEMORY_SAFETY, f"{mismatch.kind}:{mismatch.output}")


def of_timeout(backend: str, target, path) -> Signature:
    """A launch that ran past the judge's time limit (it did not terminate)."""
    return Signature(backend, target, path, MEMORY_SAFETY, "timeout")


def of_dispatch(backend: str, target, path, expected: tuple) -> Signature:
    """A launch that ran ``path`` where the declared dispatch gives ``expected``."""
    return Signature(backend, target, path, "dispatch", "expected:" + "+".join(expected))


def _site(exc: BaseException) -> str:
    """``file.py:LINE`` of the kernel op an interpreter error names (outermost
    frame of its location), or "" when it names none."""
    loc = getattr(exc, "loc", "") or ""
    head = loc.split(" (from")[0].strip()
    return head.rsplit("/", 1)[-1]


def of_exception(backend: str, target, path, exc: BaseException) -> Signature:
    """A crash: the exception type, plus the kernel source line for interpreter
    errors, so two different sanitizer findings make two signatures."""
    site = _site(exc)
    return Signature(backend, target, path, "launch", f"crash:{type(exc).__name__}" + (f"@{site}" if site else ""))
