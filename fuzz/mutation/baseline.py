"""The fixed-list baseline: FlyDSL's own MoE-sorting test shapes.

The shapes below are the data of the default (non-"full") parameter lists of
FlyDSL's ``tests/kernels/test_moe_sorting.py`` — its oneshot, multiphase and
EP lists, as published — with unit size 32 (its ``UNIT_SIZE``).  That file
compares each expert block as a set (``per_block``), so the baseline does the
same.  31 cases.
"""
from __future__ import annotations

from cases import Case

ONESHOT = [(1, 256, 8), (1, 32, 5), (4, 256, 8), (8, 256, 8), (16, 256, 8), (32, 256, 8),
           (64, 256, 8), (1, 8, 2), (7, 32, 5), (31, 64, 6), (1, 257, 9), (16, 257, 9),
           (16, 513, 9)]
MULTIPHASE = [(128, 256, 8), (512, 256, 8), (1024, 256, 8), (2048, 256, 8), (1024, 257, 9),
              (1024, 513, 9)]
EP = [(4, 256, 8, 0.5), (8, 256, 8, 0.3), (64, 256, 8, 0.5), (128, 256, 8, 0.7),
      (2048, 256, 8, 0.5), (4, 256, 8, 1.0), (64, 256, 8, 1.0), (4, 256, 8, 0.0),
      (8, 257, 9, 0.5), (1024, 257, 9, 0.5), (8, 513, 9, 0.5), (1024, 513, 9, 0.5)]


def baseline_cases() -> list[Case]:
    cases = [Case(E, k, T, seed=i) for i, (T, E, k) in enumerate(ONESHOT + MULTIPHASE)]
    for i, (T, E, k, ratio) in enumerate(EP):
        mode = {1.0: "all_on", 0.0: "all_off"}.get(ratio, "ratio")
        cases.append(Case(E, k, T, mask_mode=mode, mask_ratio=ratio, seed=100 + i))
    return cases
