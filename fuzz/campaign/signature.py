"""Stable failure signatures: a thousand copies of one bug make one entry.

A signature is (backend, target, path, output, kind) of the first mismatch,
where ``kind`` is the comparator's mismatch kind, or ``crash:<ExceptionType>``
(``crash:<ExceptionType>@<file.py>:<line>`` for interpreter errors, which
name the kernel op) when the launch itself raised.  Its ``key`` is a short string used in file
names and tables.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Optional


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
