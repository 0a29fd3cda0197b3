"""Expert ids the contract calls invalid, and the policies for them.

Two kinds of id in a counted row (rows ``< M``) lie outside the contract:
an id outside ``[0, E)`` (``-1`` included: EP routers mark experts of other
ranks with it) and an expert repeated in one row.  What a caller asks for
when its ids may hold them is a *policy* (CONTRACT.md, "Robustness"):

``reject``     (the default everywhere) the input is refused with a
               :class:`~oracle.errors.ContractViolation` before any kernel sees it;
``drop``       ids outside ``[0, E)`` are dropped exactly as a masked expert's
               (the golden model defines every output); repeated ids are still
               refused;
``unchecked``  anything passes through; only memory safety is judged (the
               golden model defines no outputs, so :func:`oracle.moe_sorting`
               does not take it).

:func:`census` counts the invalid ids of an input, so that a harness can
pick the policy an input needs (:func:`needed_policy`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .errors import ContractViolation

POLICIES = ("reject", "drop", "unchecked")
#: The policies under which the golden model defines every output.
MODEL_POLICIES = ("reject", "drop")


def check_policy(value, allowed=POLICIES) -> str:
    """``value`` if it is one of ``allowed``, else a ContractViolation naming ``invalid_ids``."""
    if value not in allowed:
        raise ContractViolation("invalid_ids", f"= {value!r}, expected one of {allowed}")
    return value


@dataclasses.dataclass(frozen=True)
class IdCensus:
    """The invalid ids of the counted rows of one input."""

    out_of_range: int       # ids outside [0, E)
    repeated_rows: int      # rows that list one expert of [0, E) more than once

    @property
    def clean(self) -> bool:
        return not (self.out_of_range or self.repeated_rows)


def _repeats(counted: np.ndarray, num_experts: int) -> np.ndarray:
    """Per row of the 2-D ``counted``, whether it lists one expert of ``[0, E)`` twice
    (ids outside it are no expert: a row may hold several ``-1``)."""
    if counted.shape[1] < 2 or not counted.shape[0]:
        return np.zeros(counted.shape[0], dtype=bool)
    in_range = (counted >= 0) & (counted < num_experts)
    if not in_range.all():   # a distinct stand-in per slot for every id outside [0, E)
        counted = np.where(in_range, counted, -1 - np.arange(counted.shape[1], dtype=counted.dtype))
    order = np.sort(counted, axis=1)
    return (order[:, 1:] == order[:, :-1]).any(axis=1)


def census(topk_ids: np.ndarray, m: int, num_experts: int) -> IdCensus:
    """Count the invalid ids in rows ``0..m-1`` of ``topk_ids`` (int32 ``[T, topk]``)."""
    counted = np.asarray(topk_ids)[:m]
    out = int(np.count_nonzero((counted < 0) | (counted >= num_experts)))
    return IdCensus(out, int(np.count_nonzero(_repeats(counted, num_experts))))


def needed_policy(found: IdCensus) -> str:
    """The weakest policy that accepts an input with invalid ids ``found``."""
    if found.repeated_rows:
        return "unchecked"
    return "drop" if found.out_of_range else "reject"


def check_ids(ids: np.ndarray, m: int, num_experts: int, policy: str) -> None:
    """Refuse the invalid ids ``policy`` does not accept, naming row, slot and value."""
    if policy == "unchecked":
        return
    counted = ids[:m]
    if policy == "reject":
        bad = (counted < 0) | (counted >= num_experts)
        if bad.any():
            row, slot = np.argwhere(bad)[0]
            raise ContractViolation(
                "topk_ids",
                f"topk_ids[{row}, {slot}] = {counted[row, slot]} is outside [0, num_experts={num_experts})",
            )
    rows = np.flatnonzero(_repeats(counted, num_experts))
    if rows.size:
        row = int(rows[0])
        listed = counted[row][(counted[row] >= 0) & (counted[row] < num_experts)]
        values, counts = np.unique(listed, return_counts=True)
        value = int(values[counts > 1][0])
        slots = np.flatnonzero(counted[row] == value).tolist()
        raise ContractViolation(
            "topk_ids",
            f"row {row} repeats expert {value} in slots {slots}; an expert appears at most once per row"
            + (" (invalid_ids='drop' drops ids outside [0, E) only)" if policy == "drop" else ""),
        )
