"""``python -m kernels.emu``: the interpreter's op table and its persistent capture cache.

* ``ops`` prints a Markdown table (family, op, kind, how uniform its results
  are for the uniformity analysis, what the handler does), one row per op,
  generated from :data:`kernels.emu.codegen.OPS`;
* ``cache [--dir DIR] [info|clear]`` shows where the capture cache is
  (:mod:`kernels.emu.diskcache`), how many entries it holds, or empties it.
  ``--dir`` names another cache directory, as ``$MOESORT_EMU_CACHE_DIR`` does;
* ``coverage PATH... [--target T] [--no-entries] [--budget S]`` traces every
  ``@flyc.jit`` launcher it can build from a FlyDSL checkout's kernel files (or
  the given files) and prints a Markdown table: per file, whether it captures
  and which op kinds the interpreter lacks (:mod:`kernels.emu.coverage`); then,
  for files with declared entry points, every launcher those reach over their
  dispatch space on both targets (:mod:`kernels.emu.entrypoints`), and what
  was not explored (points left after ``--budget`` seconds included).
  FlyDSL's files import each other as ``kernels.*``: the checkout must be the
  one ``FLYDSL_ROOT`` names.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import coverage, diskcache
from .codegen import entries


def ops_table() -> str:
    """The op table as Markdown."""
    rows = ["| family | op | kind | uniformity | handler |", "|---|---|---|---|---|"]
    rows += [f"| {e.family} | `{e.name}` | {e.kind} | {e.uniformity} | {e.summary} |" for e in entries()]
    return "\n".join(rows) + "\n"


def cache_command(action: str, directory=None) -> int:
    """``info`` or ``clear`` the capture cache at ``directory`` (default: the one in force)."""
    if directory is not None:
        os.environ[diskcache.ENV_DIR] = directory
    cache = diskcache.current()
    if cache is None:
        print(f"capture cache: off (${diskcache.ENV_DIR}={os.environ.get(diskcache.ENV_DIR)})")
        return 0
    if action == "clear":
        n = cache.clear()
        print(f"capture cache {cache.root}: removed {n} entr{'y' if n == 1 else 'ies'}")
        return 0
    info = cache.info()
    print(f"capture cache: {info['location']}\nentries: {info['entries']}\nbytes: {info['bytes']}")
    return 0


def coverage_command(paths, target: str, entries: bool = True, budget_s: float | None = None) -> int:
    """Print the coverage table of ``paths``; 2 when a checkout is not the one ``FLYDSL_ROOT`` names."""
    import warnings
    from pathlib import Path

    for p in paths:
        root = Path(p).resolve()
        if (root / "kernels" / "__init__.py").is_file() and \
                Path(os.environ.get("FLYDSL_ROOT", "/nonexistent")).resolve() != root:
            print(f"coverage: {p} is a FlyDSL checkout; run with FLYDSL_ROOT={root} so its kernels.* imports "
                  f"resolve", file=sys.stderr)
            return 2
    warnings.simplefilter("ignore")
    rows = coverage.coverage(paths, target, entries=entries, budget_s=budget_s)
    root = paths[0] if len(paths) == 1 and Path(paths[0]).is_dir() else None
    checkout = os.environ.get("FLYDSL_ROOT")
    if root is None and checkout and all(Path(p).resolve().is_relative_to(Path(checkout).resolve()) for p in paths):
        root = checkout        # files of the checkout are named as in it (kernels/moe/...)
    sys.stdout.write(f"Target {target} (module-level launchers; entry points on gfx942 and gfx950).\n\n"
                     + coverage.table(rows, root))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.emu", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("ops", help="list every op the interpreter runs (Markdown)")
    cache = sub.add_parser("cache", help="where the persistent capture cache is, its size; or clear it")
    cache.add_argument("action", nargs="?", choices=("info", "clear"), default="info")
    cache.add_argument("--dir", default=None, help=f"cache directory (default: ${diskcache.ENV_DIR} or "
                                                   f"{diskcache.default_location()})")
    cov = sub.add_parser("coverage", help="which FlyDSL kernel files capture, and the op kinds the interpreter lacks")
    cov.add_argument("paths", nargs="+", help="a FlyDSL checkout's root, kernel directories or files")
    cov.add_argument("--target", default="gfx950", choices=("gfx942", "gfx950"),
                     help="target of the module-level launchers (entry points are explored on both)")
    cov.add_argument("--no-entries", dest="entries", action="store_false",
                     help="do not explore declared entry points (module-level launchers only)")
    cov.add_argument("--budget", type=float, default=1800.0, metavar="S",
                     help="seconds for exploring entry points; points left then are skipped and listed (0: no limit)")
    args = parser.parse_args(argv)
    if args.command == "ops":
        sys.stdout.write(ops_table())
        return 0
    if args.command == "cache":
        return cache_command(args.action, args.dir)
    if args.command == "coverage":
        if args.budget < 0:
            parser.error(f"--budget: must be >= 0 seconds, got {args.budget}")
        return coverage_command(args.paths, args.target, args.entries, args.budget or None)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
