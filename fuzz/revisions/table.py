"""The revision matrix: one row per revision, as a terminal table, Markdown and JSON.

A row (:func:`fuzz.revisions.runner.row`) holds ``revision`` (as given),
``commit``, ``date``, ``subject``, ``fixes`` (applied), ``runs_here`` and
``why`` (one line when it does not run under the installed flydsl),
``provided`` (flydsl.expr modules an old revision was given), ``paths`` (the
kernel sequences its launches ran), ``runs``, ``judged`` (outputs compared
with the golden model), ``agreeing``, ``known`` (entry id -> runs), ``new``
(failure signature -> summary, first run, runs), ``absent`` and ``stale``
(entry ids), ``seconds``.
"""
from __future__ import annotations

import json
from pathlib import Path

COLUMNS = ("revision", "date", "subject", "runs under flydsl", "paths", "judged", "agreeing", "known", "new",
           "absent", "stale")


def runs_cell(row: dict, flydsl_version: str) -> str:
    if not row.get("runs_here"):
        return f"no: {row.get('why') or 'unknown'}"
    provided = row.get("provided") or []
    given = f" (flydsl.expr.{', '.join(provided)} provided)" if provided else ""
    return f"yes, {flydsl_version}{given}"


def short_path(path: str) -> str:
    """``p0v2_kernel+p23_kernel`` -> ``p0v2+p23``: kernel sequences short enough for a cell."""
    return "+".join(k.removeprefix("moe_sorting_").removesuffix("_kernel") for k in path.split("+"))


def cells(row: dict, flydsl_version: str) -> list:
    """The row's cells, in :data:`COLUMNS` order (figures ``-`` when the gate did not run); the
    entry ids behind the known, absent and stale counts are in :func:`details`."""
    head = [row["revision"] + (f" ({row['commit'][:8]})" if not row["commit"].startswith(row["revision"]) else ""),
            row.get("date", ""), row.get("subject", ""), runs_cell(row, flydsl_version)]
    if not row.get("runs_here"):
        return head + ["-"] * (len(COLUMNS) - len(head))
    paths = row["paths"]
    return head + [f"{len(paths)}: " + ", ".join(short_path(p) for p in paths) if paths else "0",
                   str(row["judged"]), str(row["agreeing"]), str(len(row.get("known", {}))),
                   str(len(row.get("new", {}))), str(len(row["absent"])), str(len(row["stale"]))]


def details(row: dict) -> list:
    """Markdown lines naming what a row's counts hold: known entries (runs), absent and stale
    entries, and each new failure (signature, runs, first run, summary)."""
    if not row.get("runs_here"):
        return []
    known = ", ".join(f"{k} ({n})" for k, n in row.get("known", {}).items()) or "none"
    out = [f"- known (runs): {known}", f"- absent: {', '.join(row['absent']) or 'none'}",
           f"- stale: {', '.join(row['stale']) or 'none'}"]
    if row.get("fixes"):
        out.insert(0, f"- fixes applied: {', '.join(row['fixes'])}")
    out += [f"- new `{key}` ({v['runs']} runs; first: {v['first']}): {v['summary']}" for key, v in row["new"].items()]
    return out


def markdown(rows: list, flydsl_version: str, command: str = "") -> str:
    out = ["# FlyDSL revisions judged by one gate", ""]
    if command:
        out += [f"`{command}`", ""]
    out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r, flydsl_version)) + " |" for r in rows]
    for r in rows:
        if r.get("runs_here"):
            out += ["", f"## {r['revision']} ({r['commit'][:8]}, {r['seconds']:g} s)", "", *details(r)]
    return "\n".join(out) + "\n"


def print_table(rows: list, flydsl_version: str, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True)
    for c in COLUMNS:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*cells(r, flydsl_version))
    (console or Console(width=200)).print(table)


def write(rows: list, out: Path, flydsl_version: str, command: str = "") -> tuple[Path, Path]:
    """``revisions.json`` and ``revisions.md`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "revisions.json", out / "revisions.md"
    js.write_text(json.dumps({"flydsl": flydsl_version, "command": command, "rows": rows}, indent=1) + "\n")
    md.write_text(markdown(rows, flydsl_version, command))
    return js, md
