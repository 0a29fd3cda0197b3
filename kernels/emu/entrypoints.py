"""Coverage through a kernel file's public entry points: every launcher they reach, over their dispatch space.

A host entry point (FlyDSL's ``moe_sorting_flydsl``, say) picks its
launchers from T, E, topk, the dtype and the target.  :func:`explore` calls
one entry under capture emulation (:func:`kernels.emu.capture_graph` around
:func:`kernels.emu.emulate`, one session per target) at every point of its
dispatch space and records, instead of capturing and running them, the
launches it makes: each launcher reached is traced and lowered once per
(target, launcher fingerprint, argument signatures), and its op kinds are
compared with the op table (:mod:`.traced_ops`).  A launcher whose trace
fails, or that needs an op the interpreter lacks, is recorded and the entry
goes on, so the launchers after it are reached too.

Declaring entry points.  A kernel file declares its entries at module level::

    EMU_ENTRY_POINTS = (
        EntryPoint("my_sort", call=call_my_sort,            # call(module, point): build arguments, call
                   space={"E,topk": ((8, 2), (257, 9)), "dtype": ("f32", "bf16"), "mask": (False, True)},
                   not_varied=("unit_size: 32",)),
    )

Files that cannot carry a declaration (FlyDSL's) are given one by a table
keyed by path (:mod:`.flydsl_entries`).  An axis named ``"a,b"`` holds tuples
that give several parameters together (production (E, topk) pairs).  A point
is a dict: ``target``, one key per axis and ``T``; ``call`` and sizers get it with every
axis split into its parameters (:func:`flat`).

The dispatch space of T.  :func:`token_boundaries` reads the entry's source
and that of every function of the same module it calls (transitively) with
:mod:`ast`: each comparison of a token name (``M``, ``T``, ... ;
:attr:`EntryPoint.token_names`) with an expression whose integer value is
known (a literal, a module constant, a local name bound to such, ``min`` /
``max`` of such, arithmetic of such) is a boundary, tried on both of its
sides.  Declared sizers (host functions whose value depends on T, a
workspace size) add the T where their value changes between zero and
non-zero, found per point and target by bisection between powers of two
(a change that reverts inside one such interval is not found).  Powers of
two from 1 up to past the largest boundary (:attr:`EntryPoint.t_max`) and
T = 0 are tried too.

Between targets the entry's module and the modules it calls into have their
per-shape caches dropped (``functools`` caches and module-level dicts named
``*_cache``), as FlyDSL's host code keeps compiled launchers in such caches
keyed without the target.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import operator
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Callable, Mapping

from .graph import capture_graph
from .traced_ops import launcher_ops

#: Name of the module-level declaration of a kernel file's entry points.
DECLARATION = "EMU_ENTRY_POINTS"
#: The targets every entry point is explored on.
TARGETS = ("gfx942", "gfx950")


@dataclasses.dataclass(frozen=True)
class Sizer:
    """A host function of T whose change between zero and non-zero is a dispatch boundary:
    ``size(module, point)`` (the point holds ``T``) -> int."""

    name: str
    size: Callable


@dataclasses.dataclass(frozen=True)
class EntryPoint:
    """One public entry of a kernel file and its dispatch space.

    ``name``: the entry function (a module attribute); its source and that of the module functions
    it calls are read for T boundaries.  ``call(module, point)``: builds the entry's arguments for
    one point and calls it.  ``space``: axis -> values (an axis ``"a,b"`` holds tuples).
    ``token_names``: the names T goes by in the host code.  ``sizers``: see :class:`Sizer`.
    ``not_varied``: the entry's parameters held fixed, each ``"name: value (why)"``, stated in the
    table.  ``t_max``: the largest T tried (default: the first power of two past every boundary,
    at least 64)."""

    name: str
    call: Callable
    space: Mapping = dataclasses.field(default_factory=dict)
    token_names: tuple = ("M", "T", "num_tokens", "tokens", "n_tokens")
    sizers: tuple = ()
    not_varied: tuple = ()
    t_max: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"EntryPoint.name: expected a function name, got {self.name!r}")
        if not callable(self.call):
            raise TypeError(f"EntryPoint.call of {self.name}: expected a callable, got {self.call!r}")
        for axis, values in dict(self.space).items():
            names = [n.strip() for n in str(axis).split(",")]
            if {"T", "target"} & set(names):
                raise ValueError(f"EntryPoint.space of {self.name}: axis {axis!r} is reserved (T and target are "
                                 f"explored by the coverage itself)")
            if not isinstance(values, (tuple, list)) or not values:
                raise ValueError(f"EntryPoint.space[{axis!r}] of {self.name}: expected a non-empty tuple of values, "
                                 f"got {values!r}")
            bad = [v for v in values if len(names) > 1 and (not isinstance(v, tuple) or len(v) != len(names))]
            if bad:
                raise ValueError(f"EntryPoint.space[{axis!r}] of {self.name}: each value must be a tuple of "
                                 f"{len(names)}, got {bad[0]!r}")
        for sizer in self.sizers:
            if not isinstance(sizer, Sizer):
                raise TypeError(f"EntryPoint.sizers of {self.name}: expected Sizer objects, got {sizer!r}")
        if self.t_max is not None and (type(self.t_max) is not int or self.t_max < 1):
            raise ValueError(f"EntryPoint.t_max of {self.name}: expected a positive int, got {self.t_max!r}")


@dataclasses.dataclass(frozen=True)
class Boundary:
    """A T boundary of the host code: ``below`` and ``above`` are the T values on its two sides,
    ``source`` where it comes from (the comparison, or the sizer)."""

    below: int
    above: int
    source: str


@dataclasses.dataclass
class Launcher:
    """One launcher reached: its ``kernels``, the ``points`` that reach it, the op kinds it needs that
    the interpreter lacks (``missing``) and the trace failures (message -> points)."""

    name: str
    kernels: set = dataclasses.field(default_factory=set)
    points: list = dataclasses.field(default_factory=list)
    missing: set = dataclasses.field(default_factory=set)
    failures: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class EntryReport:
    """What :func:`explore` found for one entry: launchers reached (by name), the points whose entry
    call raised (message -> points), the points skipped for time, the T boundaries used, the
    parameters not varied, and ``error`` when the entry could not be called at all."""

    entry: str
    launchers: dict = dataclasses.field(default_factory=dict)
    entry_errors: dict = dataclasses.field(default_factory=dict)
    skipped: list = dataclasses.field(default_factory=list)
    boundaries: list = dataclasses.field(default_factory=list)
    not_varied: tuple = ()
    points: int = 0
    seconds: float = 0.0
    error: str = ""


def short(e, n=160) -> str:
    """``Type: first line of the message`` of an exception, at most ``n`` characters of message."""
    s = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {s[:n]}"


# ----------------------------------------------------------------- T boundaries from the host code
def _module_functions(module, fn) -> list:
    """``fn`` and every function of ``module`` it calls by name, transitively."""
    seen, todo, out = set(), [fn], []
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        out.append(f)
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                g = getattr(module, node.func.id, None)
                g = getattr(g, "__wrapped__", g)
                if inspect.isfunction(g) and g.__module__ == module.__name__:
                    todo.append(g)
    return out


_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
          ast.Mod: operator.mod, ast.LShift: operator.lshift, ast.RShift: operator.rshift}


class _Values:
    """Integer values an expression of one function can be known to have."""

    def __init__(self, module, tree):
        self.module = module
        self.assigned = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.assigned.setdefault(node.targets[0].id, []).append(node.value)

    def of(self, node, depth=0) -> set:
        if depth > 8:
            return set()
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return {node.value}
        if isinstance(node, ast.Name):
            if node.id in self.assigned:
                return set().union(*(self.of(v, depth + 1) for v in self.assigned[node.id]))
            v = getattr(self.module, node.id, None)
            return {v} if type(v) is int else set()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
            return set().union(*(self.of(a, depth + 1) for a in node.args)) if node.args else set()
        if isinstance(node, ast.BinOp):
            left, right = self.of(node.left, depth + 1), self.of(node.right, depth + 1)
            if len(left) == 1 and len(right) == 1 and self._closed(node.left) and self._closed(node.right):
                fn = _ARITH.get(type(node.op))
                try:
                    return {fn(*left, *right)} if fn is not None else set()
                except ArithmeticError:
                    return set()
        return set()

    def _closed(self, node) -> bool:
        """Whether ``node``'s value is a constant (not merely one of the values min/max may take)."""
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            vals = self.assigned.get(node.id)
            return all(self._closed(v) for v in vals) if vals else type(getattr(self.module, node.id, None)) is int
        if isinstance(node, ast.BinOp):
            return self._closed(node.left) and self._closed(node.right)
        return False


_SIDES = {ast.LtE: (0, 1), ast.Gt: (0, 1), ast.Lt: (-1, 0), ast.GtE: (-1, 0), ast.Eq: (-1, 1), ast.NotEq: (-1, 1)}
_MIRROR = {ast.LtE: ast.GtE, ast.GtE: ast.LtE, ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq}


def token_boundaries(module, fn, token_names) -> list:
    """The :class:`Boundary` s of T that ``fn`` and the module functions it calls compare a token
    name with (see the module docstring), sorted by value."""
    found = {}
    for f in _module_functions(module, fn):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
        except (OSError, TypeError, SyntaxError):
            continue
        values = _Values(module, tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            for (a, b), op in zip(itertools.pairwise(operands), node.ops):
                if isinstance(a, ast.Name) and a.id in token_names:
                    other, kind = b, type(op)
                elif isinstance(b, ast.Name) and b.id in token_names:
                    other, kind = a, _MIRROR.get(type(op))
                else:
                    continue
                if kind not in _SIDES:
                    continue
                lo, hi = _SIDES[kind]
                for v in values.of(other):
                    key = (v + lo, v + hi)
                    found.setdefault(key, Boundary(v + lo, v + hi, f"{f.__name__}: {ast.unparse(node)}"))
    return sorted(found.values(), key=lambda b: (b.below, b.above))


def sizer_boundaries(sizer: Sizer, module, point, t_max: int) -> list:
    """Where ``sizer`` changes between zero and non-zero for T in [1, t_max] at ``point``."""
    def zero(t):
        return sizer.size(module, flat(dict(point, T=t))) == 0
    out, lo = [], 1
    while lo < t_max:
        hi = min(lo * 2, t_max)
        if zero(lo) != zero(hi):
            a, b = lo, hi
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if zero(mid) == zero(a) else (a, mid)
            out.append(Boundary(a, b, f"{sizer.name} (per shape and target)"))
        lo = hi
    return out


def token_values(boundaries, t_max: int) -> list:
    """T values to try: 0 (no tokens), the powers of two up to ``t_max`` and both sides of every boundary."""
    vals = {0} | {1 << k for k in range(t_max.bit_length()) if 1 << k <= t_max}
    for b in boundaries:
        vals |= {b.below, b.above}
    return sorted(v for v in vals if 0 <= v <= t_max)


def default_t_max(boundaries) -> int:
    """The first power of two past every boundary (at least 64)."""
    top = max([b.above for b in boundaries] + [63])
    return 1 << top.bit_length()


# ----------------------------------------------------------------- the dispatch space
def space_points(space: Mapping) -> list:
    """The points of ``space`` (the product of its axes), each a dict axis -> value."""
    axes = list(space.items())
    return [dict(zip((name for name, _ in axes), combo)) for combo in itertools.product(*(v for _, v in axes))]


def flat(point) -> dict:
    """``point`` with every axis ``"a,b"`` split into its parameters a and b."""
    out = {}
    for name, v in point.items():
        names = [n.strip() for n in name.split(",")]
        out.update(zip(names, v) if len(names) > 1 else [(name, v)])
    return out


def _value(v) -> str:
    if isinstance(v, tuple):
        return "(" + ",".join(map(str, v)) + ")"
    return str(v)


def describe(points) -> str:
    """``points`` factored axis by axis (in their key order, ``T`` last): values whose remaining
    points are alike are joined, so ``target=gfx942,gfx950: mask=False,True: T=1,2,4`` stands for
    the product and ``{a | b}`` for alternatives."""
    points = [p for p in points if p is not None]
    if not points:
        return "-"
    keys = [k for k in points[0] if k != "T"] + (["T"] if "T" in points[0] else [])

    def rec(pts, ks):
        if not ks:
            return ""
        k, rest = ks[0], ks[1:]
        groups = {}
        for p in pts:
            groups.setdefault(p.get(k), []).append(p)
        if not rest:
            return f"{k}=" + ",".join(_value(v) for v in sorted(groups, key=_order))
        joined = {}
        for v in sorted(groups, key=_order):
            joined.setdefault(rec(groups[v], rest), []).append(v)
        parts = [f"{k}={','.join(_value(v) for v in vs)}: {sub}" for sub, vs in joined.items()]
        return parts[0] if len(parts) == 1 else "{" + " | ".join(parts) + "}"
    return rec(points, keys)


def _order(v):
    return (str(type(v)), v) if isinstance(v, (int, float, str, tuple, bool)) else (str(type(v)), str(v))


# ----------------------------------------------------------------- the per-shape caches of host code
def reset_host_caches(modules) -> None:
    """Drop the per-shape caches of ``modules``: their ``functools`` caches and module-level dicts
    named ``*_cache``."""
    for m in modules:
        for name, obj in vars(m).items():
            if callable(getattr(obj, "cache_clear", None)) and hasattr(obj, "cache_info"):
                obj.cache_clear()
            elif name.endswith("_cache") and isinstance(obj, dict):
                obj.clear()


def _sibling_modules(module) -> list:
    """``module`` and the loaded modules whose files lie in its package's tree (FlyDSL's
    ``kernels/`` directory, whose host code an entry may call into)."""
    root = Path(module.__file__).resolve().parents[len(module.__name__.split(".")) - 1]
    out = [module]
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if m is not module and f and Path(f).resolve().is_relative_to(root):
            out.append(m)
    return out


# ----------------------------------------------------------------- recording launches
class _Recorder:
    """Stands in for the emulated executor while an entry is explored: each launch (or
    ``flyc.compile``) is traced once per key (:func:`.traced_ops.launcher_ops`) and recorded
    against the current point."""

    def __init__(self, report: EntryReport):
        self.report, self.point = report, None

    def observe(self, jf, args, kwargs):
        row = self.report.launchers.setdefault(jf.func.__name__, Launcher(jf.func.__name__))
        row.points.append(self.point)
        try:
            ops = launcher_ops(jf, *args, **kwargs)
        except Exception as e:  # noqa: BLE001 - a launcher that does not trace is listed with why
            row.failures.setdefault(short(e), []).append(self.point)
            return
        row.kernels |= ops.kernels
        row.missing |= ops.lacking()
        if ops.refused:
            row.failures.setdefault(f"the interpreter refuses the module: {ops.refused}", []).append(self.point)

    def compile_or_execute(self, jf, args, kwargs, *, execute, return_compiled=False):
        from flydsl._mlir import ir

        if ir.Context.current is not None:          # a nested @jit call while tracing: inline it
            return jf.func(*args, **kwargs)
        self.observe(jf, args, kwargs)
        if return_compiled:
            return lambda *a: self.observe(jf, a, {})
        return None


class _Intercept:
    """While active, ``@flyc.jit`` calls go to ``recorder`` (the emulated hook is put back after)."""

    def __init__(self, recorder):
        self.recorder = recorder

    def __enter__(self):
        from flydsl.compiler.jit_function import JitFunction

        self.saved = JitFunction.__dict__["_compile_or_execute"]
        rec = self.recorder

        def hook(jf, args, kwargs, *, execute, return_compiled=False):
            return rec.compile_or_execute(jf, args, kwargs, execute=execute, return_compiled=return_compiled)
        JitFunction._compile_or_execute = hook

    def __exit__(self, *exc):
        from flydsl.compiler.jit_function import JitFunction

        JitFunction._compile_or_execute = self.saved
        return False


def explore(module, entry: EntryPoint, deadline: float | None = None, targets=TARGETS) -> EntryReport:
    """Call ``entry`` of ``module`` at every point of its dispatch space on each target (see the
    module docstring); points left when ``deadline`` (a ``time.monotonic()`` value) passes are
    skipped and listed."""
    from . import emulate

    report = EntryReport(entry.name, not_varied=tuple(entry.not_varied))
    start = time.monotonic()
    fn = getattr(module, entry.name, None)
    if not callable(fn):
        report.error = f"the module has no function {entry.name}"
        return report
    static = token_boundaries(module, fn, entry.token_names)
    report.boundaries += static
    recorder = _Recorder(report)
    for target in targets:
        reset_host_caches(_sibling_modules(module))
        with warnings.catch_warnings(), capture_graph(), emulate(target=target, sanitize=False), _Intercept(recorder):
            warnings.simplefilter("ignore")
            for base in space_points(entry.space):
                base = {"target": target, **base}
                t_max = entry.t_max or default_t_max(static)
                found = list(static)
                for sizer in entry.sizers:
                    try:
                        extra = sizer_boundaries(sizer, module, base, t_max)
                    except Exception as e:  # noqa: BLE001 - a sizer that fails is the point's entry error
                        report.entry_errors.setdefault(f"sizer {sizer.name}: {short(e)}", []).append(base)
                        continue
                    found += extra
                    report.boundaries += [b for b in extra if b not in report.boundaries]
                    t_max = entry.t_max or default_t_max(found)
                for t in token_values(found, t_max):
                    point = dict(base, T=t)
                    if deadline is not None and time.monotonic() > deadline:
                        report.skipped.append(point)
                        continue
                    report.points += 1
                    recorder.point = point
                    try:
                        entry.call(module, flat(point))
                    except Exception as e:  # noqa: BLE001 - an entry that raises is listed with the point
                        report.entry_errors.setdefault(short(e), []).append(point)
    report.seconds = time.monotonic() - start
    return report


def declared(module, table: Mapping | None = None) -> tuple:
    """The entry points of ``module``: its :data:`DECLARATION`, else the ``table`` entry whose key
    (a path suffix such as ``kernels/moe/x.py``) its file ends with, else ()."""
    own = getattr(module, DECLARATION, None)
    if own is not None:
        if not isinstance(own, (tuple, list)):
            raise TypeError(f"{DECLARATION}: expected a tuple of EntryPoint, got {own!r}")
        for i, e in enumerate(own):
            if not isinstance(e, EntryPoint):
                raise TypeError(f"{DECLARATION}[{i}]: expected an EntryPoint, got {e!r}")
        return tuple(own)
    path = str(getattr(module, "__file__", "") or "").replace("\\", "/")
    for suffix, entries in (table or {}).items():
        if path.endswith(suffix):
            return tuple(entries)
    return ()
