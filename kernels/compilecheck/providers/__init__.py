"""Compile providers: per backend, which kernels to build and how to build them.

A provider is a module of this package that knows how to build one backend's
FlyDSL kernels without running them.  It exposes:

``NAME``                       the backend name (as in ``kernels.registry``);
``PATHS``                      its kernel paths, in execution order (reports sort by it);
``probe() -> str | None``      None when it can compile here, else why not (one line);
``jobs(targets, shapes)``      the :class:`~kernels.compilecheck.jobs.CompileJob` list;
``compile(job) -> None``       called in a worker fixed to ``job.target`` with
                               ``COMPILE_ONLY=1``: call the backend's launcher(s)
                               with host placeholders so FlyDSL compiles them.

:data:`PROVIDERS` maps backend name -> provider module; adding a backend to
the compile matrix is one module and one entry.
"""
from __future__ import annotations

import importlib
from typing import Iterable, Optional, Sequence

from cases import PRODUCTION_SHAPES, Shape

from ...targets import TARGET_NAMES

PROVIDERS = {
    "probe": "kernels.compilecheck.providers.probe",
    "flydsl-own": "kernels.compilecheck.providers.own",
    "flydsl-upstream": "kernels.compilecheck.providers.upstream",
}


def provider_module(backend: str):
    """Import the provider of ``backend``; KeyError names the known ones."""
    if backend not in PROVIDERS:
        raise KeyError(f"no compile provider for backend {backend!r}; known: {sorted(PROVIDERS)}")
    return importlib.import_module(PROVIDERS[backend])


def available_backends() -> dict:
    """backend -> None (compilable here) or the reason it is not."""
    out = {}
    for name in PROVIDERS:
        try:
            out[name] = provider_module(name).probe()
        except Exception as exc:  # noqa: BLE001 - a broken provider is "unavailable", with why
            out[name] = f"{type(exc).__name__}: {exc}"
    return out


def compile_jobs(backend: str, targets: Sequence[str] = TARGET_NAMES,
                 shapes: Optional[Iterable[Shape]] = None) -> list:
    """The provider's jobs for ``targets`` and ``shapes`` (default: production shapes)."""
    return list(provider_module(backend).jobs(tuple(targets), tuple(shapes or PRODUCTION_SHAPES)))


def path_order(backend: str) -> tuple:
    """The paths of ``backend``'s kernels in execution order (empty for a backend with no provider)."""
    return tuple(provider_module(backend).PATHS) if backend in PROVIDERS else ()
