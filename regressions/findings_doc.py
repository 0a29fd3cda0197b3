"""FINDINGS.md: the known findings as a document a kernel maintainer can act on.

:func:`render` turns the known-findings list (and, for each entry, the region
its fixture records) into Markdown; ``python -m fuzz findings --write``
writes it to ``FINDINGS.md`` at the repository root, and a test keeps the
committed file equal to the rendering.
"""
from __future__ import annotations

from pathlib import Path

from .fixes import patch_of
from .fixtures import FIXTURE_DIR, FixtureError, load
from .known_findings import HOST_EXCEPTION, WITNESSED, WRONG_OUTPUT, KnownFindings
from .regions import describe

FINDINGS_MD = Path(__file__).resolve().parent.parent / "FINDINGS.md"

_CHECK_WORDS = {
    "global-out-of-bounds": "raw global access outside every tensor (checked with the sanitizer on or off)",
    "lds-out-of-bounds": "LDS access outside its shared allocation",
    "lds-view-out-of-bounds": "memref access at an index past its LDS view's shape",
    "buffer-past-end": "buffer access just past num_records (strict_buffers)",
    "uninitialized-lds": "LDS read before any write",
    "uninitialized-output": "read of an output-only tensor before writing it",
    "lds-race": "two waves touch one LDS word between barriers, one writing",
    "global-race": "two workgroups touch one global byte in one launch, one writing",
    "wave-race": "two waves touch one global byte between barriers, one writing",
    "divergent-barrier": "barrier under divergent control flow",
    "division-by-zero": "integer division by zero",
    "launch-grid-out-of-range": "a launch grid dimension of 0 or past 2**32 - 1 (the runtime refuses or truncates it)",
    "schedule-dependence": "outputs depend on the workgroup schedule",
    HOST_EXCEPTION: "the host code raises",
    WRONG_OUTPUT: "wrong output (golden model)",
}


def _fixture(name: str):
    try:
        return load(FIXTURE_DIR / f"{name}.json")
    except FixtureError:
        return None


def _where(entry, commit: str) -> list[str]:
    if entry.check == WRONG_OUTPUT:
        return [f"- **Output**: `{entry.output}`, difference covered: `{entry.covers}`"]
    lines = ["- **Where**" + (f" (line numbers at {commit})" if commit else "") + ":"]
    for site in entry.where:
        at = f":{site.at}" if site.at else ""
        fn = f", `{site.function}`" if site.function else ""
        lines.append(f"  - `{entry.file}{at}`{fn}: `{site.line}`")
        for v in site.via:
            lines.append(f"    - called from: `{v}`")
    return lines


def _region(fixture) -> list[str]:
    region = (fixture.region or {}) if fixture else {}
    if not region:
        return ["- **Where it triggers**: not mapped yet (`python -m fuzz explain FIXTURE --write`)."]
    out = [f"- **Where it triggers** (`fuzz explain`, on {region.get('backend')}): "
           f"{describe(region.get('axes', {}))}"]
    for axis, values in region.get("axes", {}).items():
        cells = ", ".join(f"{v} ({'/'.join(t for t, hit in hits.items() if hit) or 'no'})"
                          for v, hits in values.items())
        out.append(f"  - {axis}: {cells}")
    return out


def _verified_fix(entry, known_list: KnownFindings) -> list[str]:
    """The entry's own fix (``regressions.fixes``): its summary and the commit it was verified at."""
    patch = patch_of(entry)
    if patch is None:
        return []
    state = f"fix verified at {patch.verified_at}" if patch.verified_at else "fix not verified yet"
    edits = patch_of(known_list.by_id(patch.same_as)).edits if patch.same_as else patch.edits
    files = ", ".join(f"`{f}`" for f in sorted({e.file for e in edits}))
    return [f"- **Verified fix** ({state}; {len(edits)} source edit(s) in {files}, stored in the entry's "
            f"`[finding.patch]`): {patch.summary}"]


def _evidence(entry) -> list[str]:
    """A race entry's evidence (witnessed: the schedule and the outputs that differed) and, when
    given, what would have to happen on hardware; nothing for other checks."""
    if not entry.evidence:
        return []
    if entry.evidence == WITNESSED:
        schedule, outputs = entry.witness
        lines = [f"- **Evidence**: witnessed: the interpreter's schedule `{schedule}` produces wrong outputs "
                 f"({', '.join(f'`{o}`' for o in outputs)} differ from the golden model)"]
    else:
        lines = ["- **Evidence**: reported: the race detector's shadows saw the conflicting accesses; no schedule "
                 "has produced wrong outputs yet"]
    if entry.hardware:
        lines.append(f"- **What would have to happen on hardware**: {entry.hardware}")
    return lines


def _status(entry) -> str:
    return entry.status + (f" ({entry.evidence})" if entry.evidence else "")


def render(known_list: KnownFindings) -> str:
    meta = known_list.meta
    commit = meta.get("flydsl_commit", "")
    lines = [
        "# Findings in the kernels this suite checks",
        "",
        "Rendered from `regressions/known_findings.toml` by `python -m fuzz findings --write`; edit the TOML, "
        "not this file.",
        f"Kernel: {meta.get('kernel', '?')}" + (f", at FlyDSL commit `{commit}`." if commit else "."),
        "",
        "Each finding below is matched by the suite wherever it shows (campaigns, `pytest`, `fuzz replay`, "
        "`fuzz mutate --upstream`): a case whose only faults are these still has its outputs compared with the "
        "golden model, and any other finding fails it. Status: **bug** (wrong results or a crash on hardware), "
        "**benign** (a defect the hardware forgives today), **limitation** (an input the kernel does not "
        "accept, outside production use). Findings with a **What a router would have to send** line show only "
        "with expert ids the contract calls invalid (CONTRACT.md, \"Robustness\"): the suite feeds those to a "
        "kernel that declares the `unchecked` policy and judges memory safety alone. A race finding states its "
        "**evidence**: *witnessed* (a schedule of the interpreter produced wrong outputs; the schedule and the "
        "outputs are named) or *reported* (the race detector's shadows only); a *reported* bug says what would "
        "have to happen on hardware for its outputs to go wrong.",
        "",
        "| id | status | check | title |",
        "|---|---|---|---|",
    ]
    for e in known_list.entries:
        lines.append(f"| [{e.id}](#{e.id}) | {_status(e)} | {e.check} | {e.title} |")
    for e in known_list.entries:
        fx = _fixture(e.fixture) if e.fixture else None
        lines += ["", f"## {e.id}", "", f"**{e.title}**", ""]
        lines.append(f"- **Status**: {_status(e)}")
        check = e.check + (f" ({e.error})" if e.error else "")
        lines.append(f"- **Check**: `{check}`: {_CHECK_WORDS.get(e.check, e.check)}")
        lines.append(f"- **Seen on**: {', '.join(f'`{b}`' for b in e.backends)}")
        if e.trigger:
            lines.append(f"- **What a router would have to send**: {e.trigger}")
        lines += _where(e, commit)
        if e.introduced_at:
            lines.append(f"- **Introduced at**: FlyDSL `{e.introduced_at[0]}` ({e.introduced_at[1]}), the first "
                         "bad commit of `python -m fuzz bisect` with its fixture")
        if e.fixture:
            missing = "" if fx else " (missing!)"
            lines.append(f"- **Minimal fixture**: [`{e.fixture}`](regressions/fixtures/{e.fixture}.json){missing}; "
                         f"replay: `python -m fuzz replay --name {e.fixture} --backend {e.backends[0]}`")
        if e.retry:
            lines.append(f"- **Judged anyway**: a case this stops is run again with `{e.retry}`, so its sort is "
                         f"still compared with the golden model.")
        if e.fixture:
            lines += _region(fx)
        lines.append(f"- **Why it matters on hardware**: {e.why}")
        lines += _evidence(e)
        lines.append(f"- **Suggested fix**: {e.fix}")
        lines += _verified_fix(e, known_list)
        if e.notes:
            lines.append(f"- **Notes**: {e.notes}")
    return "\n".join(lines) + "\n"
