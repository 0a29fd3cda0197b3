"""Benchmark the golden model: median time, peak memory, and speed against the loop model.

    python -m benchmarks.bench_oracle [--repeats 7] [--loop-repeats 3]

For E=257/topk=9 and E=513/topk=9 at T = 1, 256, 4096, 65536, 262144 it
prints the vectorized model's median wall time over ``--repeats`` runs, its
peak traced memory (tracemalloc, one extra run), the loop model's median over
``--loop-repeats`` runs measured in the same process, and their ratio.
Goal: <= 50 ms for T=65536, E=513, topk=9.
"""
from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np

import oracle
from cases import Case

TOKENS = (1, 256, 4096, 65536, 262144)
SHAPES = ((257, 9), (513, 9))


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_bytes(fn) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--loop-repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"numpy {np.__version__}; medians of {args.repeats} (model) / {args.loop_repeats} (loop model) runs")
    print(f"{'E':>4} {'k':>2} {'T':>7} | {'model ms':>9} {'peak MiB':>9} | {'loop ms':>10} {'ratio':>7}")
    for E, k in SHAPES:
        for T in TOKENS:
            ids, w, mask, local = Case(E, k, T, seed=T).materialize()
            model = lambda: oracle.moe_sorting(ids, w, E, 32)  # noqa: E731
            loops = lambda: oracle.moe_sorting_loops(ids, w, E, 32)  # noqa: E731
            model()
            t_model = median_seconds(model, args.repeats)
            peak = peak_bytes(model)
            t_loop = median_seconds(loops, args.loop_repeats)
            print(f"{E:>4} {k:>2} {T:>7} | {t_model * 1e3:9.2f} {peak / 2**20:9.1f} | "
                  f"{t_loop * 1e3:10.1f} {t_loop / t_model:6.0f}x")


if __name__ == "__main__":
    main()
