"""Benchmark of the CPU interpreter (kernels.emu): time per launch, lane-ops/s, op profile.

    python benchmarks/bench_emu.py [--repeat 5] [--target gfx950] [--no-sanitize] [--quick]

For each kernel: median wall time per launch over ``--repeat`` launches of an
already-captured kernel (capture is cached per kernel and constexpr args, so
this is execution only), executed ops and lane-ops (ops x active lanes) per
launch, lane-ops per second, and a per-op-kind profile (share of time by op
kind, from one extra launch with per-op timing).  Kernels: our small test
kernels (tests/emu/sample_kernels.py), the suite's MoE sort kernels
(``kernels.moesort``) when importable, and FlyDSL's own MoE sort when
``FLYDSL_ROOT`` names a checkout.  Goals: <= 0.2 s per launch for a
one-workgroup 512-thread kernel doing ~2,000 ops; >= 50 M lane-ops/s on long loops.
"""
import argparse
import os
import statistics
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

import kernels.emu as emu  # noqa: E402
from tests.emu import sample_kernels as K  # noqa: E402


def cases(quick):
    n = 100_000 if not quick else 10_000
    a, b, c = torch.randn(n), torch.randn(n), torch.zeros(n)
    yield "vadd n=%d (%d WGs x 256)" % (n, (n + 255) // 256), lambda: K.launch_vadd(a, b, c, n)
    x512 = torch.arange(512, dtype=torch.int32) * 7919
    y512 = torch.zeros(512, dtype=torch.int32)
    yield "loop 512 thr, 400 iters (~2k ops)", lambda: K.launch_loop(x512, y512, 400, 512)
    iters = 20_000 if not quick else 4_000
    yield "loop 512 thr, %d iters (long loop)" % iters, lambda: K.launch_loop(x512, y512, iters, 512)
    scan = K.make_scan(512)
    xs, ys = torch.randint(0, 9, (512,), dtype=torch.int32), torch.zeros(512, dtype=torch.int32)
    yield "DPP block scan 512", lambda: scan(xs, ys, 512)
    hist = K.make_histogram(256)
    xh, hh = torch.randint(0, 256, (2000,), dtype=torch.int32), torch.zeros(256, dtype=torch.int32)
    yield "LDS histogram 256 bins, 2000 items (serial)", lambda: hist(xh, hh, 2000)
    z = torch.ones(1 << 18, dtype=torch.int32)
    yield "grid-stride zero 1 MiB, 8 WGs", lambda: K.launch_zero(z, z.numel(), 8)
    xo, yo = torch.arange(4096, dtype=torch.int32), torch.zeros(4096, dtype=torch.int32)
    yield "buffer-OOB masked copy 4096", lambda: K.launch_oob_copy(xo, yo, 3000, 4096)
    yield from moesort_cases(quick)
    yield from flydsl_cases()


def moesort_cases(quick):
    try:
        from kernels import moesort
        moesort.moe_sorting  # noqa: B018
    except Exception as e:  # pragma: no cover - depends on the other engineer's package
        print(f"# kernels.moesort not usable here: {e}")
        return
    shapes = [(8, 8, 2), (100, 64, 4)] + ([] if quick else [(3000, 32, 2)])
    for T, E, topk in shapes:
        g = torch.Generator().manual_seed(T)
        ids = torch.stack([torch.randperm(E, generator=g)[:topk] for _ in range(T)]).to(torch.int32)
        w = torch.rand(T, topk, generator=g)
        outs = moesort.allocate_outputs(T, topk, E, 32)
        ws = torch.zeros(max(1, moesort.workspace_size(T, E, topk, 32)), dtype=torch.int32)
        path = moesort.choose_path(T, E, topk, 32, "gfx950")

        def run(ids=ids, w=w, outs=outs, ws=ws, E=E):
            moesort.moe_sorting(ids, w, *outs, E, 32, workspace=ws, target="gfx950")
        yield f"moesort {path} T={T} E={E} topk={topk}", run


def flydsl_cases():
    if not os.environ.get("FLYDSL_ROOT"):
        return
    try:
        import kernels.moe.moe_sorting_kernel as M
    except Exception as e:
        print(f"# FlyDSL's moe_sorting_kernel not importable: {e}")
        return
    E, topk, T, unit = 8, 2, 5, 32
    ids = torch.stack([torch.randperm(E)[:topk] for _ in range(T)]).to(torch.int32)
    w = torch.rand(T, topk)
    pad = T * topk + E * unit
    bufs = (torch.zeros(pad, dtype=torch.int32), torch.zeros(pad), torch.zeros(pad // unit + 1, dtype=torch.int32),
            torch.zeros(2, dtype=torch.int32), torch.zeros(T * 16, dtype=torch.int32))
    lo, _, _ = M.compile_moe_sorting(num_experts=E, topk=topk, max_tokens=8, unit_size=unit, has_mask=False)
    yield "FlyDSL moe_sorting oneshot T=5 E=8", lambda: lo(ids, w, *bufs, torch.ones(1, dtype=torch.int32), T,
                                                            T * 16, 3)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--target", default="gfx950")
    ap.add_argument("--no-sanitize", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--top", type=int, default=6, help="op kinds shown in each profile")
    args = ap.parse_args(argv)
    sanitize = not args.no_sanitize
    print(f"# kernels.emu benchmark: target={args.target} sanitize={sanitize} repeat={args.repeat} "
          f"(median wall time per launcher call, capture cached)")
    hdr = f"{'kernel':48s} {'launch ms':>10s} {'ops':>9s} {'lane-ops':>11s} {'M lane-ops/s':>12s}"
    print(hdr)
    print("-" * len(hdr))
    failed = 0
    with emu.emulate(args.target, sanitize=sanitize) as sess:
        for name, fn in cases(args.quick):
            sess.options.sanitize = sanitize
            try:
                try:
                    fn()                                   # capture + first run
                except emu.SanitizerError as e:            # report the finding, time it unsanitized
                    print(f"{name:48s} SANITIZER: {type(e).__name__}: {str(e)[:300]}")
                    sess.options.sanitize = False
                    name += " [no sanitizer]"
                    fn()
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - t0)
                recs = emu.last_launches()
            except Exception as e:
                failed += 1
                print(f"{name:48s} FAILED: {type(e).__name__}: {str(e)[:200]}")
                continue
            med = statistics.median(times)
            ops = sum(r.ops for r in recs)
            lane_ops = sum(r.lane_ops for r in recs)
            print(f"{name:48s} {med * 1e3:10.2f} {ops:9d} {lane_ops:11d} {lane_ops / med / 1e6:12.1f}")
            with emu.emulate(args.target, sanitize=sess.options.sanitize, profile=True):
                fn()
                prof = Counter()
                for r in emu.last_launches():
                    prof.update(r.time_by_kind)
            tot = sum(prof.values()) or 1.0
            top = ", ".join(f"{k} {100 * v / tot:.0f}%" for k, v in prof.most_common(args.top))
            print(f"{'':4s}profile: {top}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
