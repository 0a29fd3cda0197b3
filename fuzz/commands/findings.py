"""``fuzz findings``: the known findings, as a table or as FINDINGS.md.

Without options it lists the entries of ``regressions/known_findings.toml``.
``--write`` renders them (with each fixture's recorded region) into
``FINDINGS.md``; ``--check`` exits 1 when ``FINDINGS.md`` differs from the
rendering.
"""
from __future__ import annotations

from fuzz.errors import UsageError

NAME = "findings"
HELP = "list the known findings; --write renders FINDINGS.md"


def add_arguments(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", help="write FINDINGS.md from the known-findings file")
    g.add_argument("--check", action="store_true", help="exit 1 if FINDINGS.md is not up to date")


def main(args) -> int:
    from regressions import known_findings
    from regressions.findings_doc import FINDINGS_MD, render

    try:
        known_list = known_findings.default()
    except known_findings.KnownFindingsError as exc:
        raise UsageError(str(exc)) from None
    text = render(known_list)
    if args.write:
        FINDINGS_MD.write_text(text)
        print(f"wrote {FINDINGS_MD} ({len(known_list.entries)} findings)")
        return 0
    if args.check:
        current = FINDINGS_MD.read_text() if FINDINGS_MD.exists() else ""
        if current != text:
            print(f"{FINDINGS_MD} is out of date: run python -m fuzz findings --write")
            return 1
        print(f"{FINDINGS_MD} is up to date")
        return 0
    width = max((len(e.id) for e in known_list.entries), default=2)
    for e in known_list.entries:
        print(f"{e.id:<{width}}  {e.status:<10} {e.check:<22} {', '.join(e.backends)}")
    print(f"{len(known_list.entries)} known findings ({known_findings.KNOWN_FINDINGS_FILE})")
    return 0
