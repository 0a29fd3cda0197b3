"""Regression fixture format (version 1), loader and atomic writer.

A fixture is ``regressions/fixtures/<name>-<id>.json``::

    {"format": 1,
     "id": "<16 hex digits: sha256 of the inputs and parameters>",
     "name": "E513-k9-T1-u32",            # human name
     "kind": "edge" | "failure",
     "note": "why this case matters",
     "params": {"num_experts": E, "unit_size": u, "num_local_tokens": M or null,
                "num_local_tokens_on_device": true (optional: M passed as a one-element int32 array)},
     "inputs": {"topk_ids": [[...]], "topk_weights_bits": [[...]], "expert_mask": [...] or null}
               | {"npz": "<file>.npz"},   # arrays topk_ids, topk_weights, expert_mask?
     "invalid_ids": "drop" | "unchecked",  # only when the ids hold invalid ones (absent: "reject")
     "case": {...Case fields...} or null,  # when a fuzzer found it
     "failure": {"backend", "target", "path", "signature", "summary", "finding"?, "flydsl_version"}
              | {"backend", "known_finding": "<id>", "flydsl_version"}   # shows a known finding
              | null,
     "region": {...} or null,             # where its finding triggers (``fuzz explain``)
     "reproducer": "python -m fuzz replay --fixture <path>"}

A fixture of router logits (``params.logits_dtype``, ``inputs.logits_bits``) has
the same envelope and loads as a :class:`regressions.logits_fixtures.LogitsFixture`
(that module states its fields); ``load_all`` returns the fixtures of ids unless
asked for those of logits.

Whether a backend may fail a fixture is not recorded here: the one list of
known findings is ``regressions/known_findings.toml``; a replay judges every
fixture against it.

``invalid_ids`` records the policy (``oracle.invalid_ids``) the fixture's
ids need: a fixture from a hostile-ids case holds ids outside ``[0, E)``
(``drop``) or a repeated expert (``unchecked``) in its counted rows, and is
judged under the weakest such policy its backend declares (only memory
safety under ``unchecked``).  The loader refuses a fixture whose ids need
another policy than the one it records.

Weights are stored as their float32 bit patterns, so NaN payloads, -0.0 and
denormals survive.  The id is a content hash: the same case saved twice by
two processes lands in one file.  Writes go to a temporary file in the same
directory and are renamed into place (atomic on POSIX).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from cases import moe_buf_array
from oracle import INVALID_ID_POLICIES, census, needed_policy

FORMAT = 1
FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures"
INLINE_LIMIT = 1024  # T * topk up to this is stored inline in the JSON
KINDS = ("edge", "failure")


class FixtureError(ValueError):
    """A malformed fixture; the message names the file and the field."""

    def __init__(self, path, field: str, message: str):
        super().__init__(f"{path}: {field}: {message}")
        self.path, self.field = path, field


@dataclasses.dataclass
class Fixture:
    name: str
    kind: str
    topk_ids: np.ndarray
    topk_weights: np.ndarray
    num_experts: int
    unit_size: int
    expert_mask: Optional[np.ndarray] = None
    num_local_tokens: Optional[int] = None
    note: str = ""
    case: Optional[dict] = None
    failure: Optional[dict] = None
    region: Optional[dict] = None
    path: Optional[Path] = None
    invalid_ids: str = "reject"      # the policy its ids need (oracle.invalid_ids)
    local_tokens_on_device: bool = False   # M passed as a one-element int32 array (params.num_local_tokens_on_device)
    takes = "ids"                    # the input of the backends that replay it (Backend.takes)

    @property
    def size(self) -> tuple:
        """What makes one fixture smaller than another (fewer ids, fewer experts, smaller unit)."""
        return (self.topk_ids.size, self.num_experts, self.unit_size)

    @property
    def id(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps([self.num_experts, self.unit_size, self.num_local_tokens,
                             list(self.topk_ids.shape)]).encode())
        for arr in (self.topk_ids, self.topk_weights.view(np.uint32)):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(b"mask" + (b"-" if self.expert_mask is None else self.expert_mask.tobytes()))
        spec = (self.case or {}).get("moe_buf")
        if spec is not None:             # the default layout adds nothing: older ids stay valid
            h.update(b"moe_buf" + spec.encode())
        if self.local_tokens_on_device:  # nor does M as an int
            h.update(b"local_tokens_on_device")
        return h.hexdigest()[:16]

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.id}.json"

    def run_args(self) -> dict:
        """Keyword arguments for ``oracle.moe_sorting`` / ``kernels.run``."""
        local = self.num_local_tokens
        if self.local_tokens_on_device:
            local = np.array([len(self.topk_ids) if local is None else local], np.int32)
        return dict(topk_ids=self.topk_ids, topk_weights=self.topk_weights,
                    num_experts=self.num_experts, unit_size=self.unit_size,
                    expert_mask=self.expert_mask, num_local_tokens=local)

    def moe_buf(self):
        """The ``moe_buf`` the recorded case used (its ``moe_buf`` spec), or None for the default."""
        spec = (self.case or {}).get("moe_buf")
        if spec is None:
            return None
        return moe_buf_array(spec, self.topk_ids.shape[0])


def _require(data: dict, key: str, types, path, where: str = ""):
    if key not in data:
        raise FixtureError(path, where + key, "missing")
    value = data[key]
    if not isinstance(value, types) or (isinstance(value, bool) and types is int):
        raise FixtureError(path, where + key, f"has type {type(value).__name__}, expected {types}")
    return value


def _array(value, dtype, ndim: int, path, field: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise FixtureError(path, field, f"is not a rectangular array of integers ({exc})") from None
    if arr.ndim != ndim and not (arr.size == 0 and ndim == 2):
        raise FixtureError(path, field, f"has {arr.ndim} dimensions, expected {ndim}")
    info = np.iinfo(dtype)
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        raise FixtureError(path, field, f"holds values outside {np.dtype(dtype).name}")
    return arr.astype(dtype)


def load(path):
    """Read and validate one fixture; :class:`FixtureError` on any defect.  A fixture of
    logits loads as a :class:`regressions.logits_fixtures.LogitsFixture`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FixtureError(path, "<file>", f"unreadable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise FixtureError(path, "<file>", "top level is not an object")
    if data.get("format") != FORMAT:
        raise FixtureError(path, "format", f"= {data.get('format')!r}, this loader reads {FORMAT}")
    name = _require(data, "name", str, path)
    kind = _require(data, "kind", str, path)
    if kind not in KINDS:
        raise FixtureError(path, "kind", f"= {kind!r}, expected one of {KINDS}")
    from . import logits_fixtures

    if logits_fixtures.is_logits(data):
        return logits_fixtures.from_json(data, path)
    params = _require(data, "params", dict, path)
    num_experts = _require(params, "num_experts", int, path, "params.")
    unit_size = _require(params, "unit_size", int, path, "params.")
    local = params.get("num_local_tokens")
    if local is not None and not isinstance(local, int):
        raise FixtureError(path, "params.num_local_tokens", f"= {local!r}, expected an int or null")
    on_device = params.get("num_local_tokens_on_device", False)
    if not isinstance(on_device, bool):
        raise FixtureError(path, "params.num_local_tokens_on_device", f"= {on_device!r}, expected true or false")
    inputs = _require(data, "inputs", dict, path)
    if "npz" in inputs:
        npz_path = path.parent / _require(inputs, "npz", str, path, "inputs.")
        try:
            with np.load(npz_path) as z:
                ids = z["topk_ids"]
                weights = z["topk_weights"]
                mask = z["expert_mask"] if "expert_mask" in z.files else None
        except (OSError, KeyError, ValueError) as exc:
            raise FixtureError(path, "inputs.npz", f"{npz_path.name}: {exc}") from None
        if ids.dtype != np.int32 or weights.dtype != np.float32:
            raise FixtureError(path, "inputs.npz", f"dtypes {ids.dtype}/{weights.dtype}, expected int32/float32")
    else:
        ids = _array(_require(inputs, "topk_ids", list, path, "inputs."), np.int32, 2, path, "inputs.topk_ids")
        bits = _array(_require(inputs, "topk_weights_bits", list, path, "inputs."), np.uint32, 2, path,
                      "inputs.topk_weights_bits")
        weights = bits.view(np.float32)
        mask = inputs.get("expert_mask")
        mask = None if mask is None else _array(mask, np.int32, 1, path, "inputs.expert_mask")
    tokens = _require(params, "tokens", int, path, "params.")
    topk = _require(params, "topk", int, path, "params.")
    for field, arr in (("topk_ids", ids), ("topk_weights", weights)):
        if arr.size != tokens * topk:
            raise FixtureError(path, f"inputs.{field}", f"has {arr.size} entries, params say {tokens}x{topk}")
    ids, weights = ids.reshape(tokens, topk), weights.reshape(tokens, topk)
    if weights.shape != ids.shape:
        raise FixtureError(path, "inputs.topk_weights_bits", f"shape {weights.shape} != topk_ids shape {ids.shape}")
    region = data.get("region")
    if region is not None and not isinstance(region, dict):
        raise FixtureError(path, "region", f"has type {type(region).__name__}, expected an object or null")
    policy = _policy(data, ids, num_experts, tokens if local is None else local, path)
    return Fixture(
        name=name, kind=kind, topk_ids=np.ascontiguousarray(ids, np.int32),
        topk_weights=np.ascontiguousarray(weights, np.float32), num_experts=num_experts,
        unit_size=unit_size, expert_mask=mask, num_local_tokens=local, note=data.get("note", ""),
        case=data.get("case"), failure=data.get("failure"), region=region, path=path, invalid_ids=policy,
        local_tokens_on_device=on_device,
    )


def _policy(data: dict, ids: np.ndarray, num_experts: int, m: int, path) -> str:
    """The recorded ``invalid_ids``, checked against what the ids need."""
    policy = data.get("invalid_ids", "reject")
    if policy not in INVALID_ID_POLICIES:
        raise FixtureError(path, "invalid_ids", f"= {policy!r}, expected one of {INVALID_ID_POLICIES}")
    needed = needed_policy(census(ids, max(0, min(m, len(ids))), num_experts))
    if needed != policy:
        raise FixtureError(path, "invalid_ids", f"= {policy!r}, but the ids of its counted rows need {needed!r}")
    return policy


def load_all(directory=FIXTURE_DIR, name_filter: str = "", takes: Optional[str] = "ids") -> list:
    """Every fixture in ``directory`` whose file name contains ``name_filter``, sorted by name:
    those of ids (``takes="ids"``, the default), of logits (``"logits"``) or all (None)."""
    found = [load(p) for p in sorted(Path(directory).glob("*.json")) if name_filter in p.name]
    return [f for f in found if takes is None or getattr(f, "takes", "ids") == takes]


def _atomic_write(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(fixture: Fixture, npz_name: Optional[str] = None) -> dict:
    T, k = fixture.topk_ids.shape
    data = {
        "format": FORMAT, "id": fixture.id, "name": fixture.name, "kind": fixture.kind,
        "note": fixture.note,
        "params": {"num_experts": fixture.num_experts, "unit_size": fixture.unit_size,
                   "num_local_tokens": fixture.num_local_tokens, "tokens": T, "topk": k},
        "case": fixture.case, "failure": fixture.failure, "region": fixture.region,
    }
    if fixture.invalid_ids != "reject":
        data["invalid_ids"] = fixture.invalid_ids
    if fixture.local_tokens_on_device:
        data["params"]["num_local_tokens_on_device"] = True
    if npz_name:
        data["inputs"] = {"npz": npz_name}
    else:
        data["inputs"] = {
            "topk_ids": fixture.topk_ids.tolist(),
            "topk_weights_bits": fixture.topk_weights.view(np.uint32).tolist(),
            "expert_mask": None if fixture.expert_mask is None else fixture.expert_mask.tolist(),
        }
    return data


def _dumps(data: dict) -> str:
    """JSON with one top-level key per line (arrays stay on their line)."""
    lines = [f" {json.dumps(key)}: {json.dumps(value)}" for key, value in data.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def rewrite(fixture: Fixture) -> Path:
    """Write ``fixture`` over its own file (``fixture.path``), atomically, keeping its
    inputs file and reproducer: for notes and regions added after it was saved."""
    target = Path(fixture.path)
    old = json.loads(target.read_text())
    data = to_json(fixture, old["inputs"].get("npz"))
    data["inputs"] = old["inputs"]
    data["reproducer"] = old.get("reproducer", f"python -m fuzz replay --fixture {target}")
    _atomic_write(target, lambda h: h.write(_dumps(data).encode()))
    return target


def save(fixture: Fixture, directory=FIXTURE_DIR, reproducer: str = "") -> Path:
    """Write ``fixture`` atomically; returns its path (existing file: left as is).  A
    :class:`~regressions.logits_fixtures.LogitsFixture` is written in its own form."""
    if getattr(fixture, "takes", "ids") != "ids":
        from . import logits_fixtures

        return logits_fixtures.save(fixture, directory, reproducer)
    arrays = None
    if fixture.topk_ids.size > INLINE_LIMIT:
        arrays = {"topk_ids": fixture.topk_ids, "topk_weights": fixture.topk_weights}
        if fixture.expert_mask is not None:
            arrays["expert_mask"] = fixture.expert_mask
    return write(directory, fixture.filename, arrays, lambda npz_name: to_json(fixture, npz_name), reproducer)


def write(directory, filename: str, arrays: Optional[dict], data_of, reproducer: str = "") -> Path:
    """Write a fixture file ``filename`` into ``directory`` atomically, its ``arrays`` (None:
    inline) into an ``.npz`` beside it first; ``data_of(npz_name or None)`` gives its JSON.
    Returns its path (an existing file is left as is)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / filename
    if target.exists():
        return target
    npz_name = None
    if arrays is not None:
        npz_name = target.with_suffix(".npz").name
        _atomic_write(directory / npz_name, lambda h: np.savez_compressed(h, **arrays))
    data = data_of(npz_name)
    data["reproducer"] = reproducer or f"python -m fuzz replay --fixture {target}"
    _atomic_write(target, lambda h: h.write(_dumps(data).encode()))
    return target
