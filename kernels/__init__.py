"""The suite's kernel side: one entry point for every backend.

``kernels.run(backend, topk_ids, topk_weights, num_experts, ...)`` launches one
MoE sort on the named backend and returns a :class:`kernels.result.BackendResult`
(the oracle's result fields plus ``moe_buf_zeroed`` and ``path``).
``kernels.available()`` maps every declared backend to ``None`` (usable here)
or the reason it is not.

Import scheme.  FlyDSL's own source tree is also a top-level package named
``kernels`` (its modules import ``kernels.common...``, ``kernels.moe...``).
When ``FLYDSL_ROOT`` names a FlyDSL checkout, this package appends
``$FLYDSL_ROOT/kernels`` to its own ``__path__``: ``kernels.moe.moe_sorting_kernel``
then resolves to FlyDSL's file and ``kernels.run`` / ``kernels.emu`` to ours, in
one process.  Our subpackage names are chosen to never match FlyDSL's; a
checkout that has one of them, or a ``FLYDSL_ROOT`` that names no checkout, is
refused with a :class:`CheckoutError` (an ImportError) naming the variable and
its value.
"""
from __future__ import annotations

import os
from pathlib import Path

# Our own submodules; none may exist in FlyDSL's kernels/ directory.
OWN_SUBMODULES = ("backends", "compilecheck", "emu", "moesort", "graph_replay", "harness", "registry", "result",
                  "targets")


class CheckoutError(ImportError):
    """``FLYDSL_ROOT`` names no usable FlyDSL checkout; ``setting`` is the variable at fault
    (the command line reports it in one line, exit status 2)."""

    setting = "FLYDSL_ROOT"


def _merge_flydsl_checkout() -> None:
    root = os.environ.get("FLYDSL_ROOT")
    if not root:
        return
    theirs = Path(root).expanduser().resolve() / "kernels"
    if not (theirs / "__init__.py").is_file():
        raise CheckoutError(
            f"FLYDSL_ROOT={root!r}: {theirs}/__init__.py not found; "
            "FLYDSL_ROOT must name the root of a FlyDSL source checkout"
        )
    clashes = [
        name for name in OWN_SUBMODULES
        if (theirs / name).is_dir() or (theirs / f"{name}.py").is_file()
    ]
    if clashes:
        raise CheckoutError(
            f"FLYDSL_ROOT={root!r}: FlyDSL's kernels/ has {clashes}, which clash "
            "with moesort-verify's own kernels.* modules"
        )
    if str(theirs) not in __path__:
        __path__.append(str(theirs))


_merge_flydsl_checkout()

from .registry import all_backends, available, run  # noqa: E402
from .result import BackendResult  # noqa: E402

__all__ = ["BackendResult", "all_backends", "available", "run"]
