"""``fuzz compile``: the compile matrix -- build every kernel for gfx942/gfx950 on the CPU
and check each binary's registers, LDS, scratch and occupancy against the target
(:mod:`kernels.compilecheck` does the work).

With ``--scheduler ADDRESS`` each compile job is a task on a Dask cluster
(:mod:`fuzz.cluster.compile_jobs`); the CSV and report are those of a local run.

Exit status: 0 every kernel compiled and fits; 1 some kernel failed (see the
table / ``DIR/compile_matrix.md``); 2 usage error, an unavailable backend, or
no ROCm toolchain (the message says what to install), or a cluster that cannot
start the run; 3 the cluster went away before every job was compiled (the
reports hold the jobs compiled so far).
"""
from __future__ import annotations

import sys

from fuzz.cluster.options import add_scheduler_argument, open_cluster
from fuzz.errors import UsageError
from kernels.targets import TARGET_NAMES

NAME = "compile"
HELP = "compile every kernel for gfx942/gfx950 on the CPU and check its resource use"
DEFAULT_BACKENDS = ("flydsl-own", "flydsl-upstream")


def add_arguments(parser) -> None:
    parser.add_argument("--backend", action="append", default=None, metavar="NAME",
                        help="backend to compile (repeatable; default: every available one but "
                             "'probe'); known: flydsl-own, flydsl-upstream, probe (a tiny "
                             "kernel of our own, to check the toolchain)")
    parser.add_argument("--target", action="append", default=None, metavar="ARCH",
                        help=f"{' and/or '.join(TARGET_NAMES)} (repeatable; default both)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="write DIR/compile_matrix.csv and DIR/compile_matrix.md")
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                        help="worker processes (default: CPU count; with --scheduler: one per cluster worker "
                             "thread instead)")
    add_scheduler_argument(parser, "compile each job as a task on the Dask cluster of this scheduler")
    parser.add_argument("--shape", action="append", default=[], metavar="FILTER",
                        help="only production shapes whose label (E257-k9-u32) or model name "
                             "contains FILTER (repeatable); or an ad-hoc shape 'E,topk[,unit]'")
    parser.add_argument("--keep-binaries", action="store_true",
                        help="also write every code object to DIR/binaries/<target>/<backend>/*.hsaco")
    parser.add_argument("--quiet", "-q", action="store_true", help="do not print the table")


def _shapes(filters):
    from cases import PRODUCTION_SHAPES, filter_shapes, shape_from_label

    if not filters:
        return list(PRODUCTION_SHAPES)
    chosen = filter_shapes(PRODUCTION_SHAPES, [f for f in filters if "," not in f])
    for f in filters:
        if "," in f:
            try:
                chosen.append(shape_from_label(f))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
    if not chosen:
        raise UsageError(f"--shape {filters}: matches no production shape")
    return chosen


def main(args) -> int:
    from kernels.compilecheck import PROVIDERS, available_backends, render_table, run_matrix, summary
    from kernels.compilecheck.toolchain import ToolchainMissing, ensure_toolchain

    targets = list(dict.fromkeys(args.target or TARGET_NAMES))
    bad = [t for t in targets if t not in TARGET_NAMES]
    if bad:
        raise UsageError(f"--target {bad}: known targets are {sorted(TARGET_NAMES)}")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be >= 1")
    unknown = [b for b in (args.backend or []) if b not in PROVIDERS]
    if unknown:
        raise UsageError(f"--backend {unknown}: no compile provider; known: {sorted(PROVIDERS)}")
    shapes = _shapes(args.shape)
    try:
        tc = ensure_toolchain()
    except ToolchainMissing as exc:
        raise UsageError(str(exc)) from None

    status = available_backends()
    if args.backend:
        missing = {b: status[b] for b in args.backend if status[b] is not None}
        if missing:
            raise UsageError("; ".join(f"backend {b} unavailable: {why}" for b, why in missing.items()))
        backends = list(dict.fromkeys(args.backend))
    else:
        backends = [b for b, why in status.items() if why is None and b in DEFAULT_BACKENDS]
        for b, why in status.items():
            if why is not None and b in DEFAULT_BACKENDS:
                print(f"fuzz compile: skipping backend {b}: {why}", file=sys.stderr)

    print(f"fuzz compile: {tc.describe()}", file=sys.stderr)
    done = [0]

    def progress(outcome):
        done[0] += 1
        job = outcome.job
        state = "error" if outcome.error else "built"
        print(f"  [{done[0]}] {job.backend}:{job.path} {job.shape} T={job.tokens} "
              f"mask={'yes' if job.mask else 'no'} {job.target}: {state} "
              f"({outcome.seconds:.1f} s)", file=sys.stderr)

    if not backends:
        raise UsageError("no backend available to compile (see the lines above)")
    session = open_cluster(args.scheduler, checkout=any(_needs_checkout(b) for b in backends))
    runner = None
    try:
        if session is not None:
            from fuzz.cluster.compile_jobs import MatrixRunner

            runner = MatrixRunner(session)
        rows = run_matrix(backends, targets, args.out, workers=args.jobs, shapes=shapes,
                          progress=None if args.quiet else progress, keep_binaries=args.keep_binaries,
                          runner=runner, where=session.describe_workers() if session else "")
    finally:
        if session is not None:
            session.close()
    if not args.quiet:
        render_table(rows)
    s = summary(rows)
    print(f"fuzz compile: {s['rows']} kernels, {s['ok']} ok, {s['failed']} failed; "
          f"wrote {args.out}/compile_matrix.csv and compile_matrix.md", file=sys.stderr)
    if runner is not None and runner.lost is not None:
        from fuzz.cluster.session import EXIT_CLUSTER_LOST

        print(f"fuzz compile: stopped early, the cluster could not finish the run: {runner.lost}", file=sys.stderr)
        return EXIT_CLUSTER_LOST
    return 0 if s["failed"] == 0 and s["rows"] > 0 else 1


def _needs_checkout(backend: str) -> bool:
    from kernels.registry import all_backends

    return "FLYDSL_ROOT" in getattr(all_backends().get(backend), "needs", ())
