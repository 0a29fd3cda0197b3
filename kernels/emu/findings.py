"""Sanitizer findings: raised at once, or recorded while the launch goes on.

Every sanitizer check of the interpreter reports a failure through a
:class:`Reporter`.  In mode ``"raise"`` the report raises the check's
:class:`~kernels.emu.errors.SanitizerError` (the launch stops there).  In
mode ``"record"`` it appends a :class:`Finding` to :data:`FINDINGS` and the
check's caller goes on the way the hardware would: a load outside its range
reads what the hardware reads (0 past the workgroup's LDS or for a dropped
buffer access; the neighbouring bytes inside it), a store there is dropped,
a racing access proceeds in the order of the schedule, a divergent barrier
acts as a barrier for the workgroups that reach it.

Findings are de-duplicated per *site*: the check plus the op's source
location with its whole call chain (the innermost line, then the lines of
the inlined helpers' call sites and enclosing control flow), so one helper
line that serves many loads in a kernel gives one finding per calling line.
Each keeps the first workgroup, lane and address where it happened and how
many accesses hit it.  The target is not part of the site: one finding on
gfx942 and gfx950 is the same finding.

``kernels.emu.last_findings()`` lists the findings of the last launcher
call; :func:`collect` gathers every finding recorded inside a ``with``
block (several launcher calls).
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import linecache
import os
import re
import sys
from typing import Optional

from . import diskcache, errors, fingerprint

#: Each check's slug and the error it raises in mode "raise".
CHECKS = {
    "global-out-of-bounds": errors.OutOfBoundsError,     # raw global access outside every live tensor
    "lds-out-of-bounds": errors.OutOfBoundsError,        # LDS access outside its shared allocation
    "lds-view-out-of-bounds": errors.OutOfBoundsError,   # memref access at an index past its view's shape
    "buffer-past-end": errors.OutOfBoundsError,          # strict_buffers: dropped access just past num_records
    "uninitialized-lds": errors.UninitializedReadError,
    "uninitialized-output": errors.UninitializedReadError,
    "lds-race": errors.RaceError,                        # two waves, one LDS word, one epoch, one writing
    "global-race": errors.RaceError,                     # two workgroups, one global byte, one writing
    "wave-race": errors.RaceError,                       # two waves of one workgroup, one global byte, one epoch
    "divergent-barrier": errors.DivergentBarrierError,
    "division-by-zero": errors.UndefinedBehaviorError,
    "launch-grid-out-of-range": errors.LaunchError,      # a grid dimension of 0 or past 2**32 - 1
    "schedule-dependence": errors.ScheduleDependenceError,
}

#: The checks whose finding breaks the memory-safety part of the robustness clause
#: (CONTRACT.md, "Robustness"): an access outside the kernel's arguments or its own LDS
#: allocation or memref view (or, with ``strict_buffers``, one that only the descriptor keeps out of a
#: neighbour), and a barrier part of a workgroup never reaches (a hang on hardware).
#: Races and uninitialized reads stay inside the kernel's memory: what they break is
#: the outputs, which the clause leaves unspecified for invalid ids.
MEMORY_SAFETY_CHECKS = frozenset({"global-out-of-bounds", "lds-out-of-bounds", "lds-view-out-of-bounds",
                                  "buffer-past-end", "divergent-barrier"})

MODES = ("raise", "record")


@dataclasses.dataclass(frozen=True)
class Frame:
    """One source line of a finding's call chain."""

    file: str          # the path the op's location names
    line: int
    function: str      # innermost enclosing ``def`` ("" when the file cannot be read)
    text: str          # the stripped source line ("" when the file cannot be read)

    def short(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line}"


@dataclasses.dataclass
class Finding:
    """One sanitizer finding site of one kernel, with its first occurrence and count."""

    check: str
    error: str                         # the SanitizerError class a raise would use
    kernel: str
    op: str
    loc: str                           # "file.py:LINE (from :L2, :L3)"
    frames: tuple                      # Frame, innermost first
    message: str                       # the first occurrence's full message
    workgroup: Optional[int] = None
    lane: Optional[int] = None         # thread id inside the workgroup
    address: Optional[str] = None
    count: int = 1

    @property
    def site(self) -> tuple:
        return (self.check,) + tuple((f.file, f.line) for f in self.frames)

    @property
    def chain(self) -> str:
        """``file.py:167<448<315``: the innermost line, then its callers' lines."""
        if not self.frames:
            return self.loc
        head = self.frames[0]
        rest = [str(f.line) if f.file == head.file else f.short() for f in self.frames[1:]]
        return "<".join([head.short()] + rest)

    def describe(self) -> str:
        first = ", ".join(f"{label} {value}" for label, value in
                          (("workgroup", self.workgroup), ("lane", self.lane), ("address", self.address))
                          if value is not None)
        where = f"; first at {first}" if first else ""
        text = f" `{self.frames[0].text}`" if self.frames and self.frames[0].text else ""
        outer = [f for f in self.frames[1:] if f.text]
        via = f" via {'; '.join(f'{f.short()} `{f.text}`' for f in outer[:2])}" if outer else ""
        return (f"{self.check} in {self.kernel} at {self.chain}{text}{via}: {self.message} "
                f"({self.count} access{'es' if self.count != 1 else ''}{where})")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["frames"] = [dataclasses.asdict(f) for f in self.frames]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        d = dict(data)
        d["frames"] = tuple(Frame(**f) for f in d.get("frames", ()))
        return cls(**d)


# ---------------------------------------------------------------- source locations
_FROM = re.compile(r"^(?P<head>.*?):(?P<line>\d+)(?: \(from (?P<rest>.*)\))?$")


def parse_loc(loc: str) -> list:
    """``[(file, line), ...]`` innermost first, from an op location as the
    interpreter prints it (``/x/k.py:167 (from :448, other.py:12)``)."""
    m = _FROM.match((loc or "").strip())
    if not m:
        return []
    head = m.group("head")
    out = [(head, int(m.group("line")))]
    for part in (m.group("rest") or "").split(","):
        part = part.strip()
        if not part:
            continue
        f, _, ln = part.rpartition(":")
        if ln.isdigit():
            out.append((f or head, int(ln)))
    return out


_FUNCTIONS: dict = {}
_DEF_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _defs(statements, out: list) -> list:
    """(first line, last line, name) of every ``def`` among ``statements`` and the statements they hold
    (a ``def`` is a statement, so expressions need no visit)."""
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append((node.lineno, node.end_lineno or node.lineno, node.name))
        for field in _DEF_BODIES:
            _defs(getattr(node, field, None) or (), out)
    return out


def _function_spans(path: str) -> list:
    """(first line, last line, name) of every def in ``path``: memoized per file digest in this
    process and kept in the persistent capture cache (:mod:`.diskcache`) under that digest and the
    interpreter's and Python's versions, so a fresh process does not parse the kernel's source again
    to name a finding's function."""
    digest = fingerprint.file_digest(path)
    if digest is None:
        return []
    cached = _FUNCTIONS.get(path)
    if cached and cached[0] == digest:
        return cached[1]
    disk = diskcache.current()
    key = diskcache.key_of("function-spans", fingerprint.interpreter_version(), sys.version_info[:2], digest)
    payload = disk.load(key) if disk is not None else None
    spans = payload.get("spans") if payload is not None else None
    if not isinstance(spans, list):
        try:
            with open(path, encoding="utf-8") as f:
                spans = _defs(ast.parse(f.read(), path).body, [])
        except (OSError, SyntaxError, ValueError):
            spans = []
        if disk is not None:
            disk.store(key, {"spans": spans})
    _FUNCTIONS[path] = (digest, spans)
    return spans


def enclosing_function(path: str, line: int) -> str:
    """Name of the innermost ``def`` of ``path`` that holds ``line`` ("" if none)."""
    best = None
    for lo, hi, name in _function_spans(path):
        if lo <= line <= hi and (best is None or lo >= best[0]):
            best = (lo, name)
    return best[1] if best else ""


def function_lines(path: str, name: str) -> list:
    """The stripped source lines of every ``def name`` in ``path`` (empty when there is none)."""
    linecache.checkcache(path)
    return [linecache.getline(path, n).strip() for lo, hi, fn in _function_spans(path) if fn == name
            for n in range(lo, hi + 1)]


def source_line(path: str, line: int) -> str:
    linecache.checkcache(path)
    return linecache.getline(path, line).strip()


_INTERPRETER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _is_interpreter_frame(path: str) -> bool:
    """A frame of the interpreter itself (e.g. the hook that inlines a nested ``@jit``
    call while tracing): part of no kernel, so no finding names it."""
    return os.path.abspath(path).startswith(_INTERPRETER_DIR)


def frames_of(loc: str) -> tuple:
    """The kernel frames of an op location, innermost first; the interpreter's own frames are left out."""
    return tuple(Frame(f, ln, enclosing_function(f, ln), source_line(f, ln)) for f, ln in parse_loc(loc)
                 if not _is_interpreter_frame(f))


def finding_from_error(exc: errors.SanitizerError, kernel: str = "") -> Finding:
    """The :class:`Finding` a raised sanitizer error stands for (mode "raise")."""
    check = getattr(exc, "check", None) or _CHECK_OF_ERROR.get(type(exc))
    if check not in CHECKS:
        raise ValueError(f"{type(exc).__name__} carries no check of CHECKS (check={check!r}) and its class stands "
                         f"for several; the sanitizer's reporter sets exc.check on every error it raises")
    return Finding(check=check, error=type(exc).__name__, kernel=kernel or getattr(exc, "kernel", ""),
                   op=exc.op, loc=exc.loc, frames=frames_of(exc.loc), message=str(exc))


def finding_from_exception(exc: BaseException, roots) -> Optional[Finding]:
    """A ``host-exception`` finding for ``exc`` raised by kernel host code: the
    traceback frames in files under one of ``roots`` (a kernel's source tree),
    innermost first; None when no frame lies there (not the kernel's fault)."""
    import traceback

    roots = [os.path.realpath(r) + os.sep for r in roots if r]
    frames = [f for f in reversed(traceback.extract_tb(exc.__traceback__))
              if any(os.path.realpath(f.filename).startswith(r) for r in roots)]
    if not frames:
        return None
    chain = tuple(Frame(f.filename, f.lineno, enclosing_function(f.filename, f.lineno),
                        (f.line or source_line(f.filename, f.lineno)).strip()) for f in frames)
    return Finding(check="host-exception", error=type(exc).__name__, kernel="host code", op="",
                   loc=f"{chain[0].file}:{chain[0].line}", frames=chain,
                   message=f"{type(exc).__name__}: {exc}")


#: The check an error class stands for when it stands for one check of :data:`CHECKS` only
#: (an error without ``.check``, raised outside the reporter).
_CHECK_OF_ERROR = {cls: slug for slug, cls in CHECKS.items() if list(CHECKS.values()).count(cls) == 1}


# ---------------------------------------------------------------- the log
class FindingLog:
    """Findings recorded in this process, de-duplicated per (kernel, site)."""

    def __init__(self):
        self._calls: list = [{}]
        self._scopes: list = []

    def begin_call(self) -> None:
        """A new launcher call: :meth:`last_call` forgets the previous one's findings."""
        self._calls = [{}]

    def add(self, finding: Finding) -> None:
        key = (finding.kernel,) + finding.site
        for table in [self._calls[-1]] + [s for s in self._scopes]:
            old = table.get(key)
            if old is None:
                table[key] = dataclasses.replace(finding)
            else:
                old.count += finding.count

    def last_call(self) -> list:
        return list(self._calls[-1].values())

    @contextlib.contextmanager
    def scope(self):
        """``with FINDINGS.scope() as found:`` -- ``found`` (a dict) fills with every finding
        recorded inside; :func:`collect` wraps it as a list."""
        table: dict = {}
        self._scopes.append(table)
        try:
            yield table
        finally:
            self._scopes.remove(table)


FINDINGS = FindingLog()


class Collected(list):
    """The findings of a :func:`collect` block (filled when the block exits)."""


@contextlib.contextmanager
def collect():
    """``with collect() as found: ...`` -- afterwards ``found`` lists every finding recorded
    inside (across launcher calls), de-duplicated per kernel and site."""
    out = Collected()
    with FINDINGS.scope() as table:
        try:
            yield out
        finally:
            out.extend(table.values())


# ---------------------------------------------------------------- reporting
class Reporter:
    """The sanitizer checks' one way to report a failure.

    ``Reporter(mode, kernel)``; ``bind(X)`` names the workgroup context whose
    lanes later reports refer to.  Calling it raises (mode ``"raise"``) or
    records a finding and returns (mode ``"record"``): the caller then goes on
    as the hardware would.
    """

    def __init__(self, mode: str = "raise", kernel: str = ""):
        if mode not in MODES:
            raise ValueError(f"findings={mode!r}; expected one of {MODES}")
        self.mode = mode
        self.kernel = kernel
        self.X = None
        self._frames: dict = {}

    @property
    def raising(self) -> bool:
        return self.mode == "raise"

    def bind(self, X) -> None:
        self.X = X

    def __call__(self, check: str, message: str, info, *, lane=None, wg=None, addr=None, count: int = 1):
        op, loc = info
        error = CHECKS[check]
        if self.mode == "raise":
            exc = error(message, op=op, loc=loc)
            exc.check = check
            exc.kernel = self.kernel
            raise exc
        thread = None
        X = self.X
        if lane is not None and X is not None:
            lane = int(lane)
            thread = lane % X.Lp
            if wg is None:
                wg = X.wg if X.nb == 1 else int(X.wg_lane[lane])
        elif wg is None and X is not None and X.nb == 1:
            wg = X.wg
        frames = self._frames.get(loc)
        if frames is None:
            frames = self._frames[loc] = frames_of(loc)
        FINDINGS.add(Finding(
            check=check, error=error.__name__, kernel=self.kernel, op=op, loc=loc, frames=frames,
            message=message, workgroup=None if wg is None else int(wg), lane=thread,
            address=None if addr is None else (addr if isinstance(addr, str) else hex(int(addr))),
            count=max(int(count), 1)))


#: The reporter of code that runs outside a launch (always raises).
RAISE = Reporter("raise")
