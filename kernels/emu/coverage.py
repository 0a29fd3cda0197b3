"""How general the interpreter is: trace FlyDSL's kernel files and list the ops it lacks.

``coverage(paths, target) -> list[FileRow]``: for every kernel file (a
FlyDSL checkout's ``kernels/**/*.py``, or the files given) it imports the
file, builds the ``@flyc.jit`` launchers it can (:func:`launchers`), traces
and lowers each to the interpreter's stage with placeholder CPU tensors
(nothing runs) and compares the stage's ops with the op table
(:data:`kernels.emu.codegen.OPS`).  A row says whether the file imports, how
many launchers were built and captured, and which op kinds the interpreter
lacks; :func:`table` renders the rows as Markdown.

Launchers are built without knowing the kernel: a module-level ``@flyc.jit``
function whose parameters are all annotated (tensors, integers, streams,
constexprs with defaults) is traced as it is; a module-level function named
``compile_*`` / ``build_*`` / ``make_*`` / ``create_*`` whose required
parameters are all in :data:`GUESSES` (the MoE family's shape knobs) is
called, and the launchers it returns are traced.  Tensor parameters get a
placeholder (int32 for names that hold ids, counts, masks or offsets, else
float32), 1-D first and, when that does not trace, 2-D (:data:`PLACEHOLDER_SHAPES`);
what a kernel needs beyond that shows as a trace failure with its reason.

A file's declared entry points (:func:`.entrypoints.declared`: its own
``EMU_ENTRY_POINTS``, or FlyDSL's table :data:`.flydsl_entries.TABLE`) are
then explored over their dispatch space on both targets
(:func:`.entrypoints.explore`): the row keeps one report per entry, its
``runs`` is false when a launcher an entry reached lacks an op or fails to
trace, or when points were skipped for time; :func:`table` adds, per such
file, every launcher reached with the points that reach it and what was not
explored (:func:`entry_table`).  Launchers are traced through
:func:`.traced_ops.launcher_ops` (cached per target, launcher and argument
signatures, in memory and on disk).
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import sys
import time
import warnings
from pathlib import Path

from . import entrypoints, flydsl_entries
from .codegen import OPS
from .entrypoints import short
from .scope import enter, leave
from .simt import Options
from .traced_ops import launcher_ops

#: Values for the required parameters of launcher factories, by parameter name.
GUESSES = {"num_experts": 8, "topk": 2, "E": 8, "M": 32, "max_tokens": 128, "tokens": 32, "num_tokens": 32,
           "unit_size": 32, "block_size": 32, "dtype_str": "bf16", "has_mask": False}
_FACTORY_PREFIXES = ("compile_", "build_", "make_", "create_")
_INT_TENSOR_WORDS = ("id", "idx", "num", "mask", "count", "offset", "ws", "workspace", "sorted")
#: Shapes of placeholder tensors, tried in order until the launcher traces (rows x the guessed experts).
PLACEHOLDER_SHAPES = ((1 << 16,), (GUESSES["M"], GUESSES["num_experts"]))


@dataclasses.dataclass
class FileRow:
    """One kernel file: ``imported`` (or ``error``), launchers ``built`` / ``captured``, the op
    kinds the interpreter lacks (``missing``: op name -> launchers that need it) and the reasons
    launchers failed to trace (``failures``)."""

    path: str
    imported: bool = True
    error: str = ""
    built: int = 0
    captured: int = 0
    missing: dict = dataclasses.field(default_factory=dict)
    failures: list = dataclasses.field(default_factory=list)
    entries: list = dataclasses.field(default_factory=list)
    not_called: list = dataclasses.field(default_factory=list)

    @property
    def entries_clean(self) -> bool:
        """Whether every declared entry was called at every point of its space (none skipped for
        time), reached a launcher, and every launcher it reached traced with only ops the
        interpreter implements.  An entry that rejects some points (raises) is listed, not counted
        against this; one that raises at every point is not explored."""
        return all(not e.error and not e.skipped and e.launchers
                   and all(not r.missing and not r.failures for r in e.launchers.values()) for e in self.entries)

    @property
    def runs(self) -> bool:
        """Whether every built launcher captured with only ops the interpreter implements, and so did
        every launcher the file's entry points reached."""
        return (self.imported and self.built > 0 and self.captured == self.built and not self.missing
                and self.entries_clean)


def kernel_files(root: Path) -> list:
    """The kernel files of a FlyDSL checkout (``kernels/**/*.py`` but ``__init__.py``), or ``root``
    itself when it is a file."""
    root = Path(root)
    if root.is_file():
        return [root]
    base = root / "kernels" if (root / "kernels").is_dir() else root
    return sorted(p for p in base.rglob("*.py") if p.name != "__init__.py")


def _module_name(path: Path) -> str:
    """``kernels.moe.x`` for ``ROOT/kernels/moe/x.py`` (FlyDSL's own imports resolve so); a
    private name for a file outside a ``kernels`` tree."""
    parts = path.resolve().with_suffix("").parts
    if "kernels" in parts:
        return ".".join(parts[len(parts) - 1 - parts[::-1].index("kernels"):])
    return f"_emu_coverage_{path.stem}"


def _import(path: Path):
    name = _module_name(path)
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path.resolve()):
        return sys.modules[name]
    if name.startswith("kernels."):
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _is_jit(obj) -> bool:
    from flydsl.compiler.jit_function import JitFunction
    return isinstance(obj, JitFunction)


def _placeholder(name: str, annotation, shape):
    """A value for one launcher parameter, or raise TypeError naming what it needs."""
    import flydsl.expr as fx
    import torch
    from flydsl.expr.typing import Constexpr

    text = str(annotation)
    if annotation is inspect.Parameter.empty:
        raise TypeError(f"parameter {name} is not annotated (a device helper, not a launcher)")
    if Constexpr.is_constexpr_annotation(annotation):
        raise TypeError(f"constexpr parameter {name} has no default")
    if annotation is fx.Tensor or "Tensor" in text:
        int_like = any(w in name.lower() for w in _INT_TENSOR_WORDS)
        return torch.zeros(shape, dtype=torch.int32 if int_like else torch.float32)
    if "Int" in text or "Index" in text or annotation is int:
        return 64
    if "Float" in text or annotation is float:
        return 1.0
    raise TypeError(f"parameter {name}: no placeholder for {text}")


def _arguments(jf, shape) -> list:
    args = []
    for p in inspect.signature(jf.func).parameters.values():
        if p.default is not inspect.Parameter.empty:
            break
        args.append(_placeholder(p.name, p.annotation, shape))
    return args


def _jit_values(obj, depth=0):
    if _is_jit(obj):
        yield obj
    elif depth < 2 and isinstance(obj, (tuple, list)):
        for x in obj:
            yield from _jit_values(x, depth + 1)
    elif depth < 2 and isinstance(obj, dict):
        for x in obj.values():
            yield from _jit_values(x, depth + 1)


def launchers(module) -> tuple:
    """``([(name, launcher)], [reason])``: the launchers built from ``module`` and why others were not."""
    found, reasons, seen = [], [], set()
    for name, obj in list(vars(module).items()):
        if _is_jit(obj) and getattr(obj.func, "__module__", None) == module.__name__:
            params = inspect.signature(obj.func).parameters.values()
            if all(p.annotation is not inspect.Parameter.empty for p in params):
                found.append((name, obj))
                seen.add(id(obj))
        elif (inspect.isfunction(obj) and obj.__module__ == module.__name__
              and name.startswith(_FACTORY_PREFIXES)):
            kwargs, missing = {}, []
            for p in inspect.signature(obj).parameters.values():
                if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    if p.name in GUESSES:
                        kwargs[p.name] = GUESSES[p.name]
                    else:
                        missing.append(p.name)
            if missing:
                reasons.append(f"{name}: no value for {', '.join(missing)}")
                continue
            try:
                made = obj(**kwargs)
            except Exception as e:  # noqa: BLE001 - a factory that fails is reported, not fatal
                reasons.append(f"{name}: {short(e)}")
                continue
            for k, jf in enumerate(_jit_values(made)):
                if id(jf) not in seen:
                    seen.add(id(jf))
                    found.append((f"{name}[{k}]:{jf.func.__name__}", jf))
    return found, reasons


def _public_functions(module) -> list:
    """Names of the public functions ``module`` defines (``functools`` caches unwrapped)."""
    out = []
    for name, obj in vars(module).items():
        fn = getattr(obj, "__wrapped__", obj)
        if not name.startswith("_") and inspect.isfunction(fn) and fn.__module__ == module.__name__:
            out.append(name)
    return out


def cover_entries(row: FileRow, module, deadline=None) -> None:
    """Explore the entry points ``module`` declares (:func:`.entrypoints.declared`, with FlyDSL's
    table :data:`.flydsl_entries.TABLE`) into ``row``; note the public functions not called."""
    try:
        declared = entrypoints.declared(module, flydsl_entries.TABLE)
    except TypeError as e:
        row.failures.append(str(e))
        return
    if not declared:
        return
    called = {e.name for e in declared} | {s.name for e in declared for s in e.sizers}
    builders = {id(e.call) for e in declared} | {id(s.size) for e in declared for s in e.sizers}
    row.not_called = [n for n in _public_functions(module) if n not in called and id(vars(module)[n]) not in builders]
    for entry in declared:
        row.entries.append(entrypoints.explore(module, entry, deadline=deadline))


def cover_file(path: Path, entries: bool = True, deadline=None) -> FileRow:
    """Import ``path``, build its launchers, trace each (inside an emulation session); with
    ``entries``, explore its declared entry points too (:func:`cover_entries`)."""
    row = FileRow(str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = _import(path)
    except BaseException as e:  # noqa: BLE001 - an import that fails (or exits) is the row's result
        row.imported, row.error = False, short(e)
        return row
    found, reasons = launchers(module)
    row.failures += reasons
    for name, jf in found:
        try:
            _arguments(jf, PLACEHOLDER_SHAPES[0])
        except TypeError as e:
            row.failures.append(f"{name}: {e}")
            continue
        row.built += 1
        ops = error = None
        for shape in PLACEHOLDER_SHAPES:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ops = launcher_ops(jf, *_arguments(jf, shape))
                break
            except Exception as e:  # noqa: BLE001 - a trace that fails is reported with its reason
                error = error or e
        if ops is None:
            row.failures.append(f"{name}: {short(error)}")
            continue
        if ops.refused:
            row.failures.append(f"{name}: the interpreter refuses the module: {ops.refused}")
            continue
        row.captured += 1
        for op in sorted(ops.names - set(OPS)):
            row.missing.setdefault(op, []).append(name)
    if entries:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cover_entries(row, module, deadline)
    return row


def _relative(path, root) -> str:
    if root is not None:
        try:
            return str(Path(path).resolve().relative_to(Path(root).resolve()))
        except ValueError:
            pass
    return str(path)


def table(rows, root=None) -> str:
    """The rows as Markdown: file, imports, launchers captured / built, op kinds lacking, notes; then,
    per file with declared entry points, the launchers they reach (:func:`entry_table`)."""
    out = ["| kernel file | imports | captured / built | runs | op kinds the interpreter lacks | notes |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        p = _relative(r.path, root)
        missing = sorted(set(r.missing) | {op for e in r.entries for lr in e.launchers.values() for op in lr.missing})
        missing = ", ".join(f"`{op}`" for op in missing) or "-"
        notes = r.error if not r.imported else "; ".join(r.failures[:2]) + (
            f" (+{len(r.failures) - 2} more)" if len(r.failures) > 2 else "")
        if r.entries:
            notes = (notes + "; " if notes else "") + (
                "entry points: see below" if r.entries_clean else "entry points reach launchers that do not run: see below")
        out.append(f"| `{p}` | {'yes' if r.imported else 'no'} | {r.captured} / {r.built} | "
                   f"{'yes' if r.runs else 'no'} | {missing} | {notes.replace('|', '/') or '-'} |")
    lacking = {}
    for r in rows:
        for op in set(r.missing) | {op for e in r.entries for lr in e.launchers.values() for op in lr.missing}:
            lacking[op] = lacking.get(op, 0) + 1
    out.append("")
    out.append(f"{sum(r.runs for r in rows)} of {len(rows)} files run; "
               f"{sum(r.captured for r in rows)} of {sum(r.built for r in rows)} module-level launchers captured.")
    if lacking:
        out.append("Op kinds lacking (files needing each): " +
                   ", ".join(f"`{op}` {n}" for op, n in sorted(lacking.items(), key=lambda x: (-x[1], x[0]))))
    undeclared = [_relative(r.path, root) for r in rows if r.imported and not r.entries]
    if undeclared:
        out.append(f"Entry points not explored (none declared; only module-level launchers traced): "
                   f"{', '.join(f'`{p}`' for p in undeclared)}.")
    for r in rows:
        if r.entries:
            out += ["", entry_table(r, _relative(r.path, root))]
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def entry_table(row: FileRow, name: str) -> str:
    """Markdown for the entry points of one file: every launcher reached (its kernels, the points that
    reach it, the op kinds it needs that the interpreter lacks, its trace failures), then what was
    explored and what was not."""
    out = [f"### Entry points of `{name}`", "",
           "| entry | launcher (kernels) | reached at | op kinds the interpreter lacks | trace failures |",
           "|---|---|---|---|---|"]
    for e in row.entries:
        for lr in e.launchers.values():
            kernels = ", ".join(sorted(lr.kernels)) or "?"
            missing = ", ".join(f"`{op}`" for op in sorted(lr.missing)) or "-"
            fails = "; ".join(f"{msg} at {entrypoints.describe(pts)}" for msg, pts in lr.failures.items()) or "-"
            out.append(f"| `{e.entry}` | `{lr.name}` ({kernels}) | {_cell(entrypoints.describe(lr.points))} | "
                       f"{missing} | {_cell(fails)} |")
        if not e.launchers:
            why = e.error or ("the entry raised at every point (below)" if e.entry_errors else "no point was called")
            out.append(f"| `{e.entry}` | none reached | - | - | {_cell(why)} |")
    out += ["", "Explored:"]
    for e in row.entries:
        bounds = ", ".join(f"{b.below}/{b.above} ({b.source})" for b in e.boundaries) or "none found"
        out.append(f"- `{e.entry}`: {e.points} calls in {e.seconds:.0f} s; T boundaries (below/above): {bounds}; "
                   f"besides them T = 0 and powers of two.")
    out += ["", "Not explored:"]
    for e in row.entries:
        if e.error:
            out.append(f"- `{e.entry}` could not be called: {e.error}")
        for msg, pts in e.entry_errors.items():
            out.append(f"- `{e.entry}` raised `{msg}` (launchers after that point not reached) at "
                       f"{entrypoints.describe(pts)}")
        for what in e.not_varied:
            out.append(f"- `{e.entry}` held fixed: {what}")
        if e.skipped:
            out.append(f"- `{e.entry}`: {len(e.skipped)} points skipped for time: {entrypoints.describe(e.skipped)}")
        out.append(f"- `{e.entry}`: T values other than those listed")
    if row.not_called:
        out.append("- public functions not called as entry points: " + ", ".join(f"`{n}`" for n in row.not_called))
    return "\n".join(out) + "\n"


def coverage(paths, target: str = "gfx950", entries: bool = True, budget_s: float | None = None) -> list:
    """One :class:`FileRow` per kernel file of ``paths`` (checkout roots, directories or files),
    traced for ``target`` inside an emulation session; with ``entries``, declared entry points are
    explored on both targets, points left after ``budget_s`` seconds skipped (and listed)."""
    files = [f for p in paths for f in kernel_files(Path(p))]
    deadline = time.monotonic() + budget_s if budget_s else None
    s = enter(target, Options())
    try:
        return [cover_file(f, entries, deadline) for f in files]
    finally:
        leave(s)
