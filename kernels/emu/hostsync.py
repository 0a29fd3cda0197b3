"""Host reads of tensor data, refused while a graph is being captured.

A CUDA/HIP graph capture records launches; host code that reads device
memory in the middle of it (``t.item()``, ``int(t)``, ``if t[0] > 0:``)
either breaks the capture or freezes the value it read into the graph.  On
the CPU every tensor stands for device memory, so inside
:func:`forbid_host_reads` each of these on any torch tensor raises
:class:`HostSyncError` naming the Python line that did it:

* the methods ``.item()``, ``.tolist()``, ``.cpu()``, ``.numpy()``;
* ``int()``, ``float()``, ``bool()``, ``complex()`` of a tensor and its use as an
  index (``range(t)``, ``lst[t]``: ``__index__``), which is also how indexing a
  tensor down to a Python scalar (``int(t[0])``, ``if t[0]:``) reaches the host;
* ``np.asarray(t)`` (``__array__``).

Reading metadata (shape, dtype, ``data_ptr()``) and device-side torch ops are
allowed.  The line named is the innermost frame outside torch's own package
and this module, i.e. the caller's line, also when a torch helper written in
Python (``repr``, ``format``) did the read on its behalf.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading

import torch

from .errors import EmuError

#: The ``torch.Tensor`` attributes that hand tensor data to the host.
HOST_READS = ("item", "tolist", "cpu", "numpy", "__int__", "__float__", "__bool__", "__complex__", "__index__",
              "__array__")

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_THIS_FILE = os.path.abspath(__file__)
_lock = threading.RLock()
_state = {"depth": 0, "saved": {}}


class HostSyncError(EmuError):
    """A host read of tensor data during a graph capture.  ``read`` is the
    operation (``".item()"``, ``"int()"`` ...), ``loc`` the ``file:line`` of the
    Python line that did it and ``source`` that line's text."""

    def __init__(self, read: str, loc: str, source: str):
        self.read = read
        self.source = source
        text = f": `{source}`" if source else ""
        super().__init__(f"host read of a tensor ({read}) during a graph capture at {loc}{text}; "
                         "a captured graph would freeze the value read here", loc=loc)


_READ_NAMES = {"__int__": "int()", "__float__": "float()", "__bool__": "bool()", "__complex__": "complex()",
               "__index__": "use as an index (__index__)", "__array__": "np.asarray()"}


def _caller():
    """(``file:line``, source text) of the innermost frame outside torch and this module."""
    frame = sys._getframe(2)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if path != _THIS_FILE and not path.startswith(_TORCH_DIR):
            import linecache

            return f"{path}:{frame.f_lineno}", linecache.getline(path, frame.f_lineno).strip()
        frame = frame.f_back
    return "?", ""


def _refuse(name: str):
    read = _READ_NAMES.get(name, f".{name}()")

    def refused(self, *args, **kwargs):
        loc, source = _caller()
        raise HostSyncError(read, loc, source)

    refused.__name__ = name
    return refused


def _patch() -> None:
    missing = object()
    for name in HOST_READS:
        _state["saved"][name] = torch.Tensor.__dict__.get(name, missing)
        setattr(torch.Tensor, name, _refuse(name))
    _state["missing"] = missing


def _unpatch() -> None:
    for name, saved in _state["saved"].items():
        if saved is _state["missing"]:
            delattr(torch.Tensor, name)
        else:
            setattr(torch.Tensor, name, saved)
    _state["saved"] = {}


@contextlib.contextmanager
def forbid_host_reads():
    """Scope in which every host read of tensor data (:data:`HOST_READS`) raises
    :class:`HostSyncError`; scopes nest.  Process-wide: tensors of every thread."""
    with _lock:
        if _state["depth"] == 0:
            _patch()
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                _unpatch()

