"""Benchmark: kernels on FlyDSL's legacy ``SmemAllocator`` (memref LDS) beside the same kernels on
``fx.SharedAllocator`` (llvm LDS), on the interpreter, side by side in one run.

    python -m benchmarks.bench_smem [--repeat 7] [--clock cpu|wall] [--target gfx950] [--old-flydsl PATH [--rounds 3]]

Part 1, one algorithm written both ways (:mod:`benchmarks.lds_pairs`, several workgroups of 256
threads): for each side the median time per launch over ``--repeat`` launches of an
already-captured kernel (execution only; the two sides' launches alternate, so load on the
machine falls on both alike; ``--clock cpu``, the default, times by this process's CPU time, so the
machine's other jobs count less), the ops and lane-ops (ops x active lanes) each launch executed,
and lane-ops per second; then the ratio of the times (llvm / memref: above 1, the memref side
is faster) and of the rates (memref / llvm).  The two sides do the same work in different ops:
an llvm LDS access is ``arith.extsi`` + ``llvm.getelementptr`` + ``llvm.load`` where a memref
one is ``arith.index_cast`` + ``memref.load`` (the address computed inside it), so their
lane-op counts differ and the time ratio is the like-for-like figure; the op kinds whose
counts differ are listed under each pair.

Part 2, with ``--old-flydsl PATH`` (a checkout of a FlyDSL revision whose MoE sort used
``SmemAllocator``) and ``FLYDSL_ROOT`` (a current checkout): FlyDSL's ``moe_sorting_flydsl`` of
both revisions on the same cases, each revision and case in a subprocess of its own (both are
``kernels.moe.moe_sorting_kernel``), ``--rounds`` subprocesses per revision and case, the two
revisions taking turns; ms is the median over all their timed calls; the same columns, and the
golden model's verdict on both outputs.  Goal: the memref side's time within
the noise of the llvm side's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import kernels.emu as emu  # noqa: E402
from benchmarks import lds_pairs as P  # noqa: E402

SORT_CASES = ((257, 9, 40), (257, 9, 300), (257, 9, 3000))
HIST_CHUNK, HIST_GRID = 512, 8          # 4096 values, 8 workgroups
SCAN_PER_THREAD, SCAN_GRID = 16, 16     # 65536 elements, 16 workgroups


def pairs():
    """name -> (check, {side: call}) for each algorithm of :mod:`benchmarks.lds_pairs`; ``check()``
    says whether both sides' last outputs match NumPy."""
    rng = np.random.default_rng(0)
    out = {}
    x = rng.integers(0, P.BLOCK, HIST_GRID * HIST_CHUNK).astype(np.int32)
    want = np.concatenate([np.bincount(c, minlength=P.BLOCK) for c in x.reshape(HIST_GRID, -1)])
    hs = {side: torch.zeros(HIST_GRID * P.BLOCK, dtype=torch.int32) for side in P.SIDES}
    calls = {side: (lambda f=P.make_histogram(side, HIST_CHUNK, HIST_GRID), h=hs[side]: f(torch.from_numpy(x), h))
             for side in P.SIDES}
    out[f"histogram {x.size} values, {HIST_GRID} WGs"] = (
        lambda: all(np.array_equal(h.numpy(), want) for h in hs.values()), calls)
    n = P.BLOCK * SCAN_PER_THREAD
    xs = rng.integers(-1000, 1000, SCAN_GRID * n).astype(np.int32)
    want_s = np.cumsum(xs.reshape(SCAN_GRID, n), axis=1).reshape(-1)
    ys = {side: torch.zeros(SCAN_GRID * n, dtype=torch.int32) for side in P.SIDES}
    calls = {side: (lambda f=P.make_scan(side, SCAN_PER_THREAD, SCAN_GRID), y=ys[side]: f(torch.from_numpy(xs), y))
             for side in P.SIDES}
    out[f"scan {xs.size} elements, {SCAN_GRID} WGs"] = (
        lambda: all(np.array_equal(y.numpy(), want_s) for y in ys.values()), calls)
    return out


#: The clock calls are timed by: "cpu" (this process's CPU time: the machine's other jobs do not
#: count) or "wall".
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK = ["cpu"]


def _launch(fn):
    clock = CLOCKS[CLOCK[0]]
    t0 = clock()
    fn()
    dt = clock() - t0
    recs = emu.last_launches()
    ops = Counter()
    for r in recs:
        ops.update(r.ops_by_kind)
    return dt, sum(r.lane_ops for r in recs), ops


def measure_alternating(calls: dict, repeat):
    """{name: (seconds of each of ``repeat`` timed calls, lane-ops per call, ops by kind per call)} of
    ``calls`` ({name: fn}) after one capturing call of each, their timed calls taking turns."""
    for fn in calls.values():
        fn()
    times = {k: [] for k in calls}
    last = {}
    for _ in range(repeat):
        for k, fn in calls.items():
            dt, lane_ops, ops = _launch(fn)
            times[k].append(dt)
            last[k] = (lane_ops, ops)
    return {k: (times[k],) + last[k] for k in calls}


def sort_worker(target, repeat):
    """In a subprocess: FlyDSL's MoE sort of the checkout ``FLYDSL_ROOT`` names, on the case
    ``BENCH_SMEM_CASE`` names (``E,topk,T``); prints one JSON line (median s, lane-ops, ops,
    golden-model verdict, path) with the seconds of each timed call."""
    root = os.environ["FLYDSL_ROOT"]
    from kernels.backends.flydsl_vintage import provide_expr_modules
    provide_expr_modules(root, successors={"buffer_ops": os.environ.get("BENCH_SMEM_BUFFER_OPS")})
    import kernels
    import oracle
    from cases import Case

    E, k, T = map(int, os.environ["BENCH_SMEM_CASE"].split(","))
    ids, w, _mask, _local = Case(E, k, T, seed=T).materialize()
    last = {}

    def call():
        last["r"] = kernels.run("flydsl-upstream-sanitized", ids, w, num_experts=E, unit_size=32, target=target)
    times, lane_ops, ops = measure_alternating({"": call}, repeat)[""]
    verdict = oracle.compare(oracle.moe_sorting(ids, w, E, 32), last["r"])
    print(json.dumps({"case": f"E={E} topk={k} T={T}", "times": times, "lane_ops": lane_ops,
                      "ops": sum(ops.values()), "ok": verdict.ok, "path": last["r"].path}), flush=True)


HEADER = (f"{'':34s} {'llvm LDS':^38s} | {'memref LDS':^38s} | {'ratios':^13s}\n"
          f"{'case':34s} {'ms':>8s} {'ops':>8s} {'lane-ops':>11s} {'M/s':>7s} | {'ms':>8s} {'ops':>8s} "
          f"{'lane-ops':>11s} {'M/s':>7s} | {'time':>6s} {'rate':>6s}")
LEGEND = """\
  ms: median time (--clock) of one launcher call (execution only);  ops: ops executed per call;
  lane-ops: ops x active lanes per call;  M/s: million lane-ops per second;
  time: llvm ms / memref ms (above 1: the memref side is faster; the like-for-like figure);
  rate: memref M/s / llvm M/s (lane-ops are counted per op, and the two sides use different ops)."""


def _row(name, a, b):
    (ta, la, oa), (tb, lb, ob) = a, b
    ra, rb = la / ta / 1e6, lb / tb / 1e6
    print(f"{name:34s} {ta * 1e3:8.2f} {oa:8d} {la:11d} {ra:7.1f} | {tb * 1e3:8.2f} {ob:8d} {lb:11d} {rb:7.1f} | "
          f"{ta / tb:6.2f} {rb / ra:6.2f}")


def _op_difference(a: Counter, b: Counter) -> str:
    kinds = sorted(k for k in set(a) | set(b) if a[k] != b[k])
    return ", ".join(f"{k} {a[k]}/{b[k]}" for k in kinds)


def _sort_side(root, head, target, repeat, case):
    env = dict(os.environ, FLYDSL_ROOT=str(root), BENCH_SMEM_BUFFER_OPS=str(head / "kernels/common/buffer_ops.py"),
               BENCH_SMEM_CASE=",".join(map(str, case)))
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_smem", "--sort-worker", "--target", target,
                          "--repeat", str(repeat), "--clock", CLOCK[0]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if out.returncode:
        raise RuntimeError(f"FlyDSL at {root}: FAILED\n{out.stderr[-2000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")][0]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--target", default="gfx950")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                    help="time calls by this process's CPU time (default) or by wall time")
    ap.add_argument("--rounds", type=int, default=3, help="subprocesses per revision and MoE sort case, taking turns")
    ap.add_argument("--old-flydsl", default=None, help="checkout of a FlyDSL revision whose MoE sort used SmemAllocator")
    ap.add_argument("--sort-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    CLOCK[0] = args.clock
    if args.sort_worker:
        with emu.interpreter_options(findings="record"):
            sort_worker(args.target, args.repeat)
        return 0
    print(f"# one algorithm on fx.SharedAllocator (llvm LDS) and on SmemAllocator (memref LDS): target={args.target}, "
          f"sanitizer on, medians of {args.repeat} alternating launches by {args.clock} time, capture cached")
    print(HEADER)
    print(LEGEND)
    print("-" * 120)
    failed = 0
    with emu.emulate(args.target):
        for name, (check, calls) in pairs().items():
            got = measure_alternating(calls, args.repeat)
            _row(f"{name}{'' if check() else ' WRONG'}", *((statistics.median(t), lane_ops, sum(ops.values()))
                                                            for t, lane_ops, ops in (got["llvm"], got["memref"])))
            failed += not check()
            print(f"{'':4s}op counts that differ (llvm/memref): {_op_difference(got['llvm'][2], got['memref'][2])}")
    if args.old_flydsl and os.environ.get("FLYDSL_ROOT"):
        head, old = Path(os.environ["FLYDSL_ROOT"]).resolve(), Path(args.old_flydsl).resolve()
        print(f"\n# FlyDSL's moe_sorting_flydsl: HEAD ({head}, fx.SharedAllocator) as 'llvm' vs {old} "
              f"(SmemAllocator) as 'memref'; {args.rounds} subprocesses each, taking turns; sanitizer on, findings recorded, not raised; ok=golden model's verdict "
              f"on HEAD/old")
        print(HEADER)
        print("-" * 120)
        for case in SORT_CASES:
            runs = {head: [], old: []}
            for _ in range(args.rounds):
                for root in runs:
                    runs[root].append(_sort_side(root, head, args.target, args.repeat, case))
            a, b = ({**r[0], "s": statistics.median(t for x in r for t in x["times"]),
                     "ok": all(x["ok"] for x in r)} for r in runs.values())
            _row(f"{a['case']} ok={a['ok']}/{b['ok']}", (a["s"], a["lane_ops"], a["ops"]),
                 (b["s"], b["lane_ops"], b["ops"]))
            failed += not (a["ok"] and b["ok"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
