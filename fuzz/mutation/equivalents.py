"""The reviewed equivalent mutants: why each survives, and what that verdict assumes.

``equivalent.json`` (the suite's own kernels) and ``equivalent-upstream.json``
(FlyDSL's kernel) map a mutant id to an entry::

    {"reason": "why no case the checks run can tell it from the original",
     "assumes": {"code": "...", "contract": "...", "cases": "...",
                 "invalid_ids": "reject", "hardware_only": "..."}}

``assumes`` names what the reason rests on, at least one of:

``code``           a fact of the kernel's (or its host code's) own text;
``contract``       a clause of ``oracle/CONTRACT.md``;
``cases``          a property of the cases the checks run (:mod:`fuzz.mutation.suite_cases`,
                   the Hypothesis strategies, the upstream screen);
``invalid_ids``    the policies for invalid expert ids the verdict holds under;
``hardware_only``  what differs on a GPU that the interpreter does not model (descriptor
                   fields, dropped out-of-range offsets): the mutant is not the same program,
                   only no check here can see the difference.

Every assumption can go stale when the contract, the case generator or the
backend's declared policies change; ``fuzz mutate --recheck-equivalents``
re-runs every listed mutant against today's checks and fails for any they kill.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

OWN_FILE = Path(__file__).with_name("equivalent.json")                    # the suite's own kernels
UPSTREAM_FILE = Path(__file__).with_name("equivalent-upstream.json")      # FlyDSL's moe_sorting kernel
ASSUMPTION_KINDS = ("code", "contract", "cases", "invalid_ids", "hardware_only")
#: The smallest reason a reviewer can check: a sentence, not a label.
MIN_REASON_WORDS = 8


@dataclasses.dataclass(frozen=True)
class Equivalent:
    """One reviewed verdict: ``reason`` (a sentence a reviewer can check) and ``assumes``
    ({kind: what it rests on}, kinds of :data:`ASSUMPTION_KINDS`)."""

    reason: str
    assumes: dict

    @property
    def hardware_only(self) -> bool:
        """The mutant differs on hardware, in what the interpreter does not model."""
        return "hardware_only" in self.assumes


def parse(mutant_id: str, entry, where: str) -> Equivalent:
    """The entry of ``mutant_id`` in the list file ``where``; ValueError naming the field at fault."""
    if not isinstance(entry, dict) or set(entry) != {"reason", "assumes"}:
        raise ValueError(f"{where}: {mutant_id}: an entry is {{\"reason\": ..., \"assumes\": {{...}}}}, got {entry!r}")
    reason, assumes = entry["reason"], entry["assumes"]
    if not isinstance(reason, str) or len(reason.split()) < MIN_REASON_WORDS:
        raise ValueError(f"{where}: {mutant_id}: reason={reason!r} must be a sentence of at least "
                         f"{MIN_REASON_WORDS} words")
    if not isinstance(assumes, dict) or not assumes:
        raise ValueError(f"{where}: {mutant_id}: assumes={assumes!r} must name at least one of {ASSUMPTION_KINDS}")
    unknown = sorted(set(assumes) - set(ASSUMPTION_KINDS))
    if unknown:
        raise ValueError(f"{where}: {mutant_id}: assumes has {unknown}; kinds are {ASSUMPTION_KINDS}")
    empty = sorted(k for k, v in assumes.items() if not isinstance(v, str) or not v.strip())
    if empty:
        raise ValueError(f"{where}: {mutant_id}: assumes {empty} must say, in words, what is assumed")
    return Equivalent(reason, dict(assumes))


def load(*files: Path) -> dict[str, Equivalent]:
    """Mutant id -> its :class:`Equivalent`, from ``files`` (default: both lists)."""
    listed: dict[str, Equivalent] = {}
    for f in files or (OWN_FILE, UPSTREAM_FILE):
        if f.exists():
            for mutant_id, entry in json.loads(f.read_text()).items():
                listed[mutant_id] = parse(mutant_id, entry, f.name)
    return listed
