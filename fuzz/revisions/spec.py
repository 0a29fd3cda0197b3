"""What a revision argument of ``fuzz revisions`` says.

``REV`` is anything the repository resolves to a commit (a hash, branch,
tag, ``origin/...`` ref, a pull-request ref ``refs/pull/N/head``, or ``#N``:
see :func:`fuzz.revisions.git.resolve`).  ``REV+fixes`` asks for every
verified fix of the known findings to be applied to the revision's worktree
first; ``REV+<entry-id>[+<entry-id>...]`` for the fixes of those entries
only (``regressions.fixes.apply_fixes``).  The revision is the text before
the first ``+``.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Optional

from ..errors import UsageError

#: The suffix asking for every fix.
ALL_FIXES = "fixes"
_ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class RevisionSpec:
    """One revision argument: the revision and the fixes asked for.

    ``fixes`` is False when none is asked for; then ``fix_ids`` is None.  With
    fixes, ``fix_ids`` is None for every fix (``REV+fixes``) or the entry ids named."""

    text: str
    rev: str
    fixes: bool = False
    fix_ids: Optional[tuple] = None


def parse_revision(text: str) -> RevisionSpec:
    """Parse ``text``; :class:`~fuzz.errors.UsageError` naming the value when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"revision {text!r}: empty")
    rev, *extras = text.strip().split("+")
    if not rev:
        raise UsageError(f"revision {text!r}: nothing before '+' (expected REV, REV+fixes or REV+<entry-id>)")
    if not extras:
        return RevisionSpec(text, rev)
    bad = [e for e in extras if not _ENTRY_ID.match(e)]
    if bad:
        raise UsageError(f"revision {text!r}: {bad[0]!r} after '+' is neither 'fixes' nor a known-finding id")
    if ALL_FIXES in extras:
        if len(extras) > 1:
            raise UsageError(f"revision {text!r}: '+fixes' already applies every fix; name ids or 'fixes', not both")
        return RevisionSpec(text, rev, True, None)
    return RevisionSpec(text, rev, True, tuple(extras))
