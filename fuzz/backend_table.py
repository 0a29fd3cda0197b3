"""The ``--list-backends`` table: every backend, its status, what it takes (top-k ``ids``
or router ``logits``) and what it promises."""
from __future__ import annotations

import sys


def backend_rows():
    from kernels.registry import all_backends

    for name, b in all_backends().items():
        reason = b.probe()
        yield {
            "backend": name,
            "status": "available" if reason is None else f"unavailable: {reason}",
            "takes": b.takes,
            "contract": b.contract,
            "paths": "yes" if b.reports_path else "no",
            "targets": ", ".join(t or "-" for t in b.targets),
            "runs on": b.executes_on(b.targets[0]) if reason is None else "-",
            "needs": ", ".join(b.needs) or "-",
            "note": ("test-only; " if b.test_only else "") + b.description,
        }


def print_backend_table(stream=sys.stdout) -> None:
    rows = list(backend_rows())
    if stream.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title="moesort-verify backends")
        for col in rows[0]:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*row.values())
        Console(file=stream).print(table)
        return
    for row in rows:
        print(" | ".join(f"{k}: {v}" for k, v in row.items()), file=stream)
