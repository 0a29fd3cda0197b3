"""Benchmark of the suite's FlyDSL sort on the CPU interpreter (not a test).

``python -m kernels.moesort.bench [--target gfx950] [--shapes 257,9,32 ...] [--repeat 3]``

For every production shape and every path (at the largest T that takes it,
capped by ``--max-tokens``), prints the interpreter's median wall time per
case and the emulated work per case: ops executed and lane-ops (ops x active
lanes), summed over the kernels the path launches.  A change that makes a
kernel do more work shows up in the lane-ops column even without a GPU.
"""
from __future__ import annotations

import argparse
import statistics
import time

from cases import PRODUCTION_SHAPES, Case

from ..targets import TARGET_NAMES
from .paths import path_thresholds

PRODUCTION = [(s.num_experts, s.topk, s.unit_size) for s in PRODUCTION_SHAPES]
PATHS = ("small", "medium", "large")


def case_tokens(path: str, E: int, topk: int, unit: int, target: str, cap: int) -> int:
    """The T this benchmark measures ``path`` at: the largest T of the small path, else
    ``cap`` (clipped to the path's range)."""
    th = path_thresholds(E, topk, unit, target)
    return {"small": th.medium - 1, "medium": min(th.large - 1, cap), "large": max(th.large, cap)}[path]


def run_case(E: int, topk: int, unit: int, T: int, target: str, repeat: int, case=None):
    """``(path, median seconds, ops, lane-ops, kernels)`` of sorting ``case`` (default:
    ``Case(E, topk, T, unit, seed=T)``) on the interpreter, sanitizer off."""
    import numpy as np
    import torch

    import kernels.emu as emu

    from .api import allocate_outputs, moe_sorting

    ids, w, mask, m = (case or Case(E, topk, T, unit, seed=T)).materialize()
    times, ops, lane_ops, path = [], 0, 0, None
    for _ in range(repeat):
        outs = allocate_outputs(T, topk, E, unit)
        with emu.emulate(target=target, sanitize=False):
            t0 = time.perf_counter()
            path = moe_sorting(torch.from_numpy(ids), torch.from_numpy(w), *outs, E, unit,
                               None if mask is None else torch.from_numpy(mask), m,
                               target=target)
            times.append(time.perf_counter() - t0)
            recs = emu.last_launches() or []
        ops = sum(int(sum(getattr(r, "ops_by_kind", {}).values())) for r in recs)
        lane_ops = sum(int(getattr(r, "lane_ops", 0)) for r in recs)
    return path, statistics.median(times), ops, lane_ops, np.int64(len(recs))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="gfx950", choices=TARGET_NAMES)
    ap.add_argument("--shapes", nargs="*", help="E,topk,unit triples (default: production shapes)")
    ap.add_argument("--paths", nargs="*", default=list(PATHS))
    ap.add_argument("--max-tokens", type=int, default=4096, help="T of the medium/large cases")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    shapes = [tuple(int(x) for x in s.split(",")) for s in args.shapes] if args.shapes else PRODUCTION
    print(f"{'shape':>14} {'path':>6} {'T':>6} {'kernels':>7} {'median s':>9} {'ops':>10} {'lane-ops':>13}")
    for E, topk, unit in shapes:
        for path in args.paths:
            T = case_tokens(path, E, topk, unit, args.target, args.max_tokens)
            got, t, ops, lane_ops, n = run_case(E, topk, unit, T, args.target, args.repeat)
            assert got == path, (got, path)
            print(f"{f'E{E}-k{topk}-u{unit}':>14} {path:>6} {T:>6} {n:>7} {t:>9.3f} {ops:>10} {lane_ops:>13}")


if __name__ == "__main__":
    main()
