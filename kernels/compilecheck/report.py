"""Reports of the compile matrix: ``compile_matrix.csv`` / ``compile_matrix.md`` and the printed table."""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Optional, Sequence

from .rows import CSV_COLUMNS, Row, sort_rows

TABLE_COLUMNS = ("kernel", "shape", "T", "mask", "target", "ok", "vgpr", "valloc", "sgpr", "agpr",
                 "lds_bytes", "scratch", "wg", "wg/CU", "occ", "reason")


def _cells(r: Row) -> list:
    def s(v):
        return "" if v is None else str(v)

    return [f"{r.backend}:{r.path}:{r.kernel}", r.shape, str(r.tokens), "yes" if r.mask else "no",
            r.target, "ok" if r.ok else "FAIL", s(r.vgpr), s(r.vgpr_alloc), s(r.sgpr), s(r.agpr), s(r.lds_bytes), s(r.scratch_bytes),
            s(r.workgroup_size), s(r.workgroups_per_cu), s(r.occupancy), r.reason]


def write_reports(rows: Sequence[Row], out_dir, title: str = "Compile matrix", meta: Optional[dict] = None):
    """Write ``compile_matrix.csv`` and ``compile_matrix.md`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = sort_rows(rows)
    csv_path, md_path = out / "compile_matrix.csv", out / "compile_matrix.md"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(r.as_csv())
    md_path.write_text(markdown(rows, title, meta))
    return csv_path, md_path


def summary(rows: Sequence[Row]) -> dict:
    fails = [r for r in rows if not r.ok]
    return {"rows": len(rows), "ok": len(rows) - len(fails), "failed": len(fails),
            "targets": sorted({r.target for r in rows}), "backends": sorted({r.backend for r in rows})}


def markdown(rows: Sequence[Row], title: str = "Compile matrix", meta: Optional[dict] = None) -> str:
    rows = sort_rows(rows)
    s = summary(rows)
    lines = [f"# {title}", ""]
    for k, v in (meta or {}).items():
        lines.append(f"- {k}: {v}")
    lines += [f"- kernels checked: {s['rows']} ({s['ok']} ok, {s['failed']} failed)", ""]
    fails = [r for r in rows if not r.ok]
    if fails:
        lines += ["## Failures", ""]
        for r in fails:
            lines.append(f"- `{r.backend}:{r.path}:{r.kernel}` {r.shape} T={r.tokens} "
                         f"mask={'yes' if r.mask else 'no'} {r.target}: {r.reason}")
        lines.append("")
    lines += condensed(rows) + ["## All kernels", "",
              "| " + " | ".join(TABLE_COLUMNS) + " |",
              "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
    lines += ["", "vgpr/sgpr/agpr: code-object metadata counts; valloc: VGPRs per lane the kernel "
              "descriptor allocates (unified VGPR+AGPR); lds_bytes: static + dynamic LDS "
              "of one workgroup; scratch: private segment bytes per work-item; wg: workgroup "
              "threads; wg/CU: workgroups resident per CU; occ: waves on the busiest SIMD "
              "(see kernels/compilecheck/occupancy.py).", ""]
    return "\n".join(lines)


SUMMARY_COLUMNS = ("backend", "path", "shape", "target", "T", "kernels ok", "max vgpr (alloc)", "max sgpr",
                   "max lds_bytes", "max scratch", "min wg/CU", "min occ")


def condensed(rows: Sequence[Row]) -> list:
    """Markdown lines: one row per (backend, path, shape, target) over its kernels and masks."""
    groups: dict = {}
    for r in sort_rows(rows):
        groups.setdefault((r.backend, r.path, r.shape, r.target), []).append(r)

    def most(rs, attr, fn=max):
        vals = [getattr(r, attr) for r in rs if getattr(r, attr) is not None]
        return str(fn(vals)) if vals else ""

    out = ["## Summary by path (over kernels and mask on/off)", "",
           "| " + " | ".join(SUMMARY_COLUMNS) + " |", "|" + "|".join("---" for _ in SUMMARY_COLUMNS) + "|"]
    for (backend, path, shape, target), rs in groups.items():
        ok = sum(r.ok for r in rs)
        ts = sorted({r.tokens for r in rs})
        out.append("| " + " | ".join([
            backend, path, shape, target, ",".join(map(str, ts)),
            f"{ok}/{len(rs)}" + ("" if ok == len(rs) else " FAIL"),
            f"{most(rs, 'vgpr')} ({most(rs, 'vgpr_alloc')})", most(rs, "sgpr"), most(rs, "lds_bytes"),
            most(rs, "scratch_bytes"), most(rs, "workgroups_per_cu", min), most(rs, "occupancy", min),
        ]) + " |")
    return out + [""]


def render_table(rows: Sequence[Row], stream=None) -> None:
    """Print the table: a ``rich`` table on a terminal, tab-separated plain text otherwise."""
    stream = stream or sys.stdout
    rows = sort_rows(rows)
    if getattr(stream, "isatty", lambda: False)():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            t = Table(show_lines=False)
            for c in TABLE_COLUMNS:
                t.add_column(c, overflow="fold")
            for r in rows:
                cells = _cells(r)
                cells[5] = "[green]ok[/green]" if r.ok else "[bold red]FAIL[/bold red]"
                t.add_row(*cells)
            Console(file=stream).print(t)
            return
    widths = [len(c) for c in TABLE_COLUMNS]
    table = [_cells(r) for r in rows]
    for cells in table:
        widths = [max(w, len(c)) for w, c in zip(widths, cells[:-1])] + [0]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    print(fmt(list(TABLE_COLUMNS)), file=stream)
    for cells in table:
        print(fmt(cells), file=stream)
