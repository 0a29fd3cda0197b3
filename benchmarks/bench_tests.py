"""What reading the committed fixtures and running the tests cost: this tree against another revision.

    python -m benchmarks.bench_tests --against 30bae21                   # fixtures, then the whole default run
    python -m benchmarks.bench_tests --against 30bae21 --tests tests/test_fixtures.py --repeat 3

Both trees are measured in the same run, alternating, without ``FLYDSL_ROOT``
(the tests that need a FlyDSL checkout skip in both), each in fresh processes:

* fixture read: seconds to load the committed fixtures of
  ``regressions/fixtures``, of every kind the tree knows and of ids alone (the
  kind both trees know: like for like), once warm (the median of 20 reads in
  each process), median of ``--reads`` processes;
* test run: wall seconds of ``pytest -q -n WORKERS`` on ``--tests`` (default:
  the default selection), median of ``--repeat``, with the pass/skip line of each.

It prints the medians and the ratio this/other (above 1: this tree costs more).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_cases import checkout, remove_checkout

ROOT = Path(__file__).resolve().parents[1]

#: Run in a tree: load the committed fixtures of every kind the tree knows, then those of ids
#: (the kind every revision knows), each once and then again; print each count and the median
#: seconds of the repeated reads.
_READ = """
import inspect, statistics, time
from regressions import fixtures
every = {"takes": None} if "takes" in inspect.signature(fixtures.load_all).parameters else {}
for kw in (every, {}):
    n, times = len(fixtures.load_all(**kw)), []
    for _ in range(%d):
        t = time.perf_counter()
        fixtures.load_all(**kw)
        times.append(time.perf_counter() - t)
    print(n, statistics.median(times))
"""

#: Reads of the whole set per process after the first (its median is the process's figure).
_READS_PER_PROCESS = 20


def _env() -> dict:
    env = dict(os.environ)
    env.pop("FLYDSL_ROOT", None)
    env.pop("PYTHONPATH", None)
    return env


def read_fixtures(tree: Path) -> dict:
    """``{"every kind": (count, seconds), "ids": (count, seconds)}`` of one fresh interpreter whose
    imports come from ``tree``."""
    out = subprocess.run([sys.executable, "-c", _READ % _READS_PER_PROCESS], cwd=tree, env=_env(), capture_output=True, text=True,
                         check=True).stdout.split()
    return {"every kind": (int(out[0]), float(out[1])), "ids": (int(out[2]), float(out[3]))}


def run_tests(tree: Path, tests: list[str], workers: int) -> tuple[float, str]:
    """(wall seconds, pytest's last line) of one test run in ``tree``."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers), *tests]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=tree, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - t
    tail = [line for line in done.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return seconds, (tail[-1].strip("= ") if tail else f"exit {done.returncode}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", metavar="REV", required=True, help="git revision measured side by side")
    ap.add_argument("--tests", nargs="*", default=[], help="test paths (default: pytest's default selection)")
    ap.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (default 2, as in CI)")
    ap.add_argument("--repeat", type=int, default=1, help="test runs per tree (median; default 1)")
    ap.add_argument("--reads", type=int, default=5, help="fixture reads per tree (median; default 5)")
    ap.add_argument("--no-tests", action="store_true", help="only the fixture read")
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.reads < 1 or args.workers < 1:
        ap.error(f"--repeat, --reads and --workers must be at least 1 (got {args.repeat}, {args.reads}, "
                 f"{args.workers})")
    base = checkout(args.against)
    trees = [(ROOT, "this"), (base, args.against)]
    try:
        reads = {label: [] for _, label in trees}
        for _ in range(args.reads):
            for tree, label in trees:
                reads[label].append(read_fixtures(tree))
        print(f"# fixture read: medians of {args.reads} fresh processes per tree (trees alternating)")
        for kind in ("every kind", "ids"):
            median = {}
            for _, label in trees:
                count = reads[label][0][kind][0]
                median[label] = statistics.median(r[kind][1] for r in reads[label])
                print(f"{kind:>10} {label:>12}: {count:4d} fixtures in {median[label] * 1e3:6.1f} ms "
                      f"({median[label] * 1e3 / max(count, 1):.2f} ms each)")
            print(f"{kind:>10} {'this/other':>12}: {median['this'] / median[args.against]:.2f}x")
        if args.no_tests:
            return 0
        runs = {label: [] for _, label in trees}
        for _ in range(args.repeat):
            for tree, label in trees:
                seconds, line = run_tests(tree, args.tests, args.workers)
                runs[label].append(seconds)
                print(f"{label:>12}: {seconds:7.1f} s  ({line})", flush=True)
        print(f"# test run ({' '.join(args.tests) or 'default selection'}, -n {args.workers}, no FLYDSL_ROOT): "
              f"medians of {args.repeat}")
        for _, label in trees:
            print(f"{label:>12}: {statistics.median(runs[label]):7.1f} s")
        ratio = statistics.median(runs["this"]) / statistics.median(runs[args.against])
        print(f"{'this/other':>12}: {ratio:.2f}x")
    finally:
        remove_checkout(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
