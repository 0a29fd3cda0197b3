"""``python -m kernels.emu ops``: the ops the CPU interpreter runs, from its op table.

Prints a Markdown table (family, op, kind, what the handler does), one row
per op, generated from :data:`kernels.emu.codegen.OPS`.
"""
from __future__ import annotations

import argparse
import sys

from .codegen import entries


def ops_table() -> str:
    """The op table as Markdown."""
    rows = ["| family | op | kind | handler |", "|---|---|---|---|"]
    rows += [f"| {e.family} | `{e.name}` | {e.kind} | {e.summary} |" for e in entries()]
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.emu", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("ops", help="list every op the interpreter runs (Markdown)")
    args = parser.parse_args(argv)
    if args.command != "ops":
        parser.print_help()
        return 2
    sys.stdout.write(ops_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
