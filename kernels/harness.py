"""Device-side harness: allocate, poison, launch, synchronize, read back.

:func:`launch_and_read` is the only way the suite launches a backend.  On the
backend's device (``cpu``, ``cuda`` — which is also ROCm's device type in
PyTorch) it

1. copies the inputs to device tensors (:class:`DeviceInputs`), M into a
   one-element int32 tensor;
2. allocates every output with ``red_zone`` extra elements behind it and
   fills all of it with a poison bit pattern; ``moe_buf`` is filled with a
   non-zero byte pattern;
3. calls ``backend.launch(inputs, buffers, target)``;  with ``graph=True`` the
   launch is captured (:func:`capture`: a CUDA/HIP graph after one warm-up
   launch, or the interpreter's capture emulation on the CPU), the outputs are
   poisoned again and the graph is replayed;
4. synchronizes and reads the outputs back as NumPy, reporting whether
   ``moe_buf`` became all zero (and where it did not) and (when ``red_zone`` > 0)
   the raw buffers for the comparator's canary check.

Interpreter findings recorded during the launch (``findings="record"``
sessions, see :mod:`kernels.emu.findings`) come back in ``result.findings``;
when the launch raises, those recorded before are on the exception as
``exc.findings``.  On the interpreter, ``result.written_by`` names, per output
element, the kernel store that last wrote it (:mod:`kernels.emu.provenance`):
``{output: site id per element (-1: never written)}`` with the sites, as text,
in ``result.writer_sites``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Optional

import numpy as np
import torch

from oracle import SortInputs

from .emu import provenance
from .emu.findings import collect as collect_findings
from .emu.findings import frames_of
from .emu.graph import capture_graph
from .result import BackendResult

#: Poison bit patterns (as uint32) for each output; none is a plausible value.
POISON = {
    "sorted_ids": 0x7EADBEEF,
    "sorted_weights": 0x7FBADBAD,  # a NaN with a payload no kernel produces
    "sorted_expert_ids": 0x7EEDFACE,
    "num_valid_ids": 0x7E7E7E7E,
}
MOE_BUF_POISON_BYTE = 0xA5
DEFAULT_MOE_BUF_COLUMNS = 8
#: Byte a backend's workspace is filled with before each launch: a kernel that
#: skips clearing any of it counts stale tokens and fails the golden model.
WORKSPACE_POISON_BYTE = 0x5A


def poisoned_workspace(n_int32: int, device) -> Optional[torch.Tensor]:
    """An int32 workspace of ``n_int32`` elements filled with :data:`WORKSPACE_POISON_BYTE`
    (None for 0 elements)."""
    if not n_int32:
        return None
    if torch.device(device).type == "cpu":
        # made by NumPy: torch's fill_ of as many bytes wakes its thread pool, and reading a
        # tensor back (.numpy()) would be a host sync inside a graph capture
        return torch.from_numpy(np.full(n_int32 * 4, WORKSPACE_POISON_BYTE, np.uint8).view(np.int32))
    ws = torch.empty(n_int32, dtype=torch.int32, device=device)
    ws.view(torch.uint8).fill_(WORKSPACE_POISON_BYTE)
    return ws


@dataclasses.dataclass
class DeviceInputs:
    """The inputs as torch tensors on the launch device; ``num_local_tokens`` is
    a one-element int32 tensor holding M (T when the caller gave none), which
    graph-capture-safe backends read on the device."""

    topk_ids: torch.Tensor
    topk_weights: torch.Tensor
    expert_mask: Optional[torch.Tensor]
    num_local_tokens: torch.Tensor


@dataclasses.dataclass
class OutputBuffers:
    """Output tensors on the launch device, each exactly the contract's length.

    ``raw`` holds the full allocations (contract length + red zone) by name;
    ``device_inputs`` the inputs on the same device.
    """

    sorted_ids: torch.Tensor
    sorted_weights: torch.Tensor
    sorted_expert_ids: torch.Tensor
    num_valid_ids: torch.Tensor
    moe_buf: torch.Tensor
    raw: dict
    device_inputs: DeviceInputs

    @property
    def device(self) -> torch.device:
        return self.sorted_ids.device


def _poisoned(length: int, red_zone: int, dtype: torch.dtype, pattern: int, device) -> torch.Tensor:
    raw = torch.empty(length + red_zone, dtype=dtype, device=device)
    raw.view(torch.int32).fill_(np.int32(np.uint32(pattern).view(np.int32)).item())
    return raw


def _device_copy(array: np.ndarray, device) -> torch.Tensor:
    """A fresh tensor with torch's standard strides (also for empty shapes,
    where ``torch.from_numpy`` keeps NumPy's zero strides)."""
    out = torch.empty(array.shape, dtype=torch.from_numpy(array[:0]).dtype, device=device)
    if array.size:
        out.copy_(torch.from_numpy(np.ascontiguousarray(array)))
    return out


def _moe_buf(moe_buf, tokens: int, device) -> torch.Tensor:
    if moe_buf is None:
        buf = torch.empty((tokens, DEFAULT_MOE_BUF_COLUMNS), dtype=torch.float32, device=device)
    elif isinstance(moe_buf, np.ndarray):
        src = torch.from_numpy(np.ascontiguousarray(moe_buf))
        # a fresh tensor: default strides even when empty (from_numpy gives an empty array strides 0)
        buf = torch.empty(src.shape, dtype=src.dtype, device=device).copy_(src)
    else:
        buf = moe_buf.to(device).contiguous()
    return buf


def poison_all(buffers: OutputBuffers) -> None:
    for name, raw in buffers.raw.items():
        raw.view(torch.int32).fill_(np.int32(np.uint32(POISON[name]).view(np.int32)).item())
    if buffers.moe_buf.numel():
        buffers.moe_buf.view(-1).view(torch.uint8).fill_(MOE_BUF_POISON_BYTE)


def allocate(inputs: SortInputs, device, red_zone: int = 0, moe_buf=None) -> OutputBuffers:
    """Device inputs plus poisoned, red-zoned outputs for one launch."""
    device = torch.device(device)
    lengths = {
        "sorted_ids": inputs.max_num_tokens_padded,
        "sorted_weights": inputs.max_num_tokens_padded,
        "sorted_expert_ids": inputs.num_blocks,
        "num_valid_ids": 2,
    }
    dtypes = {"sorted_ids": torch.int32, "sorted_weights": torch.float32,
              "sorted_expert_ids": torch.int32, "num_valid_ids": torch.int32}
    raw = {name: _poisoned(n, red_zone, dtypes[name], POISON[name], device)
           for name, n in lengths.items()}
    mask = None if inputs.expert_mask is None else _device_copy(inputs.expert_mask, device)
    dev_inputs = DeviceInputs(_device_copy(inputs.topk_ids, device), _device_copy(inputs.topk_weights, device),
                              mask, torch.full((1,), inputs.m, dtype=torch.int32, device=device))
    buffers = OutputBuffers(
        **{name: raw[name][: lengths[name]] for name in lengths},
        moe_buf=_moe_buf(moe_buf, inputs.tokens, device),
        raw=raw,
        device_inputs=dev_inputs,
    )
    poison_all(buffers)
    return buffers


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def capture(backend, inputs, buffers, target):
    """Capture one launch of ``backend`` into a graph; returns ``(replay, path)``.

    On a CUDA/HIP device: a warm-up launch on a side stream, then
    ``torch.cuda.graph``.  On the CPU: the interpreter's capture emulation
    (:func:`kernels.emu.capture_graph`), where host code that reads a tensor
    raises :class:`kernels.emu.HostSyncError`; a backend none of whose work
    was recorded (torch ops run at once on the CPU) cannot be replayed there
    and raises RuntimeError.  ``replay()`` runs the captured launches again on
    the current contents of the buffers, without synchronizing.
    """
    if buffers.device.type == "cuda":
        stream = torch.cuda.Stream(device=buffers.device)
        stream.wait_stream(torch.cuda.current_stream(buffers.device))
        with torch.cuda.stream(stream):
            backend.launch(inputs, buffers, target)
        torch.cuda.current_stream(buffers.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            path = backend.launch(inputs, buffers, target)
        return graph.replay, path
    with capture_graph() as graph:
        path = backend.launch(inputs, buffers, target)
    if not graph.launches:
        raise RuntimeError(f"backend {backend.name!r} on {buffers.device}: nothing the interpreter could record was "
                           "launched, so the capture cannot be replayed here")
    return graph.replay, path


def launch_and_read(backend, inputs: SortInputs, *, target=None, moe_buf=None,
                    red_zone: int = 0, graph: bool = False):
    """Run ``backend`` on ``inputs`` and return a :class:`~kernels.result.BackendResult`."""
    if target is None:
        target = backend.targets[0]  # the backend's default (None for target-less backends)
    if target not in backend.targets:
        raise ValueError(f"target={target!r}: backend {backend.name!r} supports {backend.targets}")
    buffers = allocate(inputs, backend.device(), red_zone=red_zone, moe_buf=moe_buf)
    if graph:
        replay, path = capture(backend, inputs, buffers, target)
        poison_all(buffers)
        return run_and_read(backend, inputs, buffers, target, lambda: (replay(), path)[1])
    return run_and_read(backend, inputs, buffers, target, lambda: backend.launch(inputs, buffers, target))


def run_and_read(backend, inputs: SortInputs, buffers: OutputBuffers, target, run) -> BackendResult:
    """Call ``run()`` (a launch or a replay, returning the kernel path), synchronize and read
    ``buffers`` back as a :class:`~kernels.result.BackendResult` with the findings and writers."""
    try:
        with collect_findings() as found, provenance.track() as writes:
            path = run()
    except BaseException as exc:            # a time limit (fuzz.time_limit) too
        exc.findings = list(found)          # what the launch recorded before it raised
        raise
    _synchronize(buffers.device)
    host = {name: getattr(buffers, name).cpu().numpy().copy()
            for name in ("sorted_ids", "sorted_weights", "sorted_expert_ids", "num_valid_ids")}
    residue = moe_buf_residue(buffers.moe_buf)
    written_by, writer_sites = _writers(writes, buffers)
    canary = None
    if any(raw.numel() > getattr(buffers, name).numel() for name, raw in buffers.raw.items()):
        canary = {
            "raw": {name: t.cpu().numpy().copy() for name, t in buffers.raw.items()},
            "poison": {name: np.uint32(p) for name, p in POISON.items()},
            "lengths": {name: getattr(buffers, name).numel() for name in buffers.raw},
        }
    return BackendResult(
        **host, moe_buf_zeroed=residue is None, moe_buf_residue=residue, path=path, backend=backend.name,
        target=target, executed_on=backend.executes_on(target), canary=canary, invalid_ids=inputs.invalid_ids,
        findings=list(found), written_by=written_by, writer_sites=writer_sites,
    )


def _writers(writes: dict, buffers: OutputBuffers):
    """Per output, the site id of the store that wrote each element's first byte, and
    the sites as text (``kernel at file:line `source` ...``)."""
    written_by, sites = {}, {}
    for name in ("sorted_ids", "sorted_weights", "sorted_expert_ids", "num_valid_ids"):
        t = getattr(buffers, name)
        base = t.data_ptr()
        for start, (end, ids) in writes.items():
            if start <= base < end and t.numel():
                per = ids[base - start: base - start + t.numel() * t.element_size(): t.element_size()]
                written_by[name] = per.copy()
                for sid in np.unique(per[per >= 0]):
                    sites.setdefault(int(sid), provenance.site(int(sid)))
    return written_by, WriterSites(sites)


class WriterSites(Mapping):
    """Writer site id -> ``kernel at file:line `source` via ...``: each text is made on
    first access (it reads the kernel's source files), so a run whose outputs are right
    pays nothing for it."""

    def __init__(self, sites: dict):
        self._sites = sites          # site id -> provenance.site(id): (kernel, op, location)
        self._text: dict = {}

    def __getitem__(self, sid: int) -> str:
        if sid not in self._text:
            self._text[sid] = _site_text(self._sites[sid])
        return self._text[sid]

    def __iter__(self):
        return iter(self._sites)

    def __len__(self) -> int:
        return len(self._sites)


def _site_text(site) -> str:
    kernel, op, loc = site
    frames = frames_of(loc)
    if not frames:
        return f"{kernel} {op} at {loc}"
    head = f"{frames[0].short()} `{frames[0].text}`"
    via = "".join(f" via {f.short()} `{f.text}`" for f in frames[1:3] if f.text)
    return f"{kernel} at {head}{via}"


def moe_buf_residue(moe_buf: torch.Tensor) -> Optional[dict]:
    """None when every byte of ``moe_buf`` is zero, else where the non-zero bytes are:
    ``{"nbytes", "first", "last", "count"}`` (byte offsets into its storage)."""
    flat = moe_buf.reshape(-1).view(torch.uint8).cpu().numpy()
    nonzero = np.flatnonzero(flat)
    if not nonzero.size:
        return None
    return {"nbytes": int(flat.size), "first": int(nonzero[0]), "last": int(nonzero[-1]),
            "count": int(nonzero.size)}
