"""Importing a FlyDSL revision's kernels of any vintage with the installed flydsl (0.5.0).

Two things changed over FlyDSL's history that an old revision's sort needs:

* Kernels of older revisions import modules of ``flydsl.expr`` that flydsl
  0.5.0 no longer ships (``buffer_ops``, moved into the kernel tree, and
  ``vector``); the revision's checkout still holds them
  (``python/flydsl/expr/<name>.py``).  :func:`provide_expr_modules` loads each
  missing one as ``flydsl.expr.<name>`` (its relative imports resolve against
  the installed flydsl), from the checkout or from a newer file named as its
  successor, so the old kernel imports unchanged.  Nothing is copied: the
  module is read from the file named at run time.
* The sort kernel moved from ``kernels/moe_sorting_kernel.py`` to
  ``kernels/moe/moe_sorting_kernel.py``; :func:`sorting_module` names the
  module a checkout holds.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Optional

#: The ``flydsl.expr`` modules old kernels import that flydsl 0.5.0 lacks.
EXPR_MODULES = ("buffer_ops", "vector")

#: Where the sort kernel lives in a checkout, newest layout first: (module name, file).
SORTING_LAYOUTS = (("kernels.moe.moe_sorting_kernel", "kernels/moe/moe_sorting_kernel.py"),
                   ("kernels.moe_sorting_kernel", "kernels/moe_sorting_kernel.py"))


def sorting_module(root) -> Optional[tuple[str, str]]:
    """``(module name, file relative to root)`` of the sort kernel in the checkout at ``root``;
    None when it holds none."""
    return next(((name, rel) for name, rel in SORTING_LAYOUTS if (Path(root) / rel).is_file()), None)


def provide_expr_modules(root, names=EXPR_MODULES, successors=None) -> list:
    """Make each ``flydsl.expr.<name>`` of ``names`` that the installed flydsl lacks importable from
    the checkout at ``root``; returns the names provided (a name neither has stays missing, and the
    old kernel's import then fails naming it).  ``successors`` ({name: path}) names a newer file to
    load instead -- FlyDSL's own successor of a module whose old text no longer matches the
    installed MLIR bindings (``buffer_ops``: ``kernels/common/buffer_ops.py`` of a newer checkout).
    A module whose file does not import under the installed flydsl is left missing too."""
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
        try:
            spec.loader.exec_module(mod)
        except Exception:  # noqa: BLE001 - a module of another flydsl: the kernel that needs it says so
            del sys.modules[full]
            continue
        setattr(flydsl.expr, name, mod)
        taken.append(name)
    return taken
