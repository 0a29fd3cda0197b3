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
    [finding.patch]                        # bug entries: the suite's verified fix (regressions.fixes)
    [[finding.where]]                      # one or more sites (alternatives)
    function = "moe_sorting_oneshot_kernel"
    line = "val = ps_tid_valid.select(_lds_load_raw(cumdup_mr, tid + c_one_i32), c_zero_i32)"
    via = []                               # source lines that must follow in the call chain, outward
    at = 448                               # the line number at the commit in [meta] (informational)

``host-exception`` entries name the exception type (``error = "ValueError"``)
and match the traceback's frames in the kernel's source tree.
``wrong-output`` entries name the ``output`` and the difference they cover
(``covers``, a key of :data:`DIFFERENCES`) instead of sites.
A ``host-exception`` entry for an input the kernel refuses may name a
``retry`` (a key of :data:`RETRIES`): the judge then runs the case again with
that input replaced, so its sort is still compared with the golden model.

A site matches a finding when one frame of its call chain (innermost first)
holds ``line`` (whitespace-normalized source text) in ``function`` of a file
ending in ``file``, and the ``via`` lines appear, in order, further out.
Matching on source text, not line numbers, keeps an entry valid when lines
are inserted above it.
"""
from __future__ import annotations

import dataclasses
import io
import tokenize
from pathlib import Path
from typing import Callable, Optional

import tomllib

from kernels.emu.findings import CHECKS

KNOWN_FINDINGS_FILE = Path(__file__).resolve().parent / "known_findings.toml"
STATUSES = ("bug", "benign", "limitation")
HOST_EXCEPTION = "host-exception"
WRONG_OUTPUT = "wrong-output"
KINDS = tuple(CHECKS) + (HOST_EXCEPTION, WRONG_OUTPUT)


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


#: Named differences a ``wrong-output`` entry may cover: (mismatch, result) -> covered.
DIFFERENCES: dict[str, Callable] = {
    "moe_buf-tail-below-16-bytes": _moe_buf_tail,
    "sorted_ids-token-past-m": _token_past_m,
    "topk_ids-invalid-in-degenerate-row": _degenerate_row_ids,
    "sorted_ids-degenerate-row-pairs": _degenerate_row_pairs,
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


@dataclasses.dataclass(frozen=True)
class Site:
    line: str
    function: str = ""
    via: tuple = ()
    at: Optional[int] = None

    def matches(self, frames, file_suffix: str) -> bool:
        for i, f in enumerate(frames):
            if normalize(f.text) != self.line or (self.function and f.function != self.function):
                continue
            if file_suffix and not f.file.replace("\\", "/").endswith(file_suffix):
                continue
            k = 0
            for outer in frames[i + 1:]:
                if k < len(self.via) and normalize(outer.text) == self.via[k]:
                    k += 1
            if k == len(self.via):
                return True
        return False


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
    patch: Optional[dict] = dataclasses.field(default=None, compare=False, hash=False)  # regressions.fixes reads it

    def matches(self, finding, backend: str) -> bool:
        """Does this entry cover ``finding`` (a ``kernels.emu.Finding``) seen on ``backend``?"""
        if backend not in self.backends or self.check == WRONG_OUTPUT or finding.check != self.check:
            return False
        if self.check == HOST_EXCEPTION and finding.error != self.error:
            return False
        return any(site.matches(finding.frames, self.file) for site in self.where)

    def covers_mismatch(self, mismatch, result, backend: str) -> bool:
        """Does this ``wrong-output`` entry cover ``mismatch`` of ``result`` on ``backend``?"""
        return (self.check == WRONG_OUTPUT and backend in self.backends and mismatch.output == self.output
                and DIFFERENCES[self.covers](mismatch, result))


@dataclasses.dataclass(frozen=True)
class KnownFindings:
    entries: tuple
    meta: dict
    path: Optional[Path] = None

    def by_id(self, ident: str) -> KnownFinding:
        for e in self.entries:
            if e.id == ident:
                return e
        raise KeyError(f"no known finding {ident!r} in {self.path}")

    def match(self, finding, backend: str) -> Optional[KnownFinding]:
        return next((e for e in self.entries if e.matches(finding, backend)), None)

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


def _entry(raw: dict, index: int, path) -> KnownFinding:
    where = f"{path}: finding #{index + 1}"
    ident = _field(raw, "id", str, where)
    where = f"{path}: finding {ident!r}"
    known = {"id", "title", "status", "backends", "check", "file", "where", "error", "output", "covers",
             "fixture", "why", "fix", "notes", "retry", "trigger", "patch"}
    extra = sorted(set(raw) - known)
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
    sites = []
    for j, s in enumerate(_field(raw, "where", list, where, required=check != WRONG_OUTPUT, default=[])):
        sw = f"{where}: where #{j + 1}"
        if not isinstance(s, dict):
            raise KnownFindingsError(f"{sw}: is not a table")
        extra = sorted(set(s) - {"line", "function", "via", "at"})
        if extra:
            raise KnownFindingsError(f"{sw}: unknown field(s) {extra}")
        via = _field(s, "via", list, sw, required=False, default=[])
        sites.append(Site(line=normalize(_field(s, "line", str, sw)), function=_field(s, "function", str, sw,
                          required=False, default=""), via=tuple(normalize(v) for v in via),
                          at=_field(s, "at", int, sw, required=False)))
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
