"""Entering and leaving an emulation session: environment, FlyDSL hook, torch device facts.

While a session is active the FlyDSL hook (:mod:`.capture`) is installed and
the environment names the emulated arch (``FLYDSL_COMPILE_BACKEND=emu``,
``ARCH`` and ``FLYDSL_GPU_ARCH`` = target, so
``flydsl.runtime.device.get_rocm_arch()`` answers it) and, where torch sees
no GPU, ``torch.cuda.get_device_properties`` / ``current_stream`` answer for
the emulated target (:mod:`.torch_device`).  :func:`enter` / :func:`leave`
bracket one scope; scopes nest and must be left in LIFO order.
"""
from __future__ import annotations

import os

from ..targets import get_target
from . import capture, session, torch_device
from .simt import Options

_ENV_KEYS = ("FLYDSL_COMPILE_BACKEND", "ARCH", "FLYDSL_GPU_ARCH")


def enter(target: str, options: Options) -> session.Session:
    """Start a session for ``target`` with ``options`` and make it the current one."""
    s = session.Session(get_target(target), options)
    with session.lock:
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
