"""Importing an old FlyDSL revision's kernels with the installed flydsl (0.5.0).

Kernels of older FlyDSL revisions import modules of ``flydsl.expr`` that
flydsl 0.5.0 no longer ships (``buffer_ops``, moved into the kernel tree, and
``vector``); the revision's checkout still holds them
(``python/flydsl/expr/<name>.py``).  :func:`provide_expr_modules` loads each
missing one from the checkout as ``flydsl.expr.<name>`` (its relative
imports resolve against the installed flydsl), so the old kernel imports
unchanged.  Nothing is copied:
the module is read from the checkout named at run time.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

#: The ``flydsl.expr`` modules old kernels import that flydsl 0.5.0 lacks.
EXPR_MODULES = ("buffer_ops", "vector")


def provide_expr_modules(root, names=EXPR_MODULES, successors=None) -> list:
    """Make each ``flydsl.expr.<name>`` of ``names`` that the installed flydsl lacks importable from
    the checkout at ``root``; returns the names provided (a name neither has stays missing, and the
    old kernel's import then fails naming it).  ``successors`` ({name: path}) names a newer file to
    load instead -- FlyDSL's own successor of a module whose old text no longer matches the
    installed MLIR bindings (``buffer_ops``: ``kernels/common/buffer_ops.py`` of a newer checkout)."""
    import flydsl.expr

    taken = []
    for name in names:
        full = f"flydsl.expr.{name}"
        if full in sys.modules or importlib.util.find_spec(full) is not None:
            continue
        path = Path((successors or {}).get(name) or Path(root) / "python" / "flydsl" / "expr" / f"{name}.py")
        if not path.is_file():
            continue
        spec = importlib.util.spec_from_file_location(full, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[full] = mod
        spec.loader.exec_module(mod)
        setattr(flydsl.expr, name, mod)
        taken.append(name)
    return taken
