"""The active emulation session (target + options), a process-wide stack.

Contract: :func:`push` / :func:`pop` bracket an emulation scope; while the
stack is non-empty the FlyDSL hook is installed and the environment names the
emulated arch (``FLYDSL_COMPILE_BACKEND=emu``, ``ARCH`` and ``FLYDSL_GPU_ARCH``
= target, so ``flydsl.runtime.device.get_rocm_arch()`` answers it) and, where torch
sees no GPU, ``torch.cuda.get_device_properties`` / ``current_stream`` answer for the
emulated target (:mod:`.torch_device`).
"""
from __future__ import annotations

import os
import threading

from .simt import Options
from .targets import get_target

_ENV_KEYS = ("FLYDSL_COMPILE_BACKEND", "ARCH", "FLYDSL_GPU_ARCH")
_stack = []
_lock = threading.RLock()


class Session:
    def __init__(self, target, options):
        self.target = target
        self.options = options
        self.cache_hits = 0
        self.cache_misses = 0
        self.saved_env = None
        self.torch_patch = None


def current() -> Session:
    if not _stack:
        raise RuntimeError("no kernels.emu.emulate() session is active")
    return _stack[-1]


def push(target: str, options: Options) -> Session:
    from . import capture

    s = Session(get_target(target), options)
    with _lock:
        s.saved_env = {k: os.environ.get(k) for k in _ENV_KEYS}
        os.environ["FLYDSL_COMPILE_BACKEND"] = "emu"
        os.environ["ARCH"] = s.target.arch
        os.environ["FLYDSL_GPU_ARCH"] = s.target.arch
        capture.install()
        # torch.cuda device queries (CU count, current stream) answer the emulated target
        # when torch sees no GPU (see torch_device.py)
        from .torch_device import patched
        s.torch_patch = patched(s.target)
        s.torch_patch.__enter__()
        _stack.append(s)
    return s


def pop(s: Session) -> None:
    from . import capture

    with _lock:
        if not _stack or _stack[-1] is not s:
            raise RuntimeError("emulate() scopes must be exited in LIFO order")
        _stack.pop()
        if s.torch_patch is not None:
            s.torch_patch.__exit__(None, None, None)
        capture.uninstall()
        for k, v in s.saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
