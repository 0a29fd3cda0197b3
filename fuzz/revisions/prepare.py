"""A revision's tree, ready for the gate: a worktree of the commit, fixes applied, a successor module.

:func:`prepared` makes a detached worktree of the revision in a scratch
folder, applies the fixes the revision argument asks for
(``regressions.fixes.apply_fixes(worktree_root, ids)``; ids None: every
fix), and writes beside it the newer ``buffer_ops`` an old revision needs
under flydsl 0.5.0 (``kernels/common/buffer_ops.py`` at ``successor``, by
default the repository's HEAD).  :func:`pack` / :func:`unpack` carry the
parts of the tree the gate reads (``kernels/``, ``python/flydsl/expr/``)
and the successor file to another machine as one tar archive.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import tarfile
from pathlib import Path
from typing import Optional

from . import git
from .spec import RevisionSpec

#: FlyDSL's successor of the old ``flydsl.expr.buffer_ops``, in newer checkouts.
SUCCESSOR_PATH = "kernels/common/buffer_ops.py"
#: Where :func:`prepared` puts the successor file (beside the tree, not in it).
SUCCESSOR_NAME = "successor-buffer_ops.py"
#: The parts of a FlyDSL tree the gate reads.
GATE_PARTS = ("kernels", "python/flydsl/expr")


@dataclasses.dataclass
class Prepared:
    """A revision ready for (or refused by) the gate."""

    spec: RevisionSpec
    commit: git.Commit
    tree: Optional[Path]                 # None: not made (see why_not)
    successor: Optional[Path] = None     # the successor buffer_ops file, when the successor has one
    fixes: list = dataclasses.field(default_factory=list)   # what apply_fixes reported applied
    why_not: str = ""                    # why the gate cannot run on it (one line)


def apply_requested_fixes(tree: Path, spec: RevisionSpec) -> tuple[list, str]:
    """``(applied, why not)`` for the fixes ``spec`` asks for, applied to ``tree`` by
    ``regressions.fixes.apply_fixes``; ``why not`` is empty when they applied (or none was asked for)."""
    if not spec.fixes:
        return [], ""
    try:
        from regressions.fixes import apply_fixes
    except ImportError as exc:
        return [], f"fixes unavailable: regressions.fixes does not import ({exc})"
    try:
        return list(apply_fixes(tree, list(spec.fix_ids) if spec.fix_ids is not None else None)), ""
    except Exception as exc:  # noqa: BLE001 - any refusal of the fixes is the row's answer
        return [], " ".join(f"fixes did not apply: {type(exc).__name__}: {exc}".split())[:240]


@contextlib.contextmanager
def prepared(repo, spec: RevisionSpec, commit: git.Commit, scratch: Path, successor: str = "HEAD"):
    """The :class:`Prepared` tree of ``spec`` (resolved to ``commit``) under ``scratch``; the
    worktree is removed on exit."""
    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    successor_file = None
    text = git.show(repo, successor, SUCCESSOR_PATH)
    if text is not None:
        successor_file = scratch / SUCCESSOR_NAME
        successor_file.write_bytes(text)
    with git.worktree(repo, commit.sha, scratch / "tree") as tree:
        applied, why = apply_requested_fixes(tree, spec)
        yield Prepared(spec, commit, None if why else tree, successor_file, applied, why)


def pack(p: Prepared) -> bytes:
    """A tar archive of the gate's parts of ``p.tree`` (under ``tree/``) and its successor file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for part in GATE_PARTS:
            if (p.tree / part).exists():
                tar.add(p.tree / part, arcname=f"tree/{part}")
        if p.successor is not None:
            tar.add(p.successor, arcname=SUCCESSOR_NAME)
    return buf.getvalue()


def unpack(archive: bytes, into: Path) -> tuple[Path, Optional[Path]]:
    """Unpack a :func:`pack` archive into ``into``; ``(tree, successor file or None)``."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(into, filter="data")
    successor = Path(into) / SUCCESSOR_NAME
    return Path(into) / "tree", successor if successor.is_file() else None
