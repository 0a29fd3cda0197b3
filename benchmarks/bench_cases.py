"""Judged cases per second on the CPU interpreter: this tree against another revision, side by side.

    python -m benchmarks.bench_cases --against a54ec66                 # every production shape and path
    python -m benchmarks.bench_cases --against a54ec66 --shapes E257-k9-u32 --first-case --campaign 60

For the suite's kernels (``flydsl-own``) and, when ``FLYDSL_ROOT`` names a
checkout, FlyDSL's kernel (``flydsl-upstream-sanitized``, and
``flydsl-upstream`` with ``--unsanitized``), on each production shape and
each path the backend has (a token count inside each range of its path
boundaries), it prints:

* the median time of one judged case (``fuzz.judge.run_case``: inputs,
  launch, golden model, comparison) over ``--repeat`` cases of that shape,
  after one warm-up case, and the lane-ops per second of the kernels
  (lane-ops = ops x active lanes, over the kernels' own time);
* with ``--against REV``: the same for the suite at git revision ``REV``
  (checked out into a temporary git worktree), measured in the same run, the
  two trees' cases interleaved (alternating which goes first), and the ratio
  REV / this tree -- a speed-up measured on the same machine at the same time;
* with ``--schedule SCHEDULE`` (instead of ``--against``): this tree in the
  lockstep mode and in the interleaved mode under that schedule
  (``kernels.emu.schedule``), two workers measured side by side the same way,
  and the ratio interleaved / lockstep -- the interleaved mode's cost per case;
* with ``--first-case``: for E=257 T=300, the first case in a fresh process
  (after imports) and a second one, with an empty capture cache and then
  with the cache the first process left (``MOESORT_EMU_CACHE_DIR`` in a
  temporary directory);
* with ``--campaign SECONDS``: ``fuzz run --shape production --workers 2`` of
  each tree in turn for that long (after one uncounted campaign of the same
  length that warms the tree's capture cache), and its judged cases per second.

Each tree runs in its own worker process (``benchmarks/emu_case_worker.py``)
with the tree first on ``PYTHONPATH``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "benchmarks" / "emu_case_worker.py"
sys.path.insert(0, str(ROOT))

from cases.shapes import PRODUCTION_SHAPES, filter_shapes  # noqa: E402


class Worker:
    """One tree's worker process."""

    def __init__(self, tree: Path, cache_dir: str, label: str, schedule: str | None = None):
        self.label = label
        self.schedule = schedule        # sent with every case: the interleaved mode's schedule
        env = dict(os.environ, PYTHONPATH=str(tree), MOESORT_EMU_CACHE_DIR=cache_dir)
        self.proc = subprocess.Popen([sys.executable, str(WORKER)], cwd=tree, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ready = self._read()

    def _read(self):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker of {self.label} exited ({self.proc.wait()})")
            if line.startswith("{"):
                return json.loads(line)

    def ask(self, **req):
        if self.schedule is not None and req.get("op") == "case":
            req = dict(req, schedule=self.schedule)
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        ans = self._read()
        if "error" in ans:
            raise RuntimeError(f"{self.label}: {ans['error']}")
        return ans

    def close(self):
        try:
            self.ask(op="quit")
        except (RuntimeError, BrokenPipeError):
            pass
        self.proc.wait(timeout=60)


def checkout(rev: str) -> Path:
    where = Path(tempfile.mkdtemp(prefix=f"bench-{rev[:12]}-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev], check=True,
                   capture_output=True)
    return where


def remove_checkout(where: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], capture_output=True)
    shutil.rmtree(where, ignore_errors=True)


def path_tokens(bounds) -> list:
    """A token count inside each path range ``[0, b1), [b1, b2), [b2, ...)``."""
    edges = [0] + [int(b) for b in bounds]
    out = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        want = (64, 300, 3000)[min(i, 2)]
        t = max(lo, want) if hi is None else min(max(lo, want), hi - 1)
        if t >= max(lo, 1) and (hi is None or t < hi):
            out.append(t)
    return out


def per_case(workers, backend, shape, T, target, repeat):
    req = dict(op="case", backend=backend, E=shape.num_experts, topk=shape.topk, unit=shape.unit_size, T=T,
               target=target)
    samples = {w.label: [] for w in workers}
    for w in workers:                                     # warm-up: capture, caches
        w.ask(seed=0, **req)
    for r in range(repeat):
        order = workers if r % 2 == 0 else workers[::-1]
        for w in order:
            samples[w.label].append(w.ask(seed=r + 1, **req))
    return samples


def _summary(runs):
    t = statistics.median(x["time"] for x in runs)
    k = statistics.median(x["kernel_s"] for x in runs)
    lane_ops = statistics.median(x["lane_ops"] for x in runs)
    return t, (lane_ops / k if k else 0.0), runs[-1]["path"], all(x["ok"] for x in runs)


def first_case(tree, label, cache_dir, backend, target):
    """(first case s, its capture s, second case s) in a fresh worker process using ``cache_dir``."""
    w = Worker(tree, cache_dir, label)
    try:
        req = dict(op="case", backend=backend, E=257, topk=9, unit=32, T=300, target=target)
        a = w.ask(seed=1, **req)
        b = w.ask(seed=2, **req)
    finally:
        w.close()
    return a["time"], a["capture_s"], b["time"]


def campaign(tree, label, cache_dir, backend, seconds):
    out = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    env = dict(os.environ, PYTHONPATH=str(tree), MOESORT_EMU_CACHE_DIR=cache_dir)
    cmd = [sys.executable, "-m", "fuzz", "run", "--backend", backend, "--shape", "production", "--workers", "2",
           "--budget", f"{seconds}s", "--out", str(out), "--fresh", "--db", str(out / "db"),
           "--fixtures", str(out / "fixtures"), "--plain"]
    subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=seconds + 600)
    try:
        data = json.loads((out / "campaign.json").read_text())
    except (OSError, ValueError):
        return None
    finally:
        shutil.rmtree(out, ignore_errors=True)
    s = data.get("stats", data)
    return s.get("cases_per_second"), s.get("cases")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", metavar="REV", default=None, help="git revision measured side by side")
    ap.add_argument("--repeat", type=int, default=5, help="cases per shape and path (median; default 5)")
    ap.add_argument("--shapes", nargs="*", default=[], help="shape labels or models (default: all production)")
    ap.add_argument("--schedule", metavar="SCHEDULE", default=None,
                    help="measure the interleaved mode under SCHEDULE (e.g. pct:seed=1) against lockstep, this tree")
    ap.add_argument("--target", default="gfx950")
    ap.add_argument("--unsanitized", action="store_true", help="also FlyDSL's kernel with its sanitizer off")
    ap.add_argument("--first-case", action="store_true", help="first-case latency in fresh processes")
    ap.add_argument("--campaign", type=int, default=0, metavar="SECONDS",
                    help="also time a 2-worker production-shape campaign of FlyDSL's kernel per tree")
    ap.add_argument("--no-cases", action="store_true", help="skip the per-case table")
    args = ap.parse_args(argv)
    if args.schedule and args.against:
        ap.error("--schedule compares this tree's two modes; it does not combine with --against")

    backends = ["flydsl-own"]
    if os.environ.get("FLYDSL_ROOT"):
        backends.append("flydsl-upstream-sanitized")
        if args.unsanitized:
            backends.append("flydsl-upstream")
    shapes = filter_shapes(PRODUCTION_SHAPES, args.shapes)
    base = checkout(args.against) if args.against else None
    cache_root = Path(tempfile.mkdtemp(prefix="bench-emu-cache-"))
    trees = [(ROOT, "this")] + ([(base, args.against)] if base else [])
    try:
        print(f"# judged cases on the CPU interpreter, target {args.target}; medians of {args.repeat} cases "
              f"after one warm-up; " + (f"this tree, lockstep and interleaved under {args.schedule}"
                                         if args.schedule else f"trees: {', '.join(label for _, label in trees)}")
              + " (cases alternating)")
        if not args.no_cases:
            if args.schedule:
                workers = [Worker(ROOT, str(cache_root / "this"), "lockstep"),
                           Worker(ROOT, str(cache_root / "this"), "interleave", args.schedule)]
            else:
                workers = [Worker(tree, str(cache_root / label), label) for tree, label in trees]
            try:
                head = f"{'backend':26s} {'shape':13s} {'T':>5s} {'path':38s}"
                for w in workers:
                    head += f" | {w.label[:10]:>10s} ms  Mlop/s"
                if base:
                    head += " | speed-up"
                if args.schedule:
                    head += f" | cost of {args.schedule}"
                print(head)
                print("-" * len(head))
                for backend in backends:
                    for shape in shapes:
                        bounds = workers[0].ask(op="paths", backend=backend, E=shape.num_experts, topk=shape.topk,
                                                unit=shape.unit_size, target=args.target)["bounds"]
                        for T in path_tokens(bounds):
                            try:
                                samples = per_case(workers, backend, shape, T, args.target, args.repeat)
                            except RuntimeError as exc:
                                print(f"{backend:26s} {shape.label:13s} {T:5d} FAILED: {exc}")
                                continue
                            stats = [_summary(samples[w.label]) for w in workers]
                            path = stats[0][2] or "?"
                            line = f"{backend:26s} {shape.label:13s} {T:5d} {path[:38]:38s}"
                            for t, lops, _p, ok in stats:
                                line += f" | {t * 1e3:10.0f} {lops / 1e6:7.0f}" + ("" if ok else "!")
                            if base or args.schedule:
                                line += f" | {stats[1][0] / stats[0][0]:7.2f}x"
                            print(line, flush=True)
            finally:
                for w in workers:
                    w.close()
        if args.first_case:
            print("\n# first case in a fresh process, E257-k9-u32 T=300, after imports: the first case (of it: "
                  "capture = FlyDSL's decorators + tracing, lowering, code generation or the cache) / the second "
                  "case, s")
            for backend in backends:
                for tree, label in trees:
                    cache = str(cache_root / f"first-{label}-{backend}")
                    cold = first_case(tree, label, cache, backend, args.target)
                    warm = first_case(tree, label, cache, backend, args.target)
                    print(f"{backend:26s} {label:12s} cold cache: {cold[0]:5.2f} (capture {cold[1]:4.2f}) / "
                          f"{cold[2]:4.2f}   warm cache: {warm[0]:5.2f} (capture {warm[1]:4.2f}) / {warm[2]:4.2f}",
                          flush=True)
        if args.campaign and os.environ.get("FLYDSL_ROOT"):
            print(f"\n# campaign: fuzz run --backend flydsl-upstream-sanitized --shape production --workers 2, "
                  f"{args.campaign} s per tree, one after the other; each tree first runs one campaign of the same "
                  f"length that is not counted (it fills that tree's persistent capture cache, where it has one)")
            for tree, label in trees:
                cache = str(cache_root / f"campaign-{label}")
                campaign(tree, label, cache, "flydsl-upstream-sanitized", args.campaign)
                got = campaign(tree, label, cache, "flydsl-upstream-sanitized", args.campaign)
                print(f"{label:12s} " + ("no campaign.json" if got is None else f"{got[0]:.2f} cases/s "
                                                                                f"({got[1]} cases)"), flush=True)
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
        if base:
            remove_checkout(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
