"""Compare a backend's outputs with the golden model's: a structured verdict.

``compare(expected, actual, ordering="strict"|"per_block", canary=False)``
returns a :class:`Verdict`: every :class:`Mismatch` found (which output,
index, block, expert, token and slot, expected and actual values), the kernel
path when the backend reports one, and a one-line ``summary`` fit for a test
failure.  Only the valid extent is compared (``expected.num_valid_ids[0]``
rows, and the blocks inside it); with ``canary=True`` the poisoned storage
past that extent and the red zone behind each buffer are checked too (the
result must carry ``canary`` from :mod:`kernels.harness`).

Mismatch kinds (``Mismatch.kind``):
  ``length``       an output array has the wrong length or dtype
  ``num_valid``    num_valid_ids differs ([padded length, M])
  ``value``        strict: a packed id / weight / block expert differs at a position
  ``block_set``    per_block: a block holds a different set of (id, weight) pairs
  ``moe_buf``      moe_buf was not zeroed
  ``past_extent``  canary: a write past the valid extent
  ``red_zone``     canary: a write past the buffer's end
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from .result import SortResult, unpack_id

OUTPUTS = ("sorted_ids", "sorted_weights", "sorted_expert_ids", "num_valid_ids")
_DTYPES = {"sorted_ids": np.int32, "sorted_weights": np.float32,
           "sorted_expert_ids": np.int32, "num_valid_ids": np.int32}


@dataclasses.dataclass(frozen=True)
class Mismatch:
    output: str
    kind: str
    index: Optional[int] = None
    block: Optional[int] = None
    expert: Optional[int] = None
    token: Optional[int] = None
    slot: Optional[int] = None
    expected: Any = None
    actual: Any = None
    detail: str = ""

    def describe(self) -> str:
        where = self.output + (f"[{self.index}]" if self.index is not None else "")
        ctx = []
        if self.block is not None:
            ctx.append(f"block {self.block}")
        if self.expert is not None:
            ctx.append(f"expert {self.expert}")
        if self.token is not None:
            ctx.append(f"token {self.token}" + (f" slot {self.slot}" if self.slot is not None else ""))
        ctx_s = f" ({', '.join(ctx)})" if ctx else ""
        body = self.detail or f"expected {self.expected!r}, got {self.actual!r}"
        return f"{self.kind}: {where}{ctx_s}: {body}"


@dataclasses.dataclass
class Verdict:
    """Outcome of one comparison; ``ok`` is True when nothing differs."""

    mismatches: list
    ordering: str
    path: Optional[str] = None
    backend: Optional[str] = None
    total_counts: dict = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __bool__(self) -> bool:
        return self.ok

    @property
    def first(self) -> Optional[Mismatch]:
        return self.mismatches[0] if self.mismatches else None

    @property
    def summary(self) -> str:
        head = f"[{self.backend or '?'} path={self.path or '-'} {self.ordering}] "
        if self.ok:
            return head + "outputs agree with the golden model"
        more = sum(self.total_counts.values()) - 1
        tail = f"; {more} more mismatch{'es' if more != 1 else ''}" if more > 0 else ""
        return head + self.first.describe() + tail

    def signature(self) -> tuple:
        """(output, kind) of the first mismatch: stable across copies of one bug."""
        m = self.first
        return (m.output, m.kind) if m else ()

    def to_dict(self) -> dict:
        return {
            "ok": self.ok, "ordering": self.ordering, "path": self.path,
            "backend": self.backend, "summary": self.summary,
            "counts": dict(self.total_counts),
            "mismatches": [
                {k: _jsonable(v) for k, v in dataclasses.asdict(m).items()}
                for m in self.mismatches
            ],
        }


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def _hex(v) -> str:
    return f"0x{int(v) & 0xFFFFFFFF:08x}"


def _describe_id(expected, packed) -> str:
    if expected.sentinel is not None and int(packed) == expected.sentinel:
        return f"the sentinel ({_hex(packed)})"
    token, slot = unpack_id(packed)
    return f"token {token} slot {slot} ({_hex(packed)})"


def _weight_repr(bits: int) -> str:
    return f"{np.uint32(bits).view(np.float32)!r} ({_hex(bits)})"


class _Collector:
    def __init__(self, limit: int):
        self.limit = limit
        self.items: list[Mismatch] = []
        self.counts: dict = {}

    def add(self, mismatch: Mismatch, count: int = 1) -> None:
        key = f"{mismatch.output}:{mismatch.kind}"
        self.counts[key] = self.counts.get(key, 0) + count
        if len(self.items) < self.limit:
            self.items.append(mismatch)


def compare(
    expected: SortResult,
    actual: SortResult,
    ordering: str = "strict",
    canary: bool = False,
    *,
    unit_size: Optional[int] = None,
    limit: int = 20,
) -> Verdict:
    """Compare ``actual`` with ``expected``; see the module docstring."""
    if ordering not in ("strict", "per_block"):
        raise ValueError(f"ordering={ordering!r}; expected 'strict' or 'per_block'")
    out = _Collector(limit)
    _compare_shapes(expected, actual, out)
    if not any(m.kind == "length" for m in out.items):
        if unit_size is None:
            unit_size = _infer_unit(expected)
        valid = expected.valid_length
        _compare_num_valid(expected, actual, out)
        if ordering == "strict":
            _compare_strict(expected, actual, valid, unit_size, out)
        else:
            _compare_per_block(expected, actual, valid, unit_size, out)
        _compare_blocks(expected, actual, valid, unit_size, out)
    if getattr(actual, "moe_buf_zeroed", True) is False:
        out.add(_moe_buf_mismatch(getattr(actual, "moe_buf_residue", None)))
    if canary:
        _compare_canary(expected, actual, unit_size or _infer_unit(expected), out)
    return Verdict(out.items, ordering, getattr(actual, "path", None),
                   getattr(actual, "backend", None) or None, out.counts)


def _moe_buf_mismatch(residue: Optional[dict]) -> Mismatch:
    """``moe_buf`` not zeroed; ``residue`` (when the result has one) says which bytes:
    ``{"nbytes", "first", "last", "count"}`` of the non-zero ones."""
    if not residue:
        return Mismatch("moe_buf", "moe_buf", detail="moe_buf was not zeroed")
    return Mismatch("moe_buf", "moe_buf", index=residue["first"], expected=0, actual=residue["count"],
                    detail=f"moe_buf was not zeroed: {residue['count']} of {residue['nbytes']} bytes non-zero, "
                           f"bytes {residue['first']}..{residue['last']}")


def _infer_unit(expected: SortResult) -> int:
    """unit_size = len(sorted_ids) / len(sorted_expert_ids), rounded to a power of two."""
    n, b = len(expected.sorted_ids), max(len(expected.sorted_expert_ids), 1)
    unit = 1
    while unit * b < n:
        unit *= 2
    return unit


def _compare_shapes(expected, actual, out) -> None:
    for name in OUTPUTS:
        e, a = getattr(expected, name), np.asarray(getattr(actual, name))
        if a.shape != e.shape or a.dtype != _DTYPES[name]:
            out.add(Mismatch(name, "length",
                             detail=f"expected {e.dtype}{list(e.shape)}, got {a.dtype}{list(a.shape)}"))


def _compare_num_valid(expected, actual, out) -> None:
    labels = ("padded length", "M")
    for i in range(2):
        e, a = int(expected.num_valid_ids[i]), int(actual.num_valid_ids[i])
        if e != a:
            out.add(Mismatch("num_valid_ids", "num_valid", index=i, expected=e, actual=a,
                             detail=f"{labels[i]}: expected {e}, got {a}"))


def _context(expected, index: int, unit: int) -> dict:
    block = index // unit
    token, slot = unpack_id(expected.sorted_ids[index])
    if expected.sentinel is not None and int(expected.sorted_ids[index]) == expected.sentinel:
        token = slot = None  # padding: no (token, slot)
    return {"block": block, "expert": int(expected.sorted_expert_ids[block]),
            "token": token, "slot": slot}


def _compare_strict(expected, actual, valid, unit, out) -> None:
    e_ids, a_ids = expected.sorted_ids[:valid], np.asarray(actual.sorted_ids)[:valid]
    bad = np.flatnonzero(e_ids != a_ids)
    for i in bad[: out.limit]:
        out.add(Mismatch("sorted_ids", "value", index=int(i), **_context(expected, i, unit),
                         expected=int(e_ids[i]), actual=int(a_ids[i]),
                         detail=f"expected {_describe_id(expected, e_ids[i])}, "
                                f"got {_describe_id(expected, a_ids[i])}"))
    if bad.size > out.limit:
        out.counts["sorted_ids:value"] += bad.size - out.limit
    e_w = expected.sorted_weights[:valid].view(np.uint32)
    a_w = np.asarray(actual.sorted_weights)[:valid].view(np.uint32)
    bad = np.flatnonzero(e_w != a_w)
    for i in bad[: out.limit]:
        out.add(Mismatch("sorted_weights", "value", index=int(i), **_context(expected, i, unit),
                         expected=int(e_w[i]), actual=int(a_w[i]),
                         detail=f"expected {_weight_repr(e_w[i])}, got {_weight_repr(a_w[i])}"))
    if bad.size > out.limit:
        out.counts["sorted_weights:value"] += bad.size - out.limit


def _compare_per_block(expected, actual, valid, unit, out) -> None:
    e_ids, a_ids = expected.sorted_ids[:valid], np.asarray(actual.sorted_ids)[:valid]
    e_w = expected.sorted_weights[:valid].view(np.uint32)
    a_w = np.asarray(actual.sorted_weights)[:valid].view(np.uint32)
    # Pair each id with its weight bits, then sort inside each block.
    e_pairs = (e_ids.astype(np.int64) & 0xFFFFFFFF) << 32 | e_w.astype(np.int64)
    a_pairs = (a_ids.astype(np.int64) & 0xFFFFFFFF) << 32 | a_w.astype(np.int64)
    blocks = valid // unit
    e_sorted = np.sort(e_pairs[: blocks * unit].reshape(blocks, unit), axis=1)
    a_sorted = np.sort(a_pairs[: blocks * unit].reshape(blocks, unit), axis=1)
    for b in np.flatnonzero((e_sorted != a_sorted).any(axis=1)):
        e_set, a_set = set(e_sorted[b].tolist()), set(a_sorted[b].tolist())
        missing = sorted(e_set - a_set)
        extra = sorted(a_set - e_set)
        first = missing[0] if missing else extra[0] if extra else int(e_sorted[b][0])
        token, slot = unpack_id(first >> 32)
        desc = []
        if missing:
            desc.append(f"missing {len(missing)} (first token {token} slot {slot}, "
                        f"weight {_weight_repr(missing[0] & 0xFFFFFFFF)})")
        if extra:
            xt, xs = unpack_id(extra[0] >> 32)
            desc.append(f"extra {len(extra)} (first token {xt} slot {xs}, "
                        f"weight {_weight_repr(extra[0] & 0xFFFFFFFF)})")
        if not desc:
            desc.append("same set, different multiplicities")
        out.add(Mismatch("sorted_ids", "block_set", block=int(b),
                         expert=int(expected.sorted_expert_ids[b]), token=token, slot=slot,
                         expected=[hex(p >> 32) for p in missing[:4]],
                         actual=[hex(p >> 32) for p in extra[:4]],
                         detail="; ".join(desc)))


def _compare_blocks(expected, actual, valid, unit, out) -> None:
    blocks = valid // unit
    e, a = expected.sorted_expert_ids[:blocks], np.asarray(actual.sorted_expert_ids)[:blocks]
    bad = np.flatnonzero(e != a)
    for i in bad[: out.limit]:
        out.add(Mismatch("sorted_expert_ids", "value", index=int(i), block=int(i),
                         expert=int(e[i]), expected=int(e[i]), actual=int(a[i]),
                         detail=f"block {i}: expected local expert {e[i]}, got {a[i]}"))
    if bad.size > out.limit:
        out.counts["sorted_expert_ids:value"] += bad.size - out.limit


def _canary_info(actual) -> dict:
    info = getattr(actual, "canary", None)
    if not info:
        raise ValueError("a canary check needs a result from kernels.run(..., red_zone>0)")
    return info


def _canary_writes(info: dict):
    """``(name, bits, length, written)`` per 4-byte output: ``written`` = indices of the
    raw allocation (contract length + red zone) that no longer hold the poison."""
    for name, raw in info["raw"].items():
        if raw.dtype.itemsize != 4:
            continue
        poison = np.asarray(info["poison"][name]).view(np.uint32)
        bits = np.ascontiguousarray(raw).view(np.uint32)
        yield name, bits, info["lengths"][name], np.flatnonzero(bits != poison)


def _red_zone(name, bits, length, written) -> Optional[Mismatch]:
    zone = written[written >= length]
    if not zone.size:
        return None
    return Mismatch(name, "red_zone", index=int(zone[0]),
                    detail=f"{zone.size} write(s) past the buffer end {length} "
                           f"(first at {zone[0]}: {_hex(bits[zone[0]])})")


def red_zone_writes(actual) -> list:
    """One ``red_zone`` :class:`Mismatch` per output whose red zone (the poisoned
    elements behind it, ``kernels.run(..., red_zone=N)``) a launch overwrote."""
    found = (_red_zone(*w) for w in _canary_writes(_canary_info(actual)))
    return [m for m in found if m is not None]


def _compare_canary(expected, actual, unit, out) -> None:
    valid = expected.valid_length
    extents = {"sorted_ids": valid, "sorted_weights": valid,
               "sorted_expert_ids": valid // unit, "num_valid_ids": 2}
    for name, bits, length, written in _canary_writes(_canary_info(actual)):
        start = extents.get(name, length)
        past = written[(written >= start) & (written < length)]
        if past.size:
            out.add(Mismatch(name, "past_extent", index=int(past[0]),
                             detail=f"{past.size} write(s) past the valid extent {start} "
                                    f"(first at {past[0]}: {_hex(bits[past[0]])})"), past.size)
        zone = _red_zone(name, bits, length, written)
        if zone is not None:
            out.add(zone, int(np.count_nonzero(written >= length)))
