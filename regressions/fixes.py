"""Verified fixes: the suite's own minimal edit for each known bug, applied to a FlyDSL checkout.

Every ``status = "bug"`` entry of ``regressions/known_findings.toml`` carries a
``[finding.patch]`` table beside it: line replacements keyed by source text,
never a copy of FlyDSL's file::

    [finding.patch]
    summary = "..."                 # what the edit does, in one or two sentences
    verified_at = "11c4174d"        # FlyDSL commit at which the fixed copy was judged clean
    same_as = "other-entry-id"      # instead of edits: this entry's fix is that entry's
    [[finding.patch.edit]]          # source lines replaced; edits apply in order
    file = "kernels/moe/moe_sorting_kernel.py"   # path relative to the checkout root
    function = "p23_kernel"         # the def whose body holds the lines (its signature and nested defs
                                    # included); omitted: the whole file
    old = "_lds_store_raw(cumsum_mr, local_idx_p23, tid)"   # one line, or several consecutive ones
    count = 1                       # optional: how many places old must match (all are replaced)
    new = '''
    gpu.barrier()
    _lds_store_raw(cumsum_mr, local_idx_p23, tid)'''

An edit finds the one place inside ``function`` (every ``def`` of that name in
``file``; the whole file without ``function``) where consecutive lines have the
whitespace-normalized text of ``old``'s lines, and puts the lines of ``new`` in
their place, each indented by the first old line's indentation plus its own
(an empty ``new`` deletes them).  A number of places other than ``count``
(default 1) is a :class:`FixError` naming the entry, the file, the function
and the text.

:func:`apply_fixes` applies the fixes of the entries asked for, in the list's
order, to a checkout's working tree; every file is rewritten only once all
its edits have matched, so a refused fix leaves the checkout as it was.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Iterable, Optional

from .known_findings import KnownFinding, KnownFindings, default

_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)\s*\(")


class FixError(ValueError):
    """A fix that is malformed or does not match the checkout; the message names the entry and the line."""


@dataclasses.dataclass(frozen=True)
class Edit:
    file: str
    function: str
    old: str
    new: str
    count: int = 1


@dataclasses.dataclass(frozen=True)
class Patch:
    entry: str
    summary: str
    verified_at: str = ""
    same_as: str = ""
    edits: tuple = ()


def _text(raw: dict, key: str, where: str, required: bool = True) -> str:
    value = raw.get(key, "" if not required else None)
    if value is None:
        raise FixError(f"{where}: {key} is missing")
    if not isinstance(value, str):
        raise FixError(f"{where}: {key} = {value!r} is not a string")
    return value


def patch_of(entry: KnownFinding) -> Optional[Patch]:
    """The entry's ``[finding.patch]`` table, checked; None when it has none."""
    raw = entry.patch
    if raw is None:
        return None
    where = f"finding {entry.id!r}: patch"
    extra = sorted(set(raw) - {"summary", "verified_at", "same_as", "edit"})
    if extra:
        raise FixError(f"{where}: unknown field(s) {extra}")
    edits = []
    raws = raw.get("edit", [])
    if not isinstance(raws, list):
        raise FixError(f"{where}: edit = {raws!r} is not an array of tables ([[finding.patch.edit]])")
    for i, e in enumerate(raws):
        ew = f"{where}: edit #{i + 1}"
        if not isinstance(e, dict):
            raise FixError(f"{ew}: is not a table")
        extra = sorted(set(e) - {"file", "function", "old", "new", "count"})
        if extra:
            raise FixError(f"{ew}: unknown field(s) {extra}")
        count = e.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise FixError(f"{ew}: count = {count!r} is not a positive integer")
        edits.append(Edit(_text(e, "file", ew), _text(e, "function", ew, required=False), _text(e, "old", ew),
                          _text(e, "new", ew), count))
    patch = Patch(entry.id, _text(raw, "summary", where), _text(raw, "verified_at", where, required=False),
                  _text(raw, "same_as", where, required=False), tuple(edits))
    if bool(patch.same_as) == bool(patch.edits):
        raise FixError(f"{where}: needs either edits ([[finding.patch.edit]]) or same_as, not "
                       f"{'both' if edits else 'neither'}")
    return patch


def missing_patches(known_list: KnownFindings) -> list[str]:
    """Ids of ``bug`` entries without a fix."""
    return [e.id for e in known_list.entries if e.status == "bug" and e.patch is None]


def _normalized(text: str) -> str:
    return " ".join(text.split())


def _function_spans(lines: list[str], function: str) -> list[range]:
    """Line index ranges of the bodies of every ``def function(`` in ``lines``."""
    spans = []
    for i, line in enumerate(lines):
        m = _DEF.match(line)
        if not m or m.group(2) != function:
            continue
        indent = len(m.group(1))
        end = i + 1
        while end < len(lines):
            text = lines[end]
            if text.strip() and len(text) - len(text.lstrip()) <= indent and not text.lstrip().startswith(")"):
                break
            end += 1
        spans.append(range(i + 1, end))
    return spans


def _apply_edit(lines: list[str], edit: Edit, entry: str) -> list[str]:
    where = f"fix of {entry!r}: {edit.file}, " + (f"function {edit.function}" if edit.function else "whole file")
    if edit.function:
        spans = _function_spans(lines, edit.function)
        if not spans:
            raise FixError(f"{where}: no def {edit.function} in the file")
    else:
        spans = [range(len(lines))]
    want = [_normalized(text) for text in edit.old.strip("\n").split("\n")]
    hits = [i for span in spans for i in span
            if i + len(want) <= span.stop and [_normalized(t) for t in lines[i:i + len(want)]] == want]
    if len(hits) != edit.count or any(b - a < len(want) for a, b in zip(hits, hits[1:])):
        found = "not found" if not hits else f"found {len(hits)} times (lines {[h + 1 for h in hits]})"
        raise FixError(f"{where}: source text {edit.old!r} {found}, expected {edit.count} time(s); the checkout's "
                       f"code no longer matches this fix")
    indent = [lines[i][:len(lines[i]) - len(lines[i].lstrip())] for i in hits]
    new = [text for text in edit.new.strip("\n").split("\n")] if edit.new.strip() else []
    for i, pad in reversed(list(zip(hits, indent))):
        lines = lines[:i] + [pad + text if text.strip() else "" for text in new] + lines[i + len(want):]
    return lines


def _chosen(known_list: KnownFindings, ids: Optional[Iterable[str]]) -> list[KnownFinding]:
    if ids is None:
        return [e for e in known_list.entries if e.status == "bug"]
    chosen = []
    for ident in ids:
        try:
            chosen.append(known_list.by_id(ident))
        except KeyError:
            raise FixError(f"no known finding {ident!r} to take a fix from") from None
    return chosen


def apply_fixes(worktree_root: Path, ids: Optional[list[str]] = None,
                known_list: Optional[KnownFindings] = None) -> list[str]:
    """Apply the fixes of entries ``ids`` (None: every ``bug`` entry) of ``known`` (default:
    the committed list) to the FlyDSL checkout at ``worktree_root``; the ids of the entries
    whose fixes were applied (an entry whose fix is ``same_as`` another's brings that one's
    id too), in the list's order.  :class:`FixError` when an entry has no fix or a fix's
    source text no longer matches; nothing is written then."""
    known_list = known_list or default()
    root = Path(worktree_root)
    wanted: list[str] = []
    for entry in _chosen(known_list, ids):
        patch = patch_of(entry)
        if patch is None:
            raise FixError(f"finding {entry.id!r} has no fix ([finding.patch]) in {known_list.path}")
        wanted.append(entry.id)
        if patch.same_as:
            target = _chosen(known_list, [patch.same_as])[0]
            if patch_of(target) is None or patch_of(target).same_as:
                raise FixError(f"finding {entry.id!r}: patch same_as = {patch.same_as!r} names no entry with edits")
            wanted.append(target.id)
    applied = [e.id for e in known_list.entries if e.id in wanted]
    texts: dict[str, list[str]] = {}
    for ident in applied:
        for edit in patch_of(known_list.by_id(ident)).edits:
            if edit.file not in texts:
                path = root / edit.file
                if not path.is_file():
                    raise FixError(f"fix of {ident!r}: {path} does not exist")
                texts[edit.file] = path.read_text().split("\n")
            texts[edit.file] = _apply_edit(texts[edit.file], edit, ident)
    for file, lines in texts.items():
        (root / file).write_text("\n".join(lines))
    return applied
