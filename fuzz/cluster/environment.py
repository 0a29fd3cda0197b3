"""What a cluster worker must share with the submitting machine, and the check every task runs first.

:func:`describe` gives a process's environment as a dict (``python``,
``flydsl``, ``suite``; plus ``flydsl_checkout`` and ``fixtures`` when asked
for).  ``suite`` is a digest of every file of the suite's packages (the
regression fixtures left out): two installs with one digest run the same
code and the same known-findings list.  ``flydsl_checkout`` is a digest of
``$FLYDSL_ROOT/kernels`` (None when FLYDSL_ROOT is unset): asked for when a
backend needs FlyDSL's checkout.  ``fixtures`` is a digest of the regression
fixtures: asked for by mutation runs, whose checks replay them.

:func:`verify` runs at the start of every cluster task, on the worker: a
worker whose environment differs from the submitter's raises
:class:`EnvironmentMismatch` (its address and every difference) before the
task computes anything, so no result from it counts.  Dask is imported only
to name the worker in that error (:func:`worker_address`).
"""
from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path
from typing import Iterable, Optional

#: The suite's packages: their files make up the ``suite`` digest.
SUITE_PACKAGES = ("oracle", "cases", "kernels", "fuzz", "regressions")
SUITE_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path("regressions") / "fixtures"


class EnvironmentMismatch(RuntimeError):
    """A worker's environment differs from the submitter's: ``worker`` (its address) and
    ``differences`` (one line each, e.g. ``flydsl: 0.4.0 on the worker, 0.5.0 on the submitter``)."""

    def __init__(self, worker: str, differences: list):
        super().__init__(f"worker {worker} refused: " + "; ".join(differences))
        self.worker, self.differences = worker, list(differences)

    def __reduce__(self):
        return (type(self), (self.worker, self.differences))


def _skipped(path: Path) -> bool:
    return any(part == "__pycache__" or part.startswith(".") for part in path.parts) or path.suffix == ".pyc"


def tree_digest(root: Path, files: Iterable[Path]) -> str:
    """sha256 (16 hex digits) over the relative paths and contents of ``files`` under ``root``."""
    h = hashlib.sha256()
    for path in sorted(files):
        rel = path.relative_to(root)
        if _skipped(rel) or not path.is_file():
            continue
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def suite_digest(root: Path = SUITE_ROOT) -> str:
    files = [p for pkg in SUITE_PACKAGES for p in (root / pkg).rglob("*")
             if not p.relative_to(root).is_relative_to(FIXTURES)]
    return tree_digest(root, files)


def fixtures_digest(root: Path = SUITE_ROOT) -> str:
    return tree_digest(root, (root / FIXTURES).rglob("*"))


def checkout_digest() -> Optional[str]:
    """Digest of ``$FLYDSL_ROOT/kernels``, or None when FLYDSL_ROOT is unset or has no kernels/."""
    root = os.environ.get("FLYDSL_ROOT")
    if not root:
        return None
    kernels = Path(root).expanduser().resolve() / "kernels"
    if not kernels.is_dir():
        return None
    return tree_digest(kernels, kernels.rglob("*.py"))


def _flydsl_version() -> Optional[str]:
    try:
        import flydsl
    except ImportError:
        return None
    return getattr(flydsl, "__version__", "unknown")


def describe(checkout: bool = False, fixtures: bool = False) -> dict:
    """This process's environment; ``checkout`` / ``fixtures`` add those digests."""
    env = {"python": ".".join(platform.python_version_tuple()[:2]), "flydsl": _flydsl_version(),
           "suite": suite_digest()}
    if checkout:
        env["flydsl_checkout"] = checkout_digest()
    if fixtures:
        env["fixtures"] = fixtures_digest()
    return env


_WHAT = {"python": "Python", "flydsl": "flydsl", "suite": "suite sources (digest of oracle/ cases/ kernels/ "
         "fuzz/ regressions/)", "flydsl_checkout": "FlyDSL checkout at $FLYDSL_ROOT (digest of its kernels/)",
         "fixtures": "regression fixtures (digest)"}


def differences(expected: dict, actual: dict) -> list:
    """One line per field of ``expected`` that ``actual`` does not match."""
    out = []
    for key, want in expected.items():
        got = actual.get(key)
        if got == want:
            continue
        if key == "flydsl_checkout" and got is None:
            out.append(f"FLYDSL_ROOT is not set on the worker (or has no kernels/); the submitter's checkout "
                       f"has digest {want}")
        else:
            out.append(f"{_WHAT.get(key, key)}: {got} on the worker, {want} on the submitter")
    return out


def worker_address() -> str:
    """The address of the Dask worker running this code (``this process`` outside a worker)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def verify(expected: dict) -> None:
    """Raise :class:`EnvironmentMismatch` when this process's environment differs from ``expected``."""
    actual = describe(checkout="flydsl_checkout" in expected, fixtures="fixtures" in expected)
    diffs = differences(expected, actual)
    if diffs:
        raise EnvironmentMismatch(worker_address(), diffs)
