"""A router case: logits ``[T, E]`` a router emits, rebuilt bit-for-bit from a seed and knobs.

:class:`LogitsCase` is the input of the backends that take logits (``Backend.takes
== "logits"``: FlyDSL's fused ``moe_softmax_sort_flydsl``, its top-k gating kernel,
the torch reference).  ``LogitsCase.inputs()`` returns :class:`RouterInputs`: the
logits as their storage bits (``uint32`` for ``f32``, ``uint16`` for ``bf16`` and
``f16``), the expert mask, M, ``renormalize`` and the unit size.  The bits are what
a fixture stores, so a replay feeds the kernel the very values the campaign did.

Distributions (:data:`DISTRIBUTIONS`, simplest first so that shrinking moves to it):

* ``plain``: small integers in ``[-2, 2]`` (exact ties everywhere);
* ``normal``: normal logits times ``scale``;
* ``spread``: uniform in ``[-50 scale, 50 scale]`` (large spreads);
* ``ties``: normal, with the row's largest logit copied to one to three other experts;
* ``near_ties``: normal, with one to three experts set one to three storage-dtype
  ulps from the row's largest logit;
* ``nonfinite``: normal, with NaN, ``+inf`` or ``-inf`` planted in some rows, and
  some rows all ``-inf``;
* ``dominant``: normal, with one expert (the same for every row) raised by ``20 scale``.

The mask modes are the sort cases' (:data:`cases.case.MASK_MODES`); ``renormalize``
is the entry's flag; ``local_tokens_on_device`` passes M as a one-element int32
tensor.  A :class:`LogitsCase` never plants invalid ids (``hostile`` is False).
"""
from __future__ import annotations

import dataclasses
import json
from typing import ClassVar, Optional

import numpy as np

from .case import MASK_MODES, draw_expert_mask

LOGIT_DTYPES = ("f32", "bf16", "f16")
DISTRIBUTIONS = ("plain", "normal", "spread", "ties", "near_ties", "nonfinite", "dominant")
#: Storage bits of each logits dtype.
BITS_DTYPES = {"f32": np.uint32, "bf16": np.uint16, "f16": np.uint16}


def _torch_types(dtype: str):
    """(torch dtype, signed integer torch dtype of the same width) of ``dtype``; torch is
    imported here, on first use, so that importing ``cases`` stays light."""
    import torch

    return ({"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dtype],
            torch.int32 if dtype == "f32" else torch.int16)


@dataclasses.dataclass
class RouterInputs:
    """What a backend that takes logits is launched with (from a case or a fixture)."""

    logits_bits: np.ndarray          # uint32 (f32) or uint16 (bf16, f16) [T, E]
    dtype: str                       # one of LOGIT_DTYPES
    topk: int
    unit_size: int = 32
    expert_mask: Optional[np.ndarray] = None
    num_local_tokens: Optional[int] = None
    local_tokens_on_device: bool = False
    renormalize: bool = True

    def __post_init__(self):
        if self.dtype not in LOGIT_DTYPES:
            raise ValueError(f"RouterInputs.dtype={self.dtype!r}; expected one of {LOGIT_DTYPES}")
        bits = np.asarray(self.logits_bits)
        if bits.ndim != 2 or bits.dtype != BITS_DTYPES[self.dtype]:
            raise ValueError(f"RouterInputs.logits_bits: {bits.dtype} {bits.shape}; expected 2-D "
                             f"{np.dtype(BITS_DTYPES[self.dtype]).name} for dtype {self.dtype}")

    @property
    def tokens(self) -> int:
        return int(self.logits_bits.shape[0])

    @property
    def num_experts(self) -> int:
        return int(self.logits_bits.shape[1])

    @property
    def m(self) -> int:
        return self.tokens if self.num_local_tokens is None else self.num_local_tokens

    def logits(self, device="cpu"):
        """The logits as a contiguous torch tensor of their dtype (row-major strides even
        when empty), bit for bit."""
        import torch

        value_type, signed_type = _torch_types(self.dtype)
        signed = np.ascontiguousarray(self.logits_bits).view(np.int32 if self.dtype == "f32" else np.int16)
        out = torch.empty(signed.shape, dtype=signed_type)
        out.copy_(torch.from_numpy(signed))
        return out.view(value_type).to(device)

    def run_num_local_tokens(self, device="cpu"):
        """M as the entry takes it: None, an int, or a one-element int32 tensor."""
        if not self.local_tokens_on_device:
            return self.num_local_tokens
        import torch

        return torch.tensor([self.m], dtype=torch.int32, device=device)


def logits_bits(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` (float64 / float32) rounded to ``dtype`` (nearest even), as storage bits."""
    import torch

    value_type, signed_type = _torch_types(dtype)
    t = torch.from_numpy(np.ascontiguousarray(values, np.float32)).to(value_type)
    return t.view(signed_type).numpy().view(BITS_DTYPES[dtype]).copy()


@dataclasses.dataclass(frozen=True)
class LogitsCase:
    num_experts: int
    topk: int
    tokens: int
    dtype: str = "f32"
    distribution: str = "normal"
    scale: float = 1.0
    renormalize: bool = True
    unit_size: int = 32
    num_local_tokens: Optional[int] = None
    mask_mode: str = "none"
    mask_ratio: float = 0.5
    local_tokens_on_device: bool = False
    seed: int = 0

    #: The ``kind`` field of its dict form; a sort case's dict has none.
    kind: ClassVar[str] = "logits"
    hostile: ClassVar[bool] = False
    hostile_ids: ClassVar[str] = "none"

    def __post_init__(self):
        for field, allowed in (("dtype", LOGIT_DTYPES), ("distribution", DISTRIBUTIONS), ("mask_mode", MASK_MODES)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"LogitsCase.{field}={getattr(self, field)!r}; expected one of {allowed}")
        for field in ("num_experts", "topk", "unit_size"):
            if int(getattr(self, field)) < 1:
                raise ValueError(f"LogitsCase.{field}={getattr(self, field)!r} must be >= 1")
        if self.tokens < 0:
            raise ValueError(f"LogitsCase.tokens={self.tokens!r} must be >= 0")
        if self.topk > self.num_experts:
            raise ValueError(f"LogitsCase.topk={self.topk} exceeds num_experts={self.num_experts}")
        if self.num_local_tokens is not None and not 0 <= self.num_local_tokens <= self.tokens:
            raise ValueError(f"LogitsCase.num_local_tokens={self.num_local_tokens!r} is outside "
                             f"[0, tokens={self.tokens}]")
        if not 0.0 <= self.mask_ratio <= 1.0:
            raise ValueError(f"LogitsCase.mask_ratio={self.mask_ratio!r} is outside [0, 1]")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"LogitsCase.scale={self.scale!r} must be a finite number > 0")

    @property
    def name(self) -> str:
        parts = [f"E{self.num_experts}", f"k{self.topk}", f"T{self.tokens}", f"u{self.unit_size}", self.dtype,
                 self.distribution, "" if self.scale == 1.0 else f"s{self.scale:g}",
                 "" if self.renormalize else "raw"]
        if self.num_local_tokens is not None:
            parts.append(f"M{self.num_local_tokens}")
        if self.local_tokens_on_device:
            parts.append("Mdev")
        parts.append({"none": "", "all_on": "epall", "all_off": "epnone", "one": "ep1",
                      "ratio": f"ep{round(self.mask_ratio * 100)}"}[self.mask_mode])
        return "-".join(p for p in parts if p)

    def to_dict(self) -> dict:
        return dict(dataclasses.asdict(self), kind=self.kind)

    @classmethod
    def from_dict(cls, data: dict) -> "LogitsCase":
        data = dict(data)
        if data.pop("kind", cls.kind) != cls.kind:
            raise ValueError(f"LogitsCase: kind={data.get('kind')!r}, expected {cls.kind!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"LogitsCase: unknown field(s) {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def inputs(self) -> RouterInputs:
        """The case's inputs, rebuilt from its seed (module docstring)."""
        rng = np.random.Generator(np.random.PCG64(self.seed))
        mask = draw_expert_mask(rng, self.num_experts, self.mask_mode, self.mask_ratio)
        bits = _draw_logits(rng, self)
        return RouterInputs(bits, self.dtype, self.topk, self.unit_size, mask, self.num_local_tokens,
                            self.local_tokens_on_device, self.renormalize)


def case_from_dict(data: dict):
    """A :class:`LogitsCase` for a dict with ``kind: "logits"``, else a sort :class:`~cases.Case`."""
    from .case import Case

    return LogitsCase.from_dict(data) if data.get("kind") == LogitsCase.kind else Case.from_dict(data)


def _draw_logits(rng, case: LogitsCase) -> np.ndarray:
    T, E, s = case.tokens, case.num_experts, case.scale
    kind = case.distribution
    if kind == "plain":
        return logits_bits(rng.integers(-2, 3, size=(T, E)).astype(np.float32), case.dtype)
    if kind == "spread":
        return logits_bits(rng.uniform(-50 * s, 50 * s, size=(T, E)), case.dtype)
    x = rng.standard_normal((T, E)) * s
    if kind == "dominant" and T:
        x[:, rng.integers(E)] += 20 * s
    if kind == "nonfinite":
        x = _plant_nonfinite(rng, x)
    bits = logits_bits(x, case.dtype)
    if kind in ("ties", "near_ties") and E > 1:
        _plant_ties(rng, bits, case.dtype, near=kind == "near_ties")
    return bits


def _plant_nonfinite(rng, x: np.ndarray) -> np.ndarray:
    """NaN, +inf or -inf at a random expert of about a quarter of the rows (one in four of
    those: -inf everywhere)."""
    T, E = x.shape
    for r in np.flatnonzero(rng.random(T) < 0.25):
        pick = int(rng.integers(4))
        if pick == 3:
            x[r, :] = -np.inf
        else:
            x[r, rng.integers(E, size=int(rng.integers(1, 3)))] = (np.nan, np.inf, -np.inf)[pick]
    return x


def _plant_ties(rng, bits: np.ndarray, dtype: str, near: bool) -> None:
    """Copy each row's largest logit (as bits) to 1-3 other experts; ``near``: 1-3 ulps off
    (in the bits' own format: adjacent bit patterns are adjacent values of one sign)."""
    T, E = bits.shape
    values = RouterInputs(bits, dtype, 1).logits().float().numpy()
    for r in range(T):
        top = int(np.argmax(values[r]))
        others = rng.choice(np.delete(np.arange(E), top), size=min(E - 1, int(rng.integers(1, 4))), replace=False)
        for e in others:
            step = int(rng.integers(1, 4)) * (1 if rng.random() < 0.5 else -1) if near else 0
            bits[r, e] = np.clip(int(bits[r, top]) + step, 0, np.iinfo(bits.dtype).max)
