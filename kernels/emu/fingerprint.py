"""Stable fingerprints of what a captured kernel depends on, for the persistent capture cache.

Contract:

* :func:`file_digest` -- SHA-256 of a file's bytes (memoized per path, size
  and modification time); None for a file that cannot be read.
* :func:`interpreter_version` -- one digest of the interpreter's own source
  (every ``.py`` file of ``kernels/emu`` and ``kernels/targets.py``), so a
  change to any handler, helper or target fact invalidates every entry.
* :func:`launcher_fingerprint` -- a value-based description of a
  ``@flyc.jit`` launcher: its function (module, qualified name, file, first
  line) and, recursively, the values its closure captures (numbers, strings,
  tuples, other functions and ``@flyc.kernel`` / ``@flyc.jit`` objects with
  their own closures, classes by name and annotations), plus the source
  files of every function met on the way.  A value with no stable
  description (an object whose ``repr`` shows its address, a recursion too
  deep) raises :class:`Unstable`: such a launcher is cached in memory only.

The capture's key combines these with the target, the constexpr values,
the argument signatures and FlyDSL's version (:mod:`.capture`); the files of
every source line in the captured module are checked again on each load.
"""
from __future__ import annotations

import enum
import hashlib
import os
import types
from pathlib import Path
from typing import Optional

_EMU_DIR = Path(__file__).resolve().parent
_DIGESTS: dict = {}
_VERSION: list = []


class Unstable(Exception):
    """A value with no stable, value-based description."""


def file_digest(path: str) -> Optional[str]:
    """SHA-256 (hex) of the file's bytes, None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    memo_key = (path, st.st_mtime_ns, st.st_size)
    hit = _DIGESTS.get(path)
    if hit is not None and hit[0] == memo_key:
        return hit[1]
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None
    _DIGESTS[path] = (memo_key, digest)
    return digest


def interpreter_version() -> str:
    """Digest of the interpreter's source files (computed once per process)."""
    if not _VERSION:
        h = hashlib.sha256()
        files = sorted(_EMU_DIR.rglob("*.py")) + [_EMU_DIR.parent / "targets.py"]
        for p in files:
            h.update(str(p.relative_to(_EMU_DIR.parent)).encode())
            h.update((file_digest(str(p)) or "-").encode())
        _VERSION.append(h.hexdigest())
    return _VERSION[0]


_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_MAX_DEPTH = 12


def _unwrap(fn):
    """The user's function behind FlyDSL's wrappers (and a deferred AST rewrite)."""
    for attr in ("__wrapped__",):
        inner = getattr(fn, attr, None)
        if isinstance(inner, types.FunctionType):
            return inner
    return fn


class _Walker:
    def __init__(self):
        self.files = set()
        self.seen = {}

    def value(self, v, depth):
        if depth > _MAX_DEPTH:
            raise Unstable("closure nesting too deep")
        if isinstance(v, _SCALARS):
            return (type(v).__name__, repr(v))
        if isinstance(v, enum.Enum):
            return ("enum", type(v).__qualname__, repr(v.value))
        if isinstance(v, (tuple, list, frozenset, set)):
            items = [self.value(x, depth + 1) for x in v]
            if isinstance(v, (set, frozenset)):
                items.sort()
            return (type(v).__name__, tuple(items))
        if isinstance(v, dict):
            return ("dict", tuple(sorted((repr(k), self.value(x, depth + 1)) for k, x in v.items())))
        if isinstance(v, types.ModuleType):
            return ("module", v.__name__)
        if isinstance(v, types.FunctionType):
            return self.function(v, depth)
        if isinstance(v, (types.BuiltinFunctionType, types.MethodType)):
            owner = getattr(v, "__self__", None)
            return ("callable", getattr(v, "__module__", None) or "", v.__qualname__,
                    self.value(owner, depth + 1) if isinstance(v, types.MethodType) else "")
        if isinstance(v, type):
            return self.cls(v, depth)
        for attr in ("_func", "func"):        # @flyc.kernel / @flyc.jit objects
            inner = getattr(v, attr, None)
            if callable(inner) and isinstance(_unwrap(inner), types.FunctionType):
                extra = tuple(sorted((k, self.value(x, depth + 1)) for k, x in vars(v).items()
                                     if k in ("_name", "_known_block_size", "compile_hints")))
                return ("wrapped", type(v).__qualname__, self.function(_unwrap(inner), depth), extra)
        r = repr(v)
        if " at 0x" in r or " object at " in r:
            raise Unstable(f"no value-based description of a {type(v).__qualname__}")
        return ("repr", type(v).__module__, type(v).__qualname__, r)

    def cls(self, c, depth):
        key = id(c)
        if key in self.seen:
            return ("cls-ref", c.__qualname__)
        self.seen[key] = True
        ann = getattr(c, "__annotations__", {}) or {}
        return ("cls", c.__module__, c.__qualname__,
                tuple((k, self.value(repr(a) if not isinstance(a, type) else a, depth + 1)) for k, a in ann.items()))

    def function(self, fn, depth):
        fn = _unwrap(fn)
        key = id(fn)
        if key in self.seen:
            return ("fn-ref", fn.__qualname__)
        self.seen[key] = True
        code = fn.__code__
        self.files.add(os.path.realpath(code.co_filename))
        cells = []
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                content = cell.cell_contents
            except ValueError:            # an empty cell (a name assigned later)
                cells.append((name, "<empty>"))
                continue
            cells.append((name, self.value(content, depth + 1)))
        # default argument values are not described: a launcher's arguments (defaults applied) are
        # part of the capture's key on their own, and a nested function's defaults are in its source
        return ("fn", fn.__module__, fn.__qualname__, code.co_filename, code.co_firstlineno, tuple(cells))


def launcher_fingerprint(fn) -> tuple:
    """``(description, source files)`` of the launcher function ``fn``; :class:`Unstable` when
    some captured value has no value-based description."""
    w = _Walker()
    desc = w.function(fn, 0)
    return desc, sorted(w.files)
