"""Which flydsl package the CPU interpreter can run: :func:`flydsl_problem`.

The interpreter traces kernels with FlyDSL's own front end and lowers them
with its pass pipeline (:mod:`kernels.emu.capture`), whose private entry
points differ between releases; it knows those of :data:`SUPPORTED_FLYDSL`.
"""
from __future__ import annotations

import importlib.util
from typing import Optional

#: flydsl releases whose tracing entry points the interpreter knows.
SUPPORTED_FLYDSL = ("0.4.2", "0.5.0")


def flydsl_problem() -> Optional[str]:
    """None when the installed flydsl is one the interpreter supports, else one line saying
    what is wrong and what to install."""
    if importlib.util.find_spec("flydsl") is None:
        return f"the flydsl package is not installed (pip install flydsl=={SUPPORTED_FLYDSL[-1]})"
    import flydsl

    version = getattr(flydsl, "__version__", None)
    if version not in SUPPORTED_FLYDSL:
        return (f"flydsl.__version__={version!r} ({flydsl.__file__}): the CPU interpreter supports flydsl "
                f"{', '.join(SUPPORTED_FLYDSL)} (pip install flydsl=={SUPPORTED_FLYDSL[-1]})")
    return None
