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
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import sys
import warnings
from pathlib import Path

from . import irload
from .capture import lowered_text
from .codegen import OPS
from .scope import enter, leave
from .simt import Options

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

    @property
    def runs(self) -> bool:
        """Whether every built launcher captured with only ops the interpreter implements."""
        return self.imported and self.built > 0 and self.captured == self.built and not self.missing


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
                reasons.append(f"{name}: {type(e).__name__}: {_short(e)}")
                continue
            for k, jf in enumerate(_jit_values(made)):
                if id(jf) not in seen:
                    seen.add(id(jf))
                    found.append((f"{name}[{k}]:{jf.func.__name__}", jf))
    return found, reasons


def _short(e, n=160) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return s[:n]


def _op_names(module_ir) -> set:
    names = set()

    def walk(block):
        for op in block.ops:
            names.add(op.name)
            for r in op.regions:
                walk(r)
    for f in list(module_ir.kernels.values()) + list(module_ir.host.values()):
        walk(f.body)
    return names


def cover_file(path: Path) -> FileRow:
    """Import ``path``, build its launchers, trace each (inside an emulation session)."""
    row = FileRow(str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = _import(path)
    except BaseException as e:  # noqa: BLE001 - an import that fails (or exits) is the row's result
        row.imported, row.error = False, f"{type(e).__name__}: {_short(e)}"
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
        mod = error = None
        for shape in PLACEHOLDER_SHAPES:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    mod = irload.load_module(lowered_text(jf, *_arguments(jf, shape)))
                break
            except Exception as e:  # noqa: BLE001 - a trace that fails is reported with its reason
                error = error or e
        if mod is None:
            row.failures.append(f"{name}: {type(error).__name__}: {_short(error)}")
            continue
        row.captured += 1
        for op in sorted(_op_names(mod) - set(OPS)):
            row.missing.setdefault(op, []).append(name)
    return row


def table(rows, root=None) -> str:
    """The rows as Markdown: file, imports, launchers captured / built, op kinds lacking, notes."""
    out = ["| kernel file | imports | captured / built | runs | op kinds the interpreter lacks | notes |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        p = r.path
        if root is not None:
            try:
                p = str(Path(r.path).resolve().relative_to(Path(root).resolve()))
            except ValueError:
                pass
        missing = ", ".join(f"`{op}`" for op in sorted(r.missing)) or "-"
        notes = r.error if not r.imported else "; ".join(r.failures[:2]) + (
            f" (+{len(r.failures) - 2} more)" if len(r.failures) > 2 else "")
        out.append(f"| `{p}` | {'yes' if r.imported else 'no'} | {r.captured} / {r.built} | "
                   f"{'yes' if r.runs else 'no'} | {missing} | {notes.replace('|', '/') or '-'} |")
    lacking = {}
    for r in rows:
        for op in r.missing:
            lacking[op] = lacking.get(op, 0) + 1
    out.append("")
    out.append(f"{sum(r.runs for r in rows)} of {len(rows)} files run; "
               f"{sum(r.captured for r in rows)} of {sum(r.built for r in rows)} launchers captured.")
    if lacking:
        out.append("Op kinds lacking (files needing each): " +
                   ", ".join(f"`{op}` {n}" for op, n in sorted(lacking.items(), key=lambda x: (-x[1], x[0]))))
    return "\n".join(out) + "\n"


def coverage(paths, target: str = "gfx950") -> list:
    """One :class:`FileRow` per kernel file of ``paths`` (checkout roots, directories or files),
    traced for ``target`` inside an emulation session."""
    files = [f for p in paths for f in kernel_files(Path(p))]
    s = enter(target, Options())
    try:
        return [cover_file(f) for f in files]
    finally:
        leave(s)
