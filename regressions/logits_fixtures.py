"""Regression fixtures of router cases: logits instead of top-k ids (same format version).

A logits fixture is a fixture file (:mod:`regressions.fixtures`) whose ``inputs``
hold ``logits_bits`` (each logit's storage bits: uint32 for ``f32``, uint16 for
``bf16`` and ``f16``, so NaN payloads, -0.0 and denormals replay bit for bit) and
whose ``params`` name the ``logits_dtype``, ``topk`` and ``renormalize``::

    {"format": 1, "id": ..., "name": ..., "kind": "edge" | "failure", "note": ...,
     "params": {"num_experts": E, "tokens": T, "topk": k, "unit_size": u,
                "num_local_tokens": M or null, "num_local_tokens_on_device": bool (optional),
                "logits_dtype": "f32" | "bf16" | "f16", "renormalize": bool},
     "inputs": {"logits_bits": [[...]], "expert_mask": [...] or null}
               | {"npz": "<file>.npz"},   # arrays logits_bits, expert_mask?
     "case": {...LogitsCase fields, "kind": "logits"} or null,
     "failure": {...} or null, "region": null, "reproducer": "..."}

:func:`regressions.fixtures.load` returns a :class:`LogitsFixture` for such a file;
fixtures of ids load as before.  Only backends that take logits
(``Backend.takes == "logits"``) replay it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Optional

import numpy as np

from cases import LOGIT_DTYPES, RouterInputs
from cases.logits import BITS_DTYPES

from .fixtures import FORMAT, INLINE_LIMIT, KINDS, FixtureError, _array, _require, write

#: The ``Backend.takes`` of the backends that replay a logits fixture.
TAKES = "logits"


@dataclasses.dataclass
class LogitsFixture:
    name: str
    kind: str
    inputs: RouterInputs
    note: str = ""
    case: Optional[dict] = None
    failure: Optional[dict] = None
    region: Optional[dict] = None
    path: Optional[Path] = None
    takes: str = TAKES

    @property
    def id(self) -> str:
        i = self.inputs
        h = hashlib.sha256(json.dumps(["logits", i.dtype, i.topk, i.unit_size, i.num_local_tokens,
                                       i.local_tokens_on_device, i.renormalize,
                                       list(i.logits_bits.shape)]).encode())
        h.update(np.ascontiguousarray(i.logits_bits).tobytes())
        h.update(b"mask" + (b"-" if i.expert_mask is None else np.ascontiguousarray(i.expert_mask).tobytes()))
        return h.hexdigest()[:16]

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.id}.json"

    @property
    def size(self) -> tuple:
        """What makes one fixture smaller than another (fewer logits, fewer experts)."""
        return (self.inputs.logits_bits.size, self.inputs.num_experts, self.inputs.unit_size)


def is_logits(data: dict) -> bool:
    """Whether a fixture's JSON holds logits."""
    return isinstance(data.get("params"), dict) and "logits_dtype" in data["params"]


def from_json(data: dict, path) -> LogitsFixture:
    """A :class:`LogitsFixture` from a fixture file's JSON (format and kind already checked);
    :class:`~regressions.fixtures.FixtureError` names the field of any defect."""
    params = _require(data, "params", dict, path)
    dtype = _require(params, "logits_dtype", str, path, "params.")
    if dtype not in LOGIT_DTYPES:
        raise FixtureError(path, "params.logits_dtype", f"= {dtype!r}, expected one of {LOGIT_DTYPES}")
    E = _require(params, "num_experts", int, path, "params.")
    T = _require(params, "tokens", int, path, "params.")
    topk = _require(params, "topk", int, path, "params.")
    unit = _require(params, "unit_size", int, path, "params.")
    renormalize = _require(params, "renormalize", bool, path, "params.")
    on_device = params.get("num_local_tokens_on_device", False)
    if not isinstance(on_device, bool):
        raise FixtureError(path, "params.num_local_tokens_on_device", f"= {on_device!r}, expected true or false")
    local = params.get("num_local_tokens")
    if local is not None and (not isinstance(local, int) or isinstance(local, bool) or not 0 <= local <= T):
        raise FixtureError(path, "params.num_local_tokens", f"= {local!r}, expected null or an int in [0, {T}]")
    inputs = _require(data, "inputs", dict, path)
    if "npz" in inputs:
        npz_path = Path(path).parent / _require(inputs, "npz", str, path, "inputs.")
        try:
            with np.load(npz_path) as z:
                bits, mask = z["logits_bits"], (z["expert_mask"] if "expert_mask" in z.files else None)
        except (OSError, KeyError, ValueError) as exc:
            raise FixtureError(path, "inputs.npz", f"{npz_path.name}: {exc}") from None
        if bits.dtype != BITS_DTYPES[dtype]:
            raise FixtureError(path, "inputs.npz", f"logits_bits dtype {bits.dtype}, expected "
                                                   f"{np.dtype(BITS_DTYPES[dtype]).name} for {dtype}")
    else:
        bits = _array(_require(inputs, "logits_bits", list, path, "inputs."), BITS_DTYPES[dtype], 2, path,
                      "inputs.logits_bits")
        mask = inputs.get("expert_mask")
        mask = None if mask is None else _array(mask, np.int32, 1, path, "inputs.expert_mask")
    if bits.size != T * E:
        raise FixtureError(path, "inputs.logits_bits", f"has {bits.size} entries, params say {T}x{E}")
    if mask is not None and mask.shape != (E,):
        raise FixtureError(path, "inputs.expert_mask", f"has shape {mask.shape}, expected ({E},)")
    if not 1 <= topk <= E:
        raise FixtureError(path, "params.topk", f"= {topk}, expected 1 <= topk <= num_experts = {E}")
    try:
        router = RouterInputs(np.ascontiguousarray(bits.reshape(T, E)), dtype, topk, unit, mask, local, on_device,
                              renormalize)
    except ValueError as exc:
        raise FixtureError(path, "inputs", str(exc)) from None
    return LogitsFixture(name=_require(data, "name", str, path), kind=data["kind"], inputs=router,
                         note=data.get("note", ""), case=data.get("case"), failure=data.get("failure"),
                         region=data.get("region"), path=Path(path))


def to_json(fixture: LogitsFixture, npz_name: Optional[str] = None) -> dict:
    i = fixture.inputs
    params = {"num_experts": i.num_experts, "tokens": i.tokens, "topk": i.topk, "unit_size": i.unit_size,
              "num_local_tokens": i.num_local_tokens, "logits_dtype": i.dtype, "renormalize": i.renormalize}
    if i.local_tokens_on_device:
        params["num_local_tokens_on_device"] = True
    inputs = {"npz": npz_name} if npz_name else {
        "logits_bits": i.logits_bits.tolist(),
        "expert_mask": None if i.expert_mask is None else i.expert_mask.tolist()}
    return {"format": FORMAT, "id": fixture.id, "name": fixture.name, "kind": fixture.kind, "note": fixture.note,
            "params": params, "inputs": inputs, "case": fixture.case, "failure": fixture.failure,
            "region": fixture.region}


def save(fixture: LogitsFixture, directory, reproducer: str = "") -> Path:
    """Write ``fixture`` atomically into ``directory``; returns its path (existing file: left as is)."""
    if fixture.kind not in KINDS:
        raise ValueError(f"LogitsFixture.kind={fixture.kind!r}; expected one of {KINDS}")
    arrays = None
    if fixture.inputs.logits_bits.size > INLINE_LIMIT:
        arrays = {"logits_bits": fixture.inputs.logits_bits}
        if fixture.inputs.expert_mask is not None:
            arrays["expert_mask"] = fixture.inputs.expert_mask
    return write(directory, fixture.filename, arrays, lambda npz_name: to_json(fixture, npz_name), reproducer)
