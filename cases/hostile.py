"""Hostile expert ids: the ids a router emits that the contract calls invalid.

A :class:`cases.Case` with ``hostile_ids != "none"`` plants, after routing,
``hostile_count`` invalid ids into its counted rows (rows ``< M``), chosen by
``hostile_rows``; :func:`plant` does it with a generator of its own, so the
rest of the case (routing, mask, weights) is the same as without them.

Kinds (``hostile_ids``, :data:`HOSTILE_KINDS`):

``minus_one``  ``-1``: what EP routers write for an expert on another rank;
``past_end``   ``E .. E + 3``: global ids one past a rank's local experts;
``far``        large positive ids (``2**31 - 1``, ``2**24``, ``E + 2**16``, ...);
``negative``   other negative ids (``-2**31``, ``-E``, ``-2**24``, ...);
``repeat``     a row lists one of its experts in a second slot (topk >= 2);
``mixed``      each planted id of any of the kinds above.

Rows (``hostile_rows``, :data:`HOSTILE_ROWS`): ``any`` (positions drawn over
all counted rows), ``first`` (row 0), ``last`` (row M - 1), ``one`` (one
random row).  A row holds at most ``topk`` planted ids; a case with M = 0
plants none.
"""
from __future__ import annotations

import numpy as np

HOSTILE_KINDS = ("none", "minus_one", "past_end", "far", "negative", "repeat", "mixed")
HOSTILE_ROWS = ("any", "first", "last", "one")
#: Short tags for case names (``-hneg1x3``, ``-hdup1-last``).
KIND_TAGS = {"minus_one": "neg1", "past_end": "pastE", "far": "far", "negative": "neg", "repeat": "dup",
             "mixed": "mix"}
_VALUE_KINDS = ("minus_one", "past_end", "far", "negative")
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


def check_hostile(kind: str, count: int, rows: str, topk: int) -> None:
    """ValueError naming the ``Case`` field that is out of range."""
    if kind not in HOSTILE_KINDS:
        raise ValueError(f"Case.hostile_ids={kind!r}; expected one of {HOSTILE_KINDS}")
    if rows not in HOSTILE_ROWS:
        raise ValueError(f"Case.hostile_rows={rows!r}; expected one of {HOSTILE_ROWS}")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"Case.hostile_count={count!r} must be an int >= 1")
    if kind == "repeat" and topk < 2:
        raise ValueError(f"Case.hostile_ids='repeat' needs topk >= 2 (topk={topk})")


def name_tag(kind: str, count: int, rows: str) -> str:
    """The case-name part of a hostile mode (empty for ``none``)."""
    if kind == "none":
        return ""
    return f"h{KIND_TAGS[kind]}x{count}" + ("" if rows == "any" else f"-{rows}")


def _value(rng, kind: str, num_experts: int) -> int:
    if kind == "minus_one":
        return -1
    if kind == "past_end":
        return num_experts + int(rng.integers(4))
    if kind == "far":
        choices = (_INT32_MAX, 1 << 24, num_experts + (1 << 16), int(rng.integers(num_experts + 4, _INT32_MAX)))
        return int(choices[int(rng.integers(len(choices)))])
    choices = (_INT32_MIN, -num_experts, -(1 << 24), int(rng.integers(_INT32_MIN, -1)))
    return int(choices[int(rng.integers(len(choices)))])


def _positions(rng, rows: str, count: int, m: int, topk: int) -> list:
    """(row, slot) pairs, distinct, for ``count`` planted ids."""
    if rows == "any":
        flat = rng.choice(m * topk, size=min(count, m * topk), replace=False)
        return [(int(f) // topk, int(f) % topk) for f in flat]
    row = {"first": 0, "last": m - 1, "one": int(rng.integers(m))}[rows]
    slots = rng.choice(topk, size=min(count, topk), replace=False)
    return [(row, int(s)) for s in slots]


def plant(ids: np.ndarray, kind: str, count: int, rows: str, m: int, num_experts: int, seed: int) -> np.ndarray:
    """``ids`` (int32 ``[T, topk]``) with the hostile ids planted in rows ``< m``;
    a fresh array, ``ids`` itself unchanged."""
    if kind == "none" or m == 0:
        return ids
    out = ids.copy()
    topk = out.shape[1]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x4057])))
    for row, slot in _positions(rng, rows, count, m, topk):
        this = kind
        if kind == "mixed":
            this = str(rng.choice(_VALUE_KINDS + (("repeat",) if topk > 1 else ())))
        if this == "repeat":
            other = (slot + 1 + int(rng.integers(topk - 1))) % topk
            out[row, slot] = out[row, other]
        else:
            out[row, slot] = _value(rng, this, num_experts)
    return np.ascontiguousarray(out, dtype=np.int32)
