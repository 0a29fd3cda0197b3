"""Benchmark: kernels written against FlyDSL's legacy ``SmemAllocator`` (memref LDS) beside the same
kernels written against ``fx.SharedAllocator`` (llvm LDS), on the interpreter, in one run.

    python -m benchmarks.bench_smem [--repeat 5] [--target gfx950] [--old-flydsl PATH]

Each pair computes the same thing both ways; for each side: median wall time per launch over
``--repeat`` launches of an already-captured kernel (execution only), lane-ops per launch and
lane-ops per second, and the ratio of the two rates (memref / llvm).  Pairs: the LDS histogram
and the block-wide scan of ``tests/emu/sample_kernels.py`` / ``smem_sample_kernels.py``.  With
``--old-flydsl PATH`` (a checkout of a FlyDSL revision whose MoE sort used ``SmemAllocator``)
and ``FLYDSL_ROOT`` (a current checkout), FlyDSL's ``moe_sorting_flydsl`` of both revisions runs
the same cases, each in a subprocess of its own (both are ``kernels.moe.moe_sorting_kernel``),
and its outputs are compared with the golden model.  Goal: the memref side's lane-ops/s within
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import kernels.emu as emu  # noqa: E402
from tests.emu import sample_kernels as K  # noqa: E402
from tests.emu import smem_sample_kernels as S  # noqa: E402

SORT_CASES = ((257, 9, 40), (257, 9, 300), (257, 9, 3000))


def pairs():
    """name -> (llvm-LDS call, memref-LDS call)."""
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 300, 2000).astype(np.int32))
    h1, h2 = torch.zeros(300, dtype=torch.int32), torch.zeros(301, dtype=torch.int32)
    hist, smem_hist = K.make_histogram(300), S.make_smem_histogram(300)
    xs = torch.arange(512, dtype=torch.int32)
    y1, y2 = torch.zeros(512, dtype=torch.int32), torch.zeros(512, dtype=torch.int32)
    scan, smem_scan = K.make_scan(512), S.make_smem_scan(512)
    return {
        "histogram 300 bins, 2000 values": (lambda: hist(x, h1, 2000), lambda: smem_hist(x, h2, 2000)),
        "block scan, 512 threads": (lambda: scan(xs, y1, 512), lambda: smem_scan(xs, y2)),
    }


def measure(fn, repeat):
    """(median seconds per call, lane-ops per call) of ``fn`` after one capturing call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), sum(r.lane_ops for r in emu.last_launches())


def sort_worker(target, repeat):
    """In a subprocess: FlyDSL's MoE sort of the checkout ``FLYDSL_ROOT`` names, on SORT_CASES;
    prints one JSON line per case (median s, lane-ops, golden-model verdict)."""
    root = os.environ["FLYDSL_ROOT"]
    from tests.emu.vintage import provide_expr_modules
    provide_expr_modules(root, successors={"buffer_ops": os.environ.get("BENCH_SMEM_BUFFER_OPS")})
    import kernels
    import oracle
    from cases import Case

    for E, k, T in SORT_CASES:
        ids, w, _mask, _local = Case(E, k, T, seed=T).materialize()
        last = {}

        def call():
            last["r"] = kernels.run("flydsl-upstream", ids, w, num_experts=E, unit_size=32, target=target)
        med, lane_ops = measure(call, repeat)
        verdict = oracle.compare(oracle.moe_sorting(ids, w, E, 32), last["r"])
        print(json.dumps({"case": f"E={E} topk={k} T={T}", "s": med, "lane_ops": lane_ops, "ok": verdict.ok,
                          "path": last["r"].path}), flush=True)


def _row(name, a, b):
    (ta, la), (tb, lb) = a, b
    ra, rb = la / ta / 1e6, lb / tb / 1e6
    print(f"{name:36s} {ta * 1e3:9.2f} {la:10d} {ra:8.1f} | {tb * 1e3:9.2f} {lb:10d} {rb:8.1f} | {rb / ra:6.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--target", default="gfx950")
    ap.add_argument("--old-flydsl", default=None, help="checkout of a FlyDSL revision whose MoE sort used SmemAllocator")
    ap.add_argument("--sort-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sort_worker:
        with emu.interpreter_options(findings="record"):
            sort_worker(args.target, args.repeat)
        return 0
    print(f"# legacy SmemAllocator (memref LDS) vs fx.SharedAllocator (llvm LDS): target={args.target} "
          f"repeat={args.repeat}, medians per launcher call, capture cached")
    hdr = (f"{'kernel':36s} {'llvm ms':>9s} {'lane-ops':>10s} {'M/s':>8s} | {'memref ms':>9s} {'lane-ops':>10s} "
           f"{'M/s':>8s} | {'ratio':>6s}")
    print(hdr)
    print("-" * len(hdr))
    with emu.emulate(args.target):
        for name, (llvm_side, memref_side) in pairs().items():
            _row(name, measure(llvm_side, args.repeat), measure(memref_side, args.repeat))
    if args.old_flydsl and os.environ.get("FLYDSL_ROOT"):
        head = Path(os.environ["FLYDSL_ROOT"]).resolve()
        sides = []
        for root in (head, Path(args.old_flydsl).resolve()):
            env = dict(os.environ, FLYDSL_ROOT=str(root), BENCH_SMEM_BUFFER_OPS=str(head / "kernels/common/buffer_ops.py"))
            out = subprocess.run([sys.executable, "-m", "benchmarks.bench_smem", "--sort-worker", "--target",
                                  args.target, "--repeat", str(args.repeat)], cwd=ROOT, env=env, capture_output=True,
                                 text=True, timeout=3600)
            if out.returncode:
                print(f"FlyDSL at {root}: FAILED\n{out.stderr[-2000:]}")
                return 1
            sides.append([json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")])
        print(f"\n# FlyDSL's moe_sorting_flydsl: HEAD ({head.name}, fx.SharedAllocator) vs "
              f"{Path(args.old_flydsl).name} (SmemAllocator); golden model: both sides")
        for a, b in zip(*sides):
            _row(f"{a['case']} ok={a['ok']}/{b['ok']}", (a["s"], a["lane_ops"]), (b["s"], b["lane_ops"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
