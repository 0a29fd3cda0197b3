"""Known findings: the one list of faults the suite already knows in kernels it checks.

The list is ``regressions/known_findings.toml``, one ``[[finding]]`` table per
finding::

    [[finding]]
    id = "oneshot-cumdup-past-end"        # stable name, used in summaries and reports
    title = "..."                          # one line
    status = "bug"                         # bug | benign | limitation
    backends = ["flydsl-upstream-sanitized"]
    check = "lds-out-of-bounds"            # an interpreter check (kernels.emu.findings.CHECKS),
                                           # "host-exception" or "wrong-output"
    file = "kernels/moe/moe_sorting_kernel.py"   # path suffix of the kernel file
    fixture = "E8-k2-T1-u32-oob-cumdup-1ba6635fd820c82c"   # fixture that shows it
    why = "..."                            # what it means on hardware
    fix = "..."                            # the suggested fix
    trigger = "..."                        # optional: what a router must send to trigger it
                                           # (findings that only invalid expert ids show)
    introduced_at = { commit = "3790e1f8", subject = "..." }   # optional: the first FlyDSL commit
                                           # that shows it (``fuzz bisect`` with its fixture)
    evidence = "reported"                  # race checks only (RACE_CHECKS), required there:
                                           # "witnessed" or "reported" (below)
    witness = { schedule = "...", outputs = ["sorted_ids"] }   # "witnessed" entries only
    hardware = "..."                       # what would have to happen on hardware for wrong
                                           # outputs; required for a "bug" that is "reported"
    [finding.patch]                        # bug entries: the suite's verified fix (regressions.fixes)
    [[finding.where]]                      # one or more sites (alternatives)
    function = "moe_sorting_oneshot_kernel"
    line = "val = ps_tid_valid.select(_lds_load_raw(cumdup_mr, tid + c_one_i32), c_zero_i32)"
    via = []                               # source lines that must follow in the call chain, outward
    chain = ["_lds_load_raw", "moe_sorting_oneshot_kernel"]   # functions of the finding's call chain,
                                           # innermost first (optional: enables the second match below)
    at = 448                               # the line number at the commit in [meta] (informational)

Race entries (``check`` in :data:`RACE_CHECKS`) state their **evidence**:
``"witnessed"`` -- a schedule of the interpreter produced wrong outputs; its
``witness`` table names the schedule (the string that replays it) and the
outputs that differed -- or ``"reported"`` -- the race detector's shadows saw
the conflicting accesses, and no schedule has shown wrong outputs.  A ``bug``
entry whose evidence is ``"reported"`` says in ``hardware`` what the waves or
workgroups would have to do on a GPU for its outputs to go wrong.  Other checks
take none of the three fields.

``host-exception`` entries name the exception type (``error = "ValueError"``)
and match the traceback's frames in the kernel's source tree.
``wrong-output`` entries name the ``output`` and the difference they cover
(``covers``, a key of :data:`DIFFERENCES`) instead of sites.
A ``host-exception`` entry for an input the kernel refuses may name a
``retry`` (a key of :data:`RETRIES`): the judge then runs the case again with
that input replaced, so its sort is still compared with the golden model.

Identity of a finding (:meth:`KnownFinding.match_kind`), as crash
deduplication identifies a crash by its top frames rather than its line
numbers -- two matches, tried in this order:

1. **exact** (``"exact"``): the finding's check (and ``error``) is the
   entry's, and one frame of its call chain (innermost first) holds ``line``
   (whitespace-normalized source text, trailing comment dropped) in
   ``function`` of a file ending in ``file`` (or of that file name: a file
   moved within the tree is the same file), with the ``via`` lines
   appearing, in order, further out.  Source text, not line numbers, keeps
   an entry valid when lines are inserted above it.
2. **line text changed** (``"line text changed"``): for a site that records
   ``function`` and ``chain``, the check (and ``error``) is the entry's, the
   functions of the finding's frames, innermost first, are exactly
   ``chain``, the frame in ``function`` lies in a file ending in ``file`` --
   and the site's ``line`` no longer occurs in that function of the
   finding's source file.  A clean-up that renames variables on the line
   keeps the finding known; the judge reports it as "known (line text
   changed)" with the entry's text and the finding's.

Where this merges and where it splits (``tests/test_known_findings.py``):

* merged: the same fault on a renamed line (same function, same helper
  calls around it); a finding whose line was edited beyond renaming but
  still sits in the same function under the same calls (the text is
  reported, so a reader sees the difference);
* split: another check (an out-of-bounds load and a race on one line are two
  findings); another call chain (``_lds_load_raw`` vs ``_lds_store_raw``
  inside one kernel, or the same helper reached from another kernel);
  another line of the same function while the entry's line is still there
  (the second match needs the recorded line to be gone), so a new fault next
  to a known one is never hidden by it;
* not told apart: after the entry's line is gone, a new finding with the
  same check and the same chain functions in that function is taken for
  the entry (reported with both texts).

An entry that no longer applies to a checkout (:func:`absence`): when its
``file`` is missing under the checkout, or no site's ``function`` still
holds its ``line`` (a site without ``function``: the file no longer holds the
line), the entry is **absent in this revision** -- listed, never a failure.
An entry whose code is present but that no longer reproduces is **stale
(fixed?)**, a failure of the test that guards the list.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import tokenize
import tomllib
from pathlib import Path
from typing import Callable, Optional

from kernels.emu.findings import CHECKS, function_lines

KNOWN_FINDINGS_FILE = Path(__file__).resolve().parent / "known_findings.toml"
STATUSES = ("bug", "benign", "limitation")
HOST_EXCEPTION = "host-exception"
WRONG_OUTPUT = "wrong-output"
KINDS = tuple(CHECKS) + (HOST_EXCEPTION, WRONG_OUTPUT)
EXACT = "exact"
#: Checks whose finding is a race between waves or workgroups: their entries state their evidence.
RACE_CHECKS = ("lds-race", "global-race", "wave-race", "schedule-dependence")
WITNESSED = "witnessed"
REPORTED = "reported"
EVIDENCE = (WITNESSED, REPORTED)
LINE_TEXT_CHANGED = "line text changed"


def _moe_buf_tail(mismatch, result) -> bool:
    """moe_buf's non-zero bytes all lie in its last ``nbytes % 16`` bytes (the part
    below one 16-byte store)."""
    residue = getattr(result, "moe_buf_residue", None)
    if not residue:
        return False
    tail = residue["nbytes"] % 16
    return tail > 0 and residue["first"] >= residue["nbytes"] - tail


def _token_past_m(mismatch, result) -> bool:
    """An ``index_bounds`` mismatch of ``sorted_ids`` (``oracle.check_robustness``) whose
    pair names a token at or past M (the kernel's own ``num_valid_ids[1]``)."""
    return (mismatch.kind == "index_bounds" and mismatch.output == "sorted_ids" and mismatch.token is not None
            and mismatch.token >= int(result.num_valid_ids[1]))


def _degenerate_row_ids(mismatch, result) -> bool:
    """A gating problem (``kernels.backends.flydsl_upstream_gating.GatingProblem``) saying a
    degenerate row's ids are not distinct experts in ``[0, E)``."""
    return getattr(mismatch, "kind", None) == "degenerate-row-invalid-ids"


def _degenerate_row_pairs(mismatch, result) -> bool:
    """A fused-entry problem (``kernels.backends.flydsl_upstream_fused.FusedProblem``) saying a
    degenerate row's token is not sorted as ``topk`` pairs with distinct experts in ``[0, E)``."""
    return getattr(mismatch, "kind", None) == "degenerate-row-pairs"


#: Tokens one block of FlyDSL's gating layout holds at its narrowest production layout
#: (E = 512: 32 threads per token, 2 tokens per 64-lane wave, 4 waves of a 256-thread block).
NARROWEST_GATING_BLOCK_TOKENS = 8


def _token_past_gating_block(mismatch, result) -> bool:
    """A fused-entry problem saying a token has no pair in the sort, for a token past the
    first :data:`NARROWEST_GATING_BLOCK_TOKENS` (those one gating block holds), in a result
    of the fused oneshot kernel (the launch that runs the gating body in one block)."""
    from kernels.backends.flydsl_upstream_fused import TOKEN_WITHOUT_PAIRS
    from kernels.backends.flydsl_upstream_router import FUSED_KERNEL

    return (getattr(mismatch, "kind", None) == TOKEN_WITHOUT_PAIRS and mismatch.token is not None
            and mismatch.token >= NARROWEST_GATING_BLOCK_TOKENS
            and FUSED_KERNEL in (getattr(result, "path", None) or ""))


#: Named differences a ``wrong-output`` entry may cover: (mismatch, result) -> covered.
DIFFERENCES: dict[str, Callable] = {
    "moe_buf-tail-below-16-bytes": _moe_buf_tail,
    "sorted_ids-token-past-m": _token_past_m,
    "topk_ids-invalid-in-degenerate-row": _degenerate_row_ids,
    "sorted_ids-degenerate-row-pairs": _degenerate_row_pairs,
    "sorted_ids-token-past-first-gating-block": _token_past_gating_block,
}


#: Named input substitutions a ``host-exception`` entry may ask for (``retry``):
#: run keyword arguments -> the arguments of a launch the kernel accepts.
RETRIES: dict[str, Callable] = {
    "default-moe-buf": lambda run_kwargs: dict(run_kwargs, moe_buf=None),
}


class KnownFindingsError(ValueError):
    """A malformed known-findings file; the message names the entry and the field."""


def normalize(text: str) -> str:
    """Source text as entries match it: a trailing comment dropped, whitespace collapsed."""
    text = text or ""
    comment = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                comment = tok.start[1]
                break
    except (tokenize.TokenError, SyntaxError):
        pass                     # one line of a longer statement: comments seen so far count
    if comment is not None:
        text = text[:comment]
    return " ".join(text.split())


def _in_file(path: str, file_suffix: str) -> bool:
    """Is ``path`` the entry's file: its path ends with ``file_suffix``, or it has the same
    file name (the file moved within the tree, as FlyDSL's kernels did into subpackages)?"""
    path = path.replace("\\", "/")
    return not file_suffix or path.endswith(file_suffix) or Path(path).name == Path(file_suffix).name


@functools.lru_cache(maxsize=4096)
def _normalized_lines(path: str, function: str, stamp) -> frozenset:
    return frozenset(normalize(text) for text in function_lines(path, function))


def function_holds(path: str, function: str, line: str) -> bool:
    """Does a ``def function`` of ``path`` hold the (normalized) source ``line``?"""
    try:
        stamp = Path(path).stat().st_mtime_ns
    except OSError:
        return False
    return line in _normalized_lines(path, function, stamp)


@dataclasses.dataclass(frozen=True)
class Site:
    line: str
    function: str = ""
    via: tuple = ()
    at: Optional[int] = None
    chain: tuple = ()           # functions of the finding's frames, innermost first

    def match_kind(self, frames, file_suffix: str) -> Optional[str]:
        """:data:`EXACT`, :data:`LINE_TEXT_CHANGED` or None (the module docstring's rule)."""
        for i, f in enumerate(frames):
            if normalize(f.text) != self.line or (self.function and f.function != self.function):
                continue
            if not _in_file(f.file, file_suffix):
                continue
            k = 0
            for outer in frames[i + 1:]:
                if k < len(self.via) and normalize(outer.text) == self.via[k]:
                    k += 1
            if k == len(self.via):
                return EXACT
        if not (self.function and self.chain) or tuple(f.function for f in frames) != self.chain:
            return None
        frame = self.frame_of(frames, file_suffix)
        if frame is not None and not function_holds(frame.file, self.function, self.line):
            return LINE_TEXT_CHANGED
        return None

    def frame_of(self, frames, file_suffix: str):
        """The frame of ``frames`` in this site's function and file (None: none)."""
        return next((f for f in frames if f.function == self.function and _in_file(f.file, file_suffix)), None)

    def matches(self, frames, file_suffix: str) -> bool:
        return self.match_kind(frames, file_suffix) is not None


@dataclasses.dataclass(frozen=True)
class KnownFinding:
    id: str
    title: str
    status: str
    backends: tuple
    check: str
    file: str = ""
    where: tuple = ()
    error: str = ""
    output: str = ""
    covers: str = ""
    fixture: str = ""
    why: str = ""
    fix: str = ""
    notes: str = ""
    retry: str = ""
    trigger: str = ""
    introduced_at: tuple = ()            # (commit, subject) of the first FlyDSL commit showing it, when known
    evidence: str = ""                   # race checks: WITNESSED or REPORTED; "" for the others
    witness: tuple = ()                  # WITNESSED: (schedule, outputs that differed)
    hardware: str = ""                   # what would have to happen on hardware for wrong outputs
    patch: Optional[dict] = dataclasses.field(default=None, compare=False, hash=False)  # regressions.fixes reads it

    def match_site(self, finding, backend: str) -> Optional[tuple]:
        """``(kind, site)`` of the first site that covers ``finding`` (a ``kernels.emu.Finding``)
        seen on ``backend`` -- an exact match preferred over a changed line text
        (the module docstring's rule) -- or None."""
        if backend not in self.backends or self.check == WRONG_OUTPUT or finding.check != self.check:
            return None
        if self.check == HOST_EXCEPTION and finding.error != self.error:
            return None
        kinds = [(site.match_kind(finding.frames, self.file), site) for site in self.where]
        return next(((k, s) for want in (EXACT, LINE_TEXT_CHANGED) for k, s in kinds if k == want), None)

    def matches(self, finding, backend: str) -> bool:
        """Does this entry cover ``finding`` (a ``kernels.emu.Finding``) seen on ``backend``?"""
        return self.match_site(finding, backend) is not None

    def covers_mismatch(self, mismatch, result, backend: str) -> bool:
        """Does this ``wrong-output`` entry cover ``mismatch`` of ``result`` on ``backend``?"""
        return (self.check == WRONG_OUTPUT and backend in self.backends and mismatch.output == self.output
                and DIFFERENCES[self.covers](mismatch, result))


@dataclasses.dataclass(frozen=True)
class Match:
    """How a finding matched an entry: ``kind`` :data:`EXACT` or :data:`LINE_TEXT_CHANGED`,
    with the entry's recorded line text and the finding's."""

    entry: KnownFinding
    kind: str
    entry_text: str
    finding_text: str

    def describe(self) -> str:
        if self.kind == EXACT:
            return f"known: {self.entry.id}"
        return (f"known (line text changed): {self.entry.id}, entry `{self.entry_text}`, "
                f"now `{self.finding_text}`")


def _under(root: Path, suffix: str) -> Optional[Path]:
    """The file under ``root`` whose path ends with ``suffix`` (``root`` may lie inside the
    tree the suffix starts at: a backend's sources directory); else the one file under
    ``root`` of that file name (the file moved, as :func:`_in_file` allows); or None."""
    for base in (root, *root.parents):
        path = base / suffix
        if path.is_file() and path.resolve().is_relative_to(root):
            return path
    moved = sorted(root.rglob(Path(suffix).name)) if root.is_dir() else []
    return moved[0] if len(moved) == 1 else None


def absence(entry: KnownFinding, roots) -> Optional[str]:
    """Why ``entry`` is absent from the checkout under one of ``roots`` (directories a
    backend's sources live in), or None when its code is present -- or cannot be
    told (no ``file``, no sites, no root): the module docstring's rule."""
    if not entry.file or not entry.where:
        return None
    roots = [Path(r).resolve() for r in roots if r]
    if not roots:
        return None
    path = next((p for p in (_under(r, entry.file) for r in roots) if p is not None), None)
    if path is None:
        return f"{entry.file} does not exist in the checkout"
    for site in entry.where:
        if site.function and function_holds(str(path), site.function, site.line):
            return None
        if not site.function and site.line in {normalize(t) for t in path.read_text().splitlines()}:
            return None
    missing = sorted({s.function for s in entry.where if s.function and not function_lines(str(path), s.function)})
    gone = f"function(s) {', '.join(missing)} no longer exist" if missing else "its lines no longer exist"
    return f"absent in this revision: {gone} in {entry.file}"


@dataclasses.dataclass(frozen=True)
class KnownFindings:
    entries: tuple
    meta: dict
    path: Optional[Path] = None

    def without(self, ids) -> "KnownFindings":
        """This list less the entries named in ``ids`` (a checkout that carries their fixes
        must not show them: a finding of theirs is then new)."""
        ids = set(ids)
        return dataclasses.replace(self, entries=tuple(e for e in self.entries if e.id not in ids))

    def by_id(self, ident: str) -> KnownFinding:
        for e in self.entries:
            if e.id == ident:
                return e
        raise KeyError(f"no known finding {ident!r} in {self.path}")

    def match(self, finding, backend: str) -> Optional[KnownFinding]:
        found = self.match_detail(finding, backend)
        return None if found is None else found.entry

    def match_detail(self, finding, backend: str) -> Optional["Match"]:
        """The entry that covers ``finding`` and how: an exact match of any entry is
        preferred over a changed-line-text one; None when no entry covers it."""
        best = None
        for e in self.entries:
            found = e.match_site(finding, backend)
            if found is None:
                continue
            kind, site = found
            frame = site.frame_of(finding.frames, e.file)
            match = Match(e, kind, site.line, normalize(frame.text) if frame is not None else "")
            if kind == EXACT:
                return match
            best = best or match
        return best

    def match_mismatch(self, mismatch, result, backend: str) -> Optional[KnownFinding]:
        return next((e for e in self.entries if e.covers_mismatch(mismatch, result, backend)), None)


def _field(raw: dict, key: str, types, where: str, required=True, default=None):
    if key not in raw:
        if required:
            raise KnownFindingsError(f"{where}: {key} is missing")
        return default
    value = raw[key]
    if not isinstance(value, types):
        raise KnownFindingsError(f"{where}: {key} = {value!r} is not {types}")
    return value


def _commit(raw: dict, key: str, where: str) -> tuple:
    """``(commit, subject)`` of an optional ``{ commit = "...", subject = "..." }`` table; () when absent."""
    value = _field(raw, key, dict, where, required=False, default=None)
    if value is None:
        return ()
    if sorted(value) != ["commit", "subject"] or not all(isinstance(v, str) and v for v in value.values()):
        raise KnownFindingsError(f"{where}: {key} = {value!r} must be {{ commit = \"<hash>\", subject = \"...\" }}")
    return value["commit"], value["subject"]


def _witness(raw: dict, where: str) -> tuple:
    """``(schedule, outputs)`` of a ``witness = { schedule = "...", outputs = [...] }`` table; () when absent."""
    value = _field(raw, "witness", dict, where, required=False, default=None)
    if value is None:
        return ()
    schedule, outputs = value.get("schedule"), value.get("outputs")
    if (sorted(value) != ["outputs", "schedule"] or not isinstance(schedule, str) or not schedule
            or not isinstance(outputs, list) or not outputs or not all(isinstance(o, str) and o for o in outputs)):
        raise KnownFindingsError(f"{where}: witness = {value!r} must be {{ schedule = \"<the schedule that "
                                 f"replays it>\", outputs = [\"<output that differed>\", ...] }}")
    return schedule, tuple(outputs)


def _evidence(raw: dict, check: str, status: str, where: str) -> tuple:
    """``(evidence, witness, hardware)`` of an entry, checked against its ``check`` and ``status``
    (the module docstring's rule)."""
    evidence = _field(raw, "evidence", str, where, required=check in RACE_CHECKS, default="")
    witness = _witness(raw, where)
    hardware = _field(raw, "hardware", str, where, required=False, default="")
    if check not in RACE_CHECKS:
        given = sorted(k for k in ("evidence", "witness", "hardware") if k in raw)
        if given:
            raise KnownFindingsError(f"{where}: {', '.join(given)} only for race checks {RACE_CHECKS}, "
                                     f"not check = {check!r}")
        return "", (), ""
    if evidence not in EVIDENCE:
        raise KnownFindingsError(f"{where}: evidence = {evidence!r}, expected one of {EVIDENCE}")
    if evidence == WITNESSED and not witness:
        raise KnownFindingsError(f"{where}: evidence = {WITNESSED!r} needs witness = {{ schedule = \"...\", "
                                 f"outputs = [...] }}")
    if evidence == REPORTED and witness:
        raise KnownFindingsError(f"{where}: witness given with evidence = {REPORTED!r} (a witness is "
                                 f"evidence = {WITNESSED!r})")
    if status == "bug" and evidence == REPORTED and not hardware.strip():
        raise KnownFindingsError(f"{where}: status = 'bug' with evidence = {REPORTED!r} needs hardware = "
                                 f"\"what would have to happen on hardware for wrong outputs\"")
    return evidence, witness, hardware


def _entry(raw: dict, index: int, path) -> KnownFinding:
    where = f"{path}: finding #{index + 1}"
    ident = _field(raw, "id", str, where)
    where = f"{path}: finding {ident!r}"
    fields = {"id", "title", "status", "backends", "check", "file", "where", "error", "output", "covers",
             "fixture", "why", "fix", "notes", "retry", "trigger", "introduced_at", "patch", "evidence", "witness",
             "hardware"}
    extra = sorted(set(raw) - fields)
    if extra:
        raise KnownFindingsError(f"{where}: unknown field(s) {extra}")
    status = _field(raw, "status", str, where)
    if status not in STATUSES:
        raise KnownFindingsError(f"{where}: status = {status!r}, expected one of {STATUSES}")
    check = _field(raw, "check", str, where)
    if check not in KINDS:
        raise KnownFindingsError(f"{where}: check = {check!r}, expected one of {KINDS}")
    backends = _field(raw, "backends", list, where)
    if not backends or not all(isinstance(b, str) for b in backends):
        raise KnownFindingsError(f"{where}: backends must be a non-empty list of backend names")
    evidence, witness, hardware = _evidence(raw, check, status, where)
    sites = []
    for j, s in enumerate(_field(raw, "where", list, where, required=check != WRONG_OUTPUT, default=[])):
        sw = f"{where}: where #{j + 1}"
        if not isinstance(s, dict):
            raise KnownFindingsError(f"{sw}: is not a table")
        extra = sorted(set(s) - {"line", "function", "via", "at", "chain"})
        if extra:
            raise KnownFindingsError(f"{sw}: unknown field(s) {extra}")
        via = _field(s, "via", list, sw, required=False, default=[])
        chain = _field(s, "chain", list, sw, required=False, default=[])
        if not all(isinstance(c, str) and c for c in chain):
            raise KnownFindingsError(f"{sw}: chain = {chain!r} must list function names")
        function = _field(s, "function", str, sw, required=False, default="")
        if chain and function not in chain:
            raise KnownFindingsError(f"{sw}: chain = {chain!r} does not hold function = {function!r}")
        sites.append(Site(line=normalize(_field(s, "line", str, sw)), function=function,
                          via=tuple(normalize(v) for v in via), at=_field(s, "at", int, sw, required=False),
                          chain=tuple(chain)))
    entry = KnownFinding(
        id=ident, title=_field(raw, "title", str, where), status=status, backends=tuple(backends), check=check,
        file=_field(raw, "file", str, where, required=False, default=""), where=tuple(sites),
        error=_field(raw, "error", str, where, required=check == HOST_EXCEPTION, default=""),
        output=_field(raw, "output", str, where, required=check == WRONG_OUTPUT, default=""),
        covers=_field(raw, "covers", str, where, required=check == WRONG_OUTPUT, default=""),
        fixture=_field(raw, "fixture", str, where, required=False, default=""),
        why=_field(raw, "why", str, where), fix=_field(raw, "fix", str, where),
        notes=_field(raw, "notes", str, where, required=False, default=""),
        retry=_field(raw, "retry", str, where, required=False, default=""),
        trigger=_field(raw, "trigger", str, where, required=False, default=""),
        introduced_at=_commit(raw, "introduced_at", where), evidence=evidence, witness=witness, hardware=hardware,
        patch=_field(raw, "patch", dict, where, required=False))
    if entry.retry and (check != HOST_EXCEPTION or entry.retry not in RETRIES):
        raise KnownFindingsError(f"{where}: retry = {entry.retry!r} needs check = {HOST_EXCEPTION!r} and one of "
                                 f"{sorted(RETRIES)}")
    if check == WRONG_OUTPUT and entry.covers not in DIFFERENCES:
        raise KnownFindingsError(f"{where}: covers = {entry.covers!r}, expected one of {sorted(DIFFERENCES)}")
    if check != WRONG_OUTPUT and not sites:
        raise KnownFindingsError(f"{where}: where needs at least one site")
    return entry


def parse(text: str, path="<string>") -> KnownFindings:
    """Read known findings from TOML ``text``; :class:`KnownFindingsError` on any defect."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KnownFindingsError(f"{path}: not valid TOML ({exc})") from None
    raws = data.get("finding", [])
    if not isinstance(raws, list):
        raise KnownFindingsError(f"{path}: finding must be an array of tables ([[finding]])")
    entries = tuple(_entry(raw, i, path) for i, raw in enumerate(raws))
    seen = set()
    for e in entries:
        if e.id in seen:
            raise KnownFindingsError(f"{path}: finding {e.id!r} appears twice")
        seen.add(e.id)
    return KnownFindings(entries, dict(data.get("meta", {})), Path(path) if path != "<string>" else None)


def load(path=KNOWN_FINDINGS_FILE) -> KnownFindings:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise KnownFindingsError(f"{path}: unreadable ({exc})") from None
    return parse(text, path)


_CACHE: dict = {}


def cached(path=None) -> KnownFindings:
    """The list in ``path`` (default: the committed one), parsed once per process and
    file version."""
    path = Path(path or KNOWN_FINDINGS_FILE).resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise KnownFindingsError(f"{path}: unreadable ({exc})") from None
    hit = _CACHE.get(path)
    if hit is None or hit[0] != stamp:
        hit = _CACHE[path] = (stamp, load(path))
    return hit[1]


def default() -> KnownFindings:
    """The committed list (``regressions/known_findings.toml``)."""
    return cached()
