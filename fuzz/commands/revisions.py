"""``fuzz revisions``: FlyDSL revisions judged by one gate, one row each.

For each revision argument (``REV``, ``REV+fixes``, ``REV+<entry-id>``:
:mod:`fuzz.revisions.spec`) of the repository ``--repo``, a worktree of the
commit is made, the fixes asked for are applied, and the gate
(:mod:`fuzz.revisions.gate`) runs in a fresh process with ``FLYDSL_ROOT`` at
that worktree: the boundary cases of every path of the revision's own
dispatch, the committed fixtures, one graph capture and the mutation
checks' suite cases (at most ``--max-cases`` per target).  Prints the table
and writes ``revisions.json`` / ``revisions.md`` into ``--out``.  With
``--scheduler`` each revision is a task on the Dask cluster.  Exit status
0: no revision showed a new failure; 1: one did; 2: usage error; 3: the
cluster went away (the rows that came back are written).
"""
from __future__ import annotations

import dataclasses
import shlex
import sys
import tempfile
import time
from pathlib import Path

from fuzz.cluster.options import add_scheduler_argument, open_cluster
from fuzz.errors import UsageError

NAME = "revisions"
HELP = "judge FlyDSL revisions (commits, branches, tags, pull requests; REV+fixes) by one gate: a table"


def add_arguments(p) -> None:
    from fuzz.revisions.gate import DEFAULT_BACKEND, DEFAULT_MAX_CASES, DEFAULT_TARGETS

    p.add_argument("revisions", nargs="+", metavar="REV",
                   help="commit, branch, tag, ref or #N (pull request N); REV+fixes or REV+<entry-id>[+...] "
                        "apply the known findings' fixes first")
    p.add_argument("--repo", required=True, help="a FlyDSL git repository")
    p.add_argument("--out", default="out/revisions", help="folder for revisions.json and revisions.md")
    p.add_argument("--backend", default=DEFAULT_BACKEND, help=f"backend the gate runs (default {DEFAULT_BACKEND})")
    p.add_argument("--target", action="append", default=[], choices=("gfx942", "gfx950"),
                   help=f"target of the boundary and suite cases (repeatable; default {' '.join(DEFAULT_TARGETS)}); "
                        "fixtures run on every target")
    p.add_argument("--max-cases", type=int, default=DEFAULT_MAX_CASES,
                   help=f"suite cases per target beyond the dispatch boundaries and fixtures (default "
                        f"{DEFAULT_MAX_CASES})")
    p.add_argument("--shape", action="append", default=[], metavar="PATTERN",
                   help="only production shapes whose label (E<n>-k<n>-u<n>) holds PATTERN, for the boundary "
                        "and suite cases (repeatable; default: every shape)")
    p.add_argument("--no-fixtures", action="store_true", help="leave out the committed fixtures")
    p.add_argument("--successor", default="HEAD",
                   help="revision whose kernels/common/buffer_ops.py stands in for an old revision's "
                        "flydsl.expr.buffer_ops (default HEAD)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per revision's gate (default 1800)")
    p.add_argument("--case-timeout", type=float, default=300, help="seconds per launch (default 300)")
    add_scheduler_argument(p, "run each revision's gate as a task on the Dask cluster of this scheduler")


def _options(args):
    from fuzz.revisions.runner import GateOptions

    if args.max_cases < 0:
        raise UsageError(f"--max-cases {args.max_cases}: must be >= 0")
    return GateOptions(args.backend, tuple(args.target) or GateOptions.targets, args.max_cases, not args.no_fixtures,
                       args.case_timeout, args.timeout, tuple(args.shape))


def resolve_all(repo, specs) -> list:
    """The commit of each spec; :class:`UsageError` naming the first that names none."""
    from fuzz.revisions import git

    try:
        return [git.resolve(repo, s.rev) for s in specs]
    except git.GitError as exc:
        raise UsageError(str(exc)) from None


def main(args) -> int:
    from fuzz.cluster.environment import describe
    from fuzz.revisions import table
    from fuzz.revisions.prepare import pack, prepared
    from fuzz.revisions.runner import row, run_gate
    from fuzz.revisions.spec import parse_revision

    specs = [parse_revision(t) for t in args.revisions]
    commits = resolve_all(args.repo, specs)
    options = _options(args)

    def own_options(p):
        """The gate's options for prepared revision ``p``: its applied fixes judged as must-not-appear."""
        return dataclasses.replace(options, fixed=tuple(p.fixes))
    version = f"flydsl {describe()['flydsl']}"
    command = (f"python -m fuzz revisions --repo {shlex.quote(str(args.repo))} "
               + " ".join(shlex.quote(r) for r in args.revisions) + f"  # gate: {options.describe()}")
    session = open_cluster(args.scheduler)
    start = time.monotonic()
    rows: dict = {}
    status = 0
    with tempfile.TemporaryDirectory(prefix="moesort-revisions-") as scratch:
        archives = []
        for i, (spec, commit) in enumerate(zip(specs, commits)):
            with prepared(args.repo, spec, commit, Path(scratch) / str(i), args.successor) as p:
                if p.tree is None or session is None:
                    if p.tree is not None:
                        print(f"fuzz revisions: {spec.text} ({commit.short} {commit.subject[:60]}) ...",
                              file=sys.stderr, flush=True)
                    rows[i] = row(p, None if p.tree is None else run_gate(p.tree, p.successor, own_options(p)))
                else:
                    rows[i] = row(p, None)          # replaced by the task's answer
                    archives.append((i, pack(p), own_options(p)))
        if session is not None:
            status = _on_cluster(session, archives, rows)
    ordered = [rows[i] for i in sorted(rows)]
    table.print_table(ordered, version)
    js, md = table.write(ordered, Path(args.out), version, command)
    print(f"{len(ordered)} revisions in {time.monotonic() - start:.0f} s; wrote {js} and {md}")
    return status or (1 if any(r.get("new") for r in ordered) else 0)


def _on_cluster(session, archives, rows) -> int:
    from fuzz.cluster import revisions as cluster_revisions
    from fuzz.cluster.session import EXIT_CLUSTER_LOST, ClusterLost

    def done(index, answer):
        rows[index] = {**{k: rows[index][k] for k in ("revision", "commit", "date", "subject", "fixes")}, **answer}
        print(f"fuzz revisions: {rows[index]['revision']} done", file=sys.stderr, flush=True)

    try:
        with session:
            cluster_revisions.run_all(session, archives, done)
    except ClusterLost as exc:
        print(f"fuzz revisions: {exc}; the rows that came back are written", file=sys.stderr)
        for index, _ in archives:
            if index not in getattr(exc, "partial", {}):
                rows[index] = dict(rows[index], runs_here=False, why="not judged: the cluster went away")
        return EXIT_CLUSTER_LOST
    return 0
