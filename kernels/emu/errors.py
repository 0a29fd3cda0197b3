"""Exceptions raised by the CPU interpreter.

Contract: every error raised while *executing* a kernel carries the MLIR op
name and the source location (``file:line`` in the kernel's Python file, taken
from the op's ``loc(...)``) in its message and in the ``op`` / ``loc``
attributes.  Sanitizer findings are :class:`SanitizerError` subclasses; an op
the interpreter does not know is :class:`UnsupportedOpError` (raised when the
kernel is *prepared*, before anything runs).
"""
from __future__ import annotations


class EmuError(Exception):
    """Base class of every interpreter error."""

    def __init__(self, message: str, *, op: str = "", loc: str = ""):
        self.op = op
        self.loc = loc
        where = ""
        if op or loc:
            where = f" [{op}{' at ' if op and loc else ''}{loc}]"
        super().__init__(message + where)


class UnsupportedOpError(EmuError):
    """The lowered IR holds an op (or an op form) the interpreter does not implement."""


class SanitizerError(EmuError):
    """A sanitizer check failed; subclasses say which."""


class OutOfBoundsError(SanitizerError):
    """Raw pointer access outside every live allocation, or LDS access outside its allocation."""


class UninitializedReadError(SanitizerError):
    """Read of LDS (or of an output-only tensor) that was never written in this launch."""


class RaceError(SanitizerError):
    """Two waves (LDS) or two workgroups (global) touch one word between barriers, one writing."""


class ScheduleDependenceError(SanitizerError):
    """Outputs differ when the launch is re-run with another workgroup / wave schedule."""


class DivergentBarrierError(SanitizerError):
    """``gpu.barrier`` reached while only part of the workgroup's live lanes are active."""


class LaunchError(SanitizerError):
    """A launch the HIP runtime refuses or changes: a grid dimension that is zero or does not
    fit the unsigned 32 bits ``hipModuleLaunchKernel`` takes."""


class UndefinedBehaviorError(SanitizerError):
    """Immediate undefined behaviour in an active lane (integer division by zero)."""
