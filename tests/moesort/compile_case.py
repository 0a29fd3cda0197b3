"""Compile one sort of the suite's FlyDSL kernels on the CPU (run as a script).

``python tests/moesort/compile_case.py E TOPK T UNIT MASK TARGET [M]`` with
``COMPILE_ONLY=1`` in the environment: FlyDSL runs its whole pipeline for
every kernel the chosen path launches, and runs none.  Prints ``path=<name>``.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv):
    import numpy as np
    import torch

    from kernels.moesort import allocate_outputs, moe_sorting

    E, topk, T, unit, mask = (int(a) for a in argv[:5])
    target = argv[5]
    m = int(argv[6]) if len(argv) > 6 else None
    rng = np.random.default_rng(0)
    ids = np.stack([rng.permutation(E)[:topk] for _ in range(T)]).reshape(T, topk).astype(np.int32)
    outs = allocate_outputs(T, topk, E, unit)
    em = torch.ones(E, dtype=torch.int32) if mask else None
    path = moe_sorting(torch.from_numpy(ids), torch.rand(T, topk), *outs, E, unit, em, m, target=target)
    print(f"path={path}")


if __name__ == "__main__":
    main(sys.argv[1:])
