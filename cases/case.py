"""A fuzz case: a small JSON-serializable description that rebuilds its
inputs bit-for-bit from its seed.

``Case.materialize()`` returns ``(topk_ids, topk_weights, expert_mask,
num_local_tokens)`` ready for ``oracle.moe_sorting`` / ``kernels.run``.  The
generator is NumPy's PCG64 seeded with ``seed``; saved fixtures also store
the arrays themselves, so a replay never depends on the generator.

Knobs (see :data:`MASK_MODES`, :data:`ROUTINGS`, :data:`WEIGHT_MODES`):
mask mode ``none | all_on | all_off | ratio | one``; routing ``uniform |
one_expert`` (every row includes one chosen expert) ``| hot`` (Zipf-skewed
popularity); weights ``uniform | equal | special`` (NaN with payloads, ±inf,
-0.0, denormals mixed in); ``moe_buf``, a layout ``"<dtype>x<columns>"`` (see
:mod:`cases.moe_buf`); hostile ids ``hostile_ids`` (which kind),
``hostile_count`` (how many) and ``hostile_rows`` (which rows): invalid ids
planted into the counted rows after routing (see :mod:`cases.hostile`; the
default ``"none"`` plants none); ``local_tokens_on_device``: M reaches
``kernels.run`` as a one-element int32 array (the device-buffer form,
:meth:`Case.run_num_local_tokens`) instead of an int.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Optional

import numpy as np

from .hostile import check_hostile, name_tag, plant
from .moe_buf import DEFAULT_MOE_BUF, moe_buf_array, parse_moe_buf

MASK_MODES = ("none", "all_on", "all_off", "ratio", "one")
ROUTINGS = ("uniform", "one_expert", "hot")
WEIGHT_MODES = ("uniform", "equal", "special")

# float32 bit patterns for the "special" weight mode
SPECIAL_WEIGHT_BITS = np.array(
    [0x7FC00000, 0x7FC00001, 0xFFC12345, 0x7F800001,  # NaNs (quiet, payload, negative, signalling)
     0x7F800000, 0xFF800000,  # +inf, -inf
     0x80000000, 0x00000000,  # -0.0, +0.0
     0x00000001, 0x807FFFFF, 0x00400000,  # denormals
     0x7F7FFFFF, 0x00800000],  # max, min normal
    dtype=np.uint32,
)


@dataclasses.dataclass(frozen=True)
class Case:
    num_experts: int
    topk: int
    tokens: int
    unit_size: int = 32
    num_local_tokens: Optional[int] = None
    mask_mode: str = "none"
    mask_ratio: float = 0.5  # fraction of experts enabled, for mask_mode="ratio"
    routing: str = "uniform"
    weights: str = "uniform"
    seed: int = 0
    moe_buf: str = DEFAULT_MOE_BUF
    hostile_ids: str = "none"
    hostile_count: int = 1
    hostile_rows: str = "any"
    local_tokens_on_device: bool = False   # M passed as a one-element int32 tensor, not an int

    def __post_init__(self):
        for field, allowed in (("mask_mode", MASK_MODES), ("routing", ROUTINGS), ("weights", WEIGHT_MODES)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"Case.{field}={getattr(self, field)!r}; expected one of {allowed}")
        for field in ("num_experts", "topk", "unit_size"):
            if int(getattr(self, field)) < 1:
                raise ValueError(f"Case.{field}={getattr(self, field)!r} must be >= 1")
        if self.tokens < 0:
            raise ValueError(f"Case.tokens={self.tokens!r} must be >= 0")
        if self.topk > self.num_experts:
            raise ValueError(f"Case.topk={self.topk} exceeds num_experts={self.num_experts}")
        if self.num_local_tokens is not None and not 0 <= self.num_local_tokens <= self.tokens:
            raise ValueError(f"Case.num_local_tokens={self.num_local_tokens!r} is outside [0, tokens={self.tokens}]")
        if not 0.0 <= self.mask_ratio <= 1.0:
            raise ValueError(f"Case.mask_ratio={self.mask_ratio!r} is outside [0, 1]")
        parse_moe_buf(self.moe_buf)
        check_hostile(self.hostile_ids, self.hostile_count, self.hostile_rows, self.topk)

    @property
    def hostile(self) -> bool:
        """Whether the case plants invalid ids (its counted rows may still hold none: M = 0)."""
        return self.hostile_ids != "none"

    # -- naming and serialization ------------------------------------------------
    @property
    def name(self) -> str:
        parts = [f"E{self.num_experts}", f"k{self.topk}", f"T{self.tokens}", f"u{self.unit_size}"]
        if self.num_local_tokens is not None:
            parts.append(f"M{self.num_local_tokens}")
        if self.local_tokens_on_device:
            parts.append("Mdev")
        parts.append({
            "none": "", "all_on": "epall", "all_off": "epnone", "one": "ep1",
            "ratio": f"ep{round(self.mask_ratio * 100)}",
        }[self.mask_mode])
        if self.routing != "uniform":
            parts.append({"one_expert": "onehot", "hot": "hot"}[self.routing])
        if self.weights != "uniform":
            parts.append({"equal": "weq", "special": "wsp"}[self.weights])
        if self.moe_buf != DEFAULT_MOE_BUF:
            parts.append("mb" + self.moe_buf)
        parts.append(name_tag(self.hostile_ids, self.hostile_count, self.hostile_rows))
        return "-".join(p for p in parts if p)

    def to_dict(self) -> dict:
        """Every field; ``moe_buf``, the hostile-ids fields and ``local_tokens_on_device``
        only when they are not the default (older fixtures have none)."""
        data = dataclasses.asdict(self)
        for field, default in _OPTIONAL_DEFAULTS.items():
            if data[field] == default:
                del data[field]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Case":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Case: unknown field(s) {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    # -- inputs -------------------------------------------------------------------
    def materialize(self):
        """(topk_ids int32 [T, topk], topk_weights float32, expert_mask or None, M or None)."""
        rng = np.random.Generator(np.random.PCG64(self.seed))
        mask = _mask(rng, self)
        ids = _route(rng, self, mask)
        weights = _weights(rng, self)
        m = self.tokens if self.num_local_tokens is None else self.num_local_tokens
        ids = plant(ids, self.hostile_ids, self.hostile_count, self.hostile_rows, m, self.num_experts, self.seed)
        return ids, weights, mask, self.num_local_tokens

    def run_num_local_tokens(self):
        """``num_local_tokens`` as the case passes it to ``kernels.run``: None or an int, or
        with ``local_tokens_on_device`` a one-element int32 array holding M (T when unset)."""
        if not self.local_tokens_on_device:
            return self.num_local_tokens
        return np.array([self.tokens if self.num_local_tokens is None else self.num_local_tokens], np.int32)

    def moe_buf_array(self) -> np.ndarray:
        """A fresh ``moe_buf`` of this case's dtype and shape ``[T, columns]``."""
        return moe_buf_array(self.moe_buf, self.tokens)


#: Fields left out of ``to_dict`` at their default, so older records keep their form.
_OPTIONAL_DEFAULTS = {"moe_buf": DEFAULT_MOE_BUF, "hostile_ids": "none", "hostile_count": 1, "hostile_rows": "any",
                      "local_tokens_on_device": False}


def _mask(rng, case: Case) -> Optional[np.ndarray]:
    return draw_expert_mask(rng, case.num_experts, case.mask_mode, case.mask_ratio)


def draw_expert_mask(rng, num_experts: int, mode: str, ratio: float) -> Optional[np.ndarray]:
    """The expert mask of mask mode ``mode`` (:data:`MASK_MODES`; ``ratio``: the share of
    experts enabled for ``"ratio"``), drawn from ``rng``; None for ``"none"``."""
    E = num_experts
    if mode == "none":
        return None
    if mode == "all_on":
        return np.ones(E, np.int32)
    if mode == "all_off":
        return np.zeros(E, np.int32)
    if mode == "one":
        mask = np.zeros(E, np.int32)
        mask[rng.integers(E)] = 1
        return mask
    return (rng.random(E) < ratio).astype(np.int32)


def _distinct_rows(rng, tokens: int, num_experts: int, topk: int, probs=None) -> np.ndarray:
    """[tokens, topk] int32 with distinct ids per row, drawn from ``probs``."""
    if tokens * num_experts <= (1 << 22):
        keys = rng.random((tokens, num_experts))
        if probs is not None:  # Gumbel-top-k: sampling without replacement by weight
            keys = np.log(probs)[None, :] - np.log(-np.log(np.maximum(keys, 1e-300)))
            return np.argsort(-keys, axis=1, kind="stable")[:, :topk].astype(np.int32)
        return np.argsort(keys, axis=1, kind="stable")[:, :topk].astype(np.int32)
    ids = rng.choice(num_experts, size=(tokens, topk), p=probs).astype(np.int32)
    while True:
        s = np.sort(ids, axis=1)
        bad = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1))
        if not bad.size:
            return ids
        ids[bad] = rng.choice(num_experts, size=(bad.size, topk), p=probs)


def _route(rng, case: Case, mask) -> np.ndarray:
    T, E, k = case.tokens, case.num_experts, case.topk
    if case.routing == "hot":
        rank = rng.permutation(E)
        probs = 1.0 / (1.0 + rank) ** 1.2
        return _distinct_rows(rng, T, E, k, probs / probs.sum())
    ids = _distinct_rows(rng, T, E, k)
    if case.routing == "one_expert" and T:
        hot = int(rng.integers(E))
        has = (ids == hot).any(axis=1)
        slots = rng.integers(k, size=T)
        rows = np.flatnonzero(~has)
        ids[rows, slots[rows]] = hot
    return np.ascontiguousarray(ids, dtype=np.int32)


def _weights(rng, case: Case) -> np.ndarray:
    shape = (case.tokens, case.topk)
    if case.weights == "equal":
        return np.full(shape, 1.0 / case.topk, np.float32)
    w = rng.random(shape, dtype=np.float32)
    if case.weights == "special":
        pick = rng.random(shape) < 0.3
        bits = SPECIAL_WEIGHT_BITS[rng.integers(SPECIAL_WEIGHT_BITS.size, size=shape)]
        w = np.where(pick, bits.view(np.float32), w)
    return np.ascontiguousarray(w, dtype=np.float32)
