"""``python -m fuzz`` / ``fuzz``: the suite's command line.

Each subcommand lives in its own module under ``fuzz/commands/`` and exposes
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``main(args) -> int``.
Exit status: 0 success / no new failure, 1 a (new) failure, 2 usage error, 3
the Dask cluster of ``--scheduler`` could not finish the run (what came back is kept).
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from fuzz import commands as _commands_pkg
from fuzz.errors import UsageError


def _command_modules():
    for info in sorted(pkgutil.iter_modules(_commands_pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        yield importlib.import_module(f"fuzz.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fuzz", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--list-backends", action="store_true",
        help="list every backend with its status and exit",
    )
    parser.add_argument(
        "--emu-cache", metavar="DIR", default=None,
        help="directory of the CPU interpreter's persistent capture cache, shared by every worker "
             "(default: $MOESORT_EMU_CACHE_DIR, else the platform's user cache directory; 'off' disables it; "
             "'python -m kernels.emu cache clear' empties it)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def list_backends() -> int:
    from fuzz.backend_table import print_backend_table

    print_backend_table()
    return 0


def main(argv=None) -> int:
    try:
        return _main(argv)
    except ImportError as exc:
        # kernels.CheckoutError (FLYDSL_ROOT names no checkout); it cannot be imported by name,
        # since importing kernels is what raised it
        setting = getattr(exc, "setting", None)
        if setting is None:
            raise
        print(f"fuzz: error: {exc}", file=sys.stderr)
        return 2


def _main(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.emu_cache is not None:
        from kernels.emu.diskcache import ENV_DIR

        os.environ[ENV_DIR] = args.emu_cache      # read by this process and inherited by its workers
    if args.list_backends:
        return list_backends()
    if not getattr(args, "_main", None):
        parser.print_help()
        return 2
    try:
        return int(args._main(args) or 0)
    except UsageError as exc:
        print(f"fuzz {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
