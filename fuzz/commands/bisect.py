"""``fuzz bisect``: the first FlyDSL commit whose kernel shows a fixture's failure.

``git bisect run`` over ``--repo`` between ``--good`` and ``--bad``, the
test being the fixture's verdict on each revision in a fresh process with
``FLYDSL_ROOT`` at the bisection's worktree (:mod:`fuzz.revisions.verdict`):
bad when the fixture's failure (its known finding, its failure signature,
or any failure for an edge case) shows, skipped when the revision cannot run
it here, as ``git bisect skip`` does.  ``--path`` limits the candidates to
commits touching those paths (git's pathspec).  Prints every step, then the
first bad commit with its subject (or the candidates skipped commits leave).
Exit status 0: found; 1: only candidates; 2: usage error (bad fixture,
revision or repository).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from fuzz.errors import UsageError

NAME = "bisect"
HELP = "git bisection over FlyDSL's history with a fixture's verdict as the test"


def add_arguments(p) -> None:
    p.add_argument("fixture", type=Path, help="regression fixture (.json) whose failure is bisected")
    p.add_argument("--repo", required=True, help="a FlyDSL git repository")
    p.add_argument("--good", required=True, metavar="REV", help="a revision without the failure")
    p.add_argument("--bad", required=True, metavar="REV", help="a revision with the failure")
    p.add_argument("--path", action="append", default=[], metavar="PATH",
                   help="only commits touching PATH are candidates (repeatable; git bisect's pathspec)")
    p.add_argument("--backend", default="flydsl-upstream-sanitized")
    p.add_argument("--target", default=None, help="default: the fixture's recorded target, else gfx950")
    p.add_argument("--successor", default="HEAD",
                   help="revision whose kernels/common/buffer_ops.py stands in for an old revision's "
                        "flydsl.expr.buffer_ops (default HEAD)")


def main(args) -> int:
    from fuzz.revisions import git
    from fuzz.revisions.bisect import BisectError, bisect, verdict_command
    from fuzz.revisions.prepare import SUCCESSOR_NAME, SUCCESSOR_PATH
    from regressions.fixtures import FixtureError, load

    try:
        load(args.fixture)
    except (FixtureError, OSError) as exc:
        raise UsageError(f"FIXTURE {args.fixture}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="moesort-bisect-") as scratch:
        successor = None
        text = git.show(args.repo, args.successor, SUCCESSOR_PATH)
        if text is not None:
            successor = Path(scratch) / SUCCESSOR_NAME
            successor.write_bytes(text)
        test = verdict_command(args.fixture, args.backend, args.target, successor)
        try:
            result = bisect(args.repo, args.good, args.bad, test, Path(scratch), args.path,
                            echo=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
        except git.GitError as exc:
            raise UsageError(str(exc)) from None
        except BisectError as exc:
            print(f"fuzz bisect: {exc}", file=sys.stderr)
            return 2
    print(f"bisect {args.fixture.name}: good {result.good.short}, bad {result.bad.short}")
    for verdict, commit in result.steps:
        print(f"  {verdict:<4} {commit.short} {commit.date} {commit.subject}")
    if result.first_bad is not None:
        c = result.first_bad
        print(f"first bad commit: {c.sha} {c.subject}")
        return 0
    print("skipped commits leave the first bad commit open; it is one of:")
    for c in result.candidates:
        print(f"  {c.sha} {c.subject}")
    return 1
