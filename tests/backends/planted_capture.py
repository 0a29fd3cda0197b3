"""Test-only backends that declare ``capture_safe`` falsely, to prove the replay check finds it.

Both run the suite's own kernels (``flydsl-own``) but hand them M the way a
host wrapper that is not capture-safe does:

* ``planted-baked-m``: a fresh one-element tensor filled with M as the host
  knew it at launch time (``inputs.m``).  No host read happens, so a capture
  succeeds, and every replay sorts with the M of the capture: the graph froze it.
* ``planted-host-read-m``: ``num_local_tokens.item()``, then M as an int: the
  read that breaks a capture (``kernels.emu.HostSyncError`` under emulation).

Outside a capture both are correct.  Never selected by default.
"""
from __future__ import annotations

import dataclasses

import torch

from kernels.backends.flydsl_own import BACKENDS as OWN_BACKENDS


def _with_local_tokens(buffers, tensor):
    return dataclasses.replace(buffers, device_inputs=dataclasses.replace(buffers.device_inputs,
                                                                          num_local_tokens=tensor))


def _baked_m(inputs, buffers, target):
    baked = torch.full((1,), inputs.m, dtype=torch.int32, device=buffers.device)   # the planted defect
    return OWN_BACKENDS[0].launch(inputs, _with_local_tokens(buffers, baked), target)


def _host_read_m(inputs, buffers, target):
    m = buffers.device_inputs.num_local_tokens.item()                                # the planted defect
    copy = torch.full((1,), m, dtype=torch.int32, device=buffers.device)
    return OWN_BACKENDS[0].launch(inputs, _with_local_tokens(buffers, copy), target)


def _planted(name, launch, doc):
    own = OWN_BACKENDS[0]
    return dataclasses.replace(own, name=name, description=doc, launch=launch, test_only=True, capture_safe=True,
                               invalid_ids=("reject",))


BACKENDS = [
    _planted("planted-baked-m", _baked_m, "the suite's kernels, M copied from the host at launch (baked into a graph)"),
    _planted("planted-host-read-m", _host_read_m, "the suite's kernels, M read with .item() on the host"),
]
