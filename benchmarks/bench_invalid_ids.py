"""What dropping invalid expert ids costs on valid input: the suite's kernels and the torch backend.

    python -m benchmarks.bench_invalid_ids [--before REV] [--repeats 41] [--target gfx950] [--max-tokens 4096]
                                           [--threads N] [--clock wall|cpu] [--skip-kernels]

1. The suite's FlyDSL kernels on the CPU interpreter (``kernels.moesort.bench.run_case``,
   sanitizer off), for E=257/topk=9 and E=513/topk=9 on every path (small at its
   largest T, medium and large at ``--max-tokens`` clipped to the path): the lane-ops
   (ops x active lanes, summed over the path's kernels) of valid ids, and of the
   same shape with 1 % of its ids -1 (the ``drop`` policy).  With ``--before REV``
   also the lane-ops of valid ids on the kernels of commit ``REV`` (``git archive``
   into a temporary directory, measured in a subprocess: lane-ops are deterministic,
   so the columns compare exactly).
2. The torch backend (CPU, and CUDA/HIP when torch sees a GPU): the median time
   of one sort of valid ids without the range check (``drop_invalid=False``:
   what a launch under ``reject``, the default, runs -- the sort as it was
   before the policies) and with it (``drop_invalid=True``: what ``drop`` and
   ``unchecked`` launches run), for T = 1 .. 65536 with and without an expert
   mask; ``--repeats`` samples of each, interleaved in one run, and their ratio.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch

from cases import Case
from kernels.backends.torch_backend import torch_moe_sorting
from kernels.harness import allocate
from kernels.moesort.bench import PATHS, case_tokens, run_case
from oracle import normalize_inputs

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ((257, 9, 32), (513, 9, 32))
TORCH_TOKENS = (1, 64, 1024, 16384, 65536)
#: Measures valid-id lane-ops with the ``kernels`` package found first on sys.path (the
#: tree of ``--before REV``): prints ``[[path, lane_ops], ...]`` for argv[1]'s run_case args.
_BEFORE = ("import json, sys; from kernels.moesort.bench import run_case; "
           "print(json.dumps([[r[0], int(r[3])] for r in (run_case(*a) for a in json.loads(sys.argv[1]))]))")


def kernel_rows(target: str, cap: int):
    """(label, run_case args, path) for every shape and path."""
    for E, k, unit in SHAPES:
        for path in PATHS:
            T = case_tokens(path, E, k, unit, target, cap)
            yield f"E{E}-k{k}-u{unit}", (E, k, unit, T, target, 1), path


def lane_ops_before(rev: str, args: list) -> list:
    """``[(path, lane_ops)]`` of ``run_case(*a)`` for each ``a`` in ``args`` on the kernels of ``rev``."""
    tar = subprocess.run(["git", "archive", rev, "kernels", "cases", "oracle"], cwd=ROOT, capture_output=True,
                         check=True).stdout
    with tempfile.TemporaryDirectory() as tree:
        tarfile.open(fileobj=io.BytesIO(tar)).extractall(tree, filter="data")
        env = {k: v for k, v in os.environ.items() if k not in ("FLYDSL_ROOT", "PYTHONPATH")}
        out = subprocess.run([sys.executable, "-c", _BEFORE, json.dumps(args)], cwd=tree, env=env,
                             capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"bench_invalid_ids: measuring {rev} failed:\n{out.stderr[-2000:]}")
    return [tuple(r) for r in json.loads(out.stdout.strip().splitlines()[-1])]


def kernels_table(target: str, cap: int, before) -> None:
    rows = list(kernel_rows(target, cap))
    old = lane_ops_before(before, [list(a) for _, a, _ in rows]) if before else None
    head = f"{'shape':>13} {'path':>6} {'T':>5} | {'valid':>12} {'1% ids -1':>12} {'ratio':>6}"
    print(f"\nsuite kernels on the interpreter ({target}): lane-ops per sort")
    print(head + (f" | {'valid @' + before:>14} {'now/before':>10}" if before else ""))
    for i, (label, a, path) in enumerate(rows):
        E, k, unit, T = a[:4]
        got, _, _, valid, _ = run_case(*a)
        assert got == path, (got, path)
        hostile = Case(E, k, T, unit, seed=T, hostile_ids="minus_one", hostile_count=max(1, T * k // 100))
        _, _, _, dropped, _ = run_case(*a, case=hostile)
        line = f"{label:>13} {path:>6} {T:>5} | {valid:>12} {dropped:>12} {dropped / valid:6.3f}"
        if old:
            assert old[i][0] == path, (old[i], path)
            line += f" | {old[i][1]:>14} {valid / old[i][1]:10.4f}"
        print(line)


def _sorter(inputs, buffers, drop: bool, sync):
    d = buffers.device_inputs

    def sort():
        torch_moe_sorting(d.topk_ids, d.topk_weights, d.expert_mask, inputs.num_experts, inputs.unit_size,
                          d.num_local_tokens, buffers.sorted_ids, buffers.sorted_weights, buffers.sorted_expert_ids,
                          buffers.num_valid_ids, buffers.moe_buf, drop_invalid=drop)
        sync()
    return sort


#: Clocks: wall time, or this process's CPU time (steadier on a shared machine; with
#: ``--threads 1`` it counts the sort's own work and not the wait for a core).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved_medians(a, b, repeats: int, clock=time.perf_counter) -> tuple:
    """Median seconds of ``a`` and ``b`` by ``clock``, sampled alternately (after one
    warm-up each)."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((a, ta), (b, tb)):
            start = clock()
            fn()
            out.append(clock() - start)
    return statistics.median(ta), statistics.median(tb)


def torch_table(device: str, repeats: int, clock: str = "wall") -> None:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    clock = "wall" if device == "cuda" else clock
    print(f"\ntorch backend on {device} (torch {torch.__version__}, {torch.get_num_threads()} threads): "
          f"median ms ({clock} clock) of {repeats} interleaved sorts of valid ids")
    print(f"{'E':>4} {'k':>2} {'T':>6} {'mask':>5} | {'no check':>9} {'drop check':>10} {'ratio':>6}")
    for E, k, unit in SHAPES:
        for T in TORCH_TOKENS:
            for mask_mode in ("none", "ratio"):
                ids, w, mask, local = Case(E, k, T, unit, mask_mode=mask_mode, seed=T).materialize()
                inputs = normalize_inputs(ids, w, E, unit, mask, local)
                buffers = allocate(inputs, device)
                before, now = interleaved_medians(_sorter(inputs, buffers, False, sync),
                                                  _sorter(inputs, buffers, True, sync), repeats, CLOCKS[clock])
                print(f"{E:>4} {k:>2} {T:>6} {mask_mode:>5} | {before * 1e3:9.3f} {now * 1e3:10.3f} "
                      f"{now / before:6.3f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, metavar="REV",
                        help="also measure the kernels of this commit (e.g. the one before a kernel change)")
    parser.add_argument("--repeats", type=int, default=41, help="torch samples per variant (default 41)")
    parser.add_argument("--target", default="gfx950", choices=("gfx942", "gfx950"))
    parser.add_argument("--max-tokens", type=int, default=4096, help="T of the medium/large kernel cases")
    parser.add_argument("--skip-kernels", action="store_true", help="only the torch backend (no flydsl needed)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="torch CPU timings: wall time (default) or this process's CPU time")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.skip_kernels:
        kernels_table(args.target, args.max_tokens, args.before)
    torch_table("cpu", args.repeats, args.clock)
    if torch.cuda.is_available():
        torch_table("cuda", args.repeats)


if __name__ == "__main__":
    main()
