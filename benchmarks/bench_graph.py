"""Eager launch vs CUDA/HIP graph replay of the torch backend at decode sizes.

    python -m benchmarks.bench_graph [--repeats 200]

Needs a CUDA or ROCm GPU.  For E=257/topk=9 (DeepSeek) at T = 1, 4, 16, 64,
256, 1024 it checks that graph replay gives the same outputs as an eager
launch (and as the golden model), then prints the median time of one eager
launch and one replay (CUDA events, ``--repeats`` samples each, measured side
by side in one run) and their ratio.
"""
from __future__ import annotations

import argparse
import statistics

import torch

import oracle
from cases import Case
from kernels.harness import allocate, launch_and_read
from kernels.registry import get


def time_ms(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_graph: needs a CUDA/HIP GPU (torch.cuda.is_available() is False)")
    backend = get("torch-cuda")
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; medians of {args.repeats}")
    print(f"{'T':>6} | {'eager ms':>9} {'graph ms':>9} {'ratio':>6} | same as eager, as golden model")
    for T in (1, 4, 16, 64, 256, 1024):
        case = Case(257, 9, T, seed=T)
        ids, w, mask, local = case.materialize()
        inputs = oracle.normalize_inputs(ids, w, 257, 32, mask, local)
        eager = launch_and_read(backend, inputs)
        graphed = launch_and_read(backend, inputs, graph=True)
        same = all(
            (getattr(eager, n) == getattr(graphed, n)).all() for n in ("sorted_ids", "sorted_expert_ids", "num_valid_ids"))
        golden = oracle.compare(oracle.sort_validated(inputs), graphed).ok
        buffers = allocate(inputs, "cuda")
        launch = lambda: backend.launch(inputs, buffers, None)  # noqa: E731
        launch()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            launch()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            launch()
        t_eager = time_ms(launch, args.repeats)
        t_graph = time_ms(graph.replay, args.repeats)
        print(f"{T:>6} | {t_eager:9.3f} {t_graph:9.3f} {t_eager / t_graph:5.1f}x | {same}, {golden}")


if __name__ == "__main__":
    main()
