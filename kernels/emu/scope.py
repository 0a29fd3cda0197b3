"""Entering and leaving an emulation session: environment, FlyDSL hook, torch device facts.

While a session is active the FlyDSL hook (:mod:`.capture`) is installed and
the environment names the emulated arch (``FLYDSL_COMPILE_BACKEND=emu``,
``ARCH`` and ``FLYDSL_GPU_ARCH`` = target, so
``flydsl.runtime.device.get_rocm_arch()`` answers it) and, where torch sees
no GPU, ``torch.cuda.get_device_properties`` / ``current_stream`` answer for
the emulated target (:mod:`.torch_device`).  :func:`enter` / :func:`leave`
bracket one scope; scopes nest and must be left in LIFO order.

The first session of a process also moves every object alive at that moment
into the garbage collector's permanent generation (``gc.freeze``): by then
the process holds torch, FlyDSL's MLIR bindings and the kernels' modules,
some 250,000 tracked objects that live as long as the process, and each full
collection would otherwise scan them all again (about 80 ms on the machines
this suite runs on, the larger part of a first case served from the
persistent capture cache).  Cyclic garbage alive at that moment is never
reclaimed, which costs a process that lives for its tests or its campaign
nothing measurable.
"""
from __future__ import annotations

import gc
import os

from ..targets import get_target
from . import capture, session, torch_device
from .simt import Options

_ENV_KEYS = ("FLYDSL_COMPILE_BACKEND", "ARCH", "FLYDSL_GPU_ARCH")
_heap = {"frozen": False}


def _freeze_long_lived_objects() -> None:
    """Once per process: ``gc.freeze()`` (see the module's docstring)."""
    if not _heap["frozen"]:
        _heap["frozen"] = True
        gc.freeze()


def enter(target: str, options: Options) -> session.Session:
    """Start a session for ``target`` with ``options`` and make it the current one."""
    s = session.Session(get_target(target), options)
    with session.lock:
        _freeze_long_lived_objects()
        s.saved_env = {k: os.environ.get(k) for k in _ENV_KEYS}
        os.environ["FLYDSL_COMPILE_BACKEND"] = "emu"
        os.environ["ARCH"] = s.target.arch
        os.environ["FLYDSL_GPU_ARCH"] = s.target.arch
        capture.install()
        s.torch_patch = torch_device.patched(s.target)
        s.torch_patch.__enter__()
        session.push(s)
    return s


def leave(s: session.Session) -> None:
    """End ``s`` (the innermost session): undo what :func:`enter` did."""
    with session.lock:
        session.pop(s)
        if s.torch_patch is not None:
            s.torch_patch.__exit__(None, None, None)
        capture.uninstall()
        for k, v in s.saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
