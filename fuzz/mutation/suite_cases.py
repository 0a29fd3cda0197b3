"""The deterministic part of the suite's ``ci`` checks for a kernel backend.

``boundary_cases(backend)`` lists, for every production shape, T on both
sides of every path boundary (both targets' thresholds: the suite's kernels'
and, when ``backend`` declares its own, the backend's), T = 0 and 1, with
and without an expert mask, with num_local_tokens < T (those two with
``moe_buf`` layouts of odd byte counts), plus the edge shapes
(E=513 topk=9, E=1024, unit sizes 16 and 256, E=1 and a one-workgroup moe_buf on the
large path, topk=130 on the medium path, E=513 under EP with every expert on), and the ids routers emit outside
the contract (``Case.hostile_ids``) on every path of E=257/topk=9: judged
under the policy they need on a backend that declares one, skipped on
others.  Cheap cases come first so a broken kernel is found quickly.  A
boundary case's seed depends on its shape and T only, so a kernel whose
boundaries moved still meets the same cases at the T values both share.
"""
from __future__ import annotations

import zlib

from cases import PRODUCTION_SHAPES, Case
from kernels.moesort.paths import path_boundaries


def boundary_cases(max_tokens: int = 4096, backend=None) -> list[Case]:
    cases: list[Case] = []
    for shape in sorted(PRODUCTION_SHAPES, key=lambda s: s.num_experts):
        E, k, u = shape.num_experts, shape.topk, shape.unit_size
        tokens = {0, 1}
        bounds = set(path_boundaries(E, k, u))
        if backend is not None and backend.path_boundaries is not None:
            for target in backend.targets:
                bounds.update(backend.path_boundaries(E, k, u, target))
        for b in sorted(bounds):
            tokens.update(t for t in (b - 1, b, b + 1) if 0 <= t <= max_tokens)
        for T in sorted(tokens):
            seed = case_seed(E, k, u, T)
            cases.append(Case(E, k, T, u, seed=seed))
            if T > 1:
                cases.append(Case(E, k, T, u, mask_mode="ratio", seed=seed + 1, moe_buf="float16x3"))
                cases.append(Case(E, k, T, u, num_local_tokens=T // 2, weights="special", seed=seed + 2,
                                  moe_buf="uint8x3"))
    cases += [Case(513, 9, 300, 16, mask_mode="one", seed=1), Case(1024, 8, 64, 256, seed=2),
              Case(1024, 8, 700, 32, routing="hot", seed=3), Case(8, 2, 100, 256, seed=4),
              Case(1, 1, 2049, 32, seed=5),     # one expert: the large path's smallest workspace
              # a moe_buf of 2049 bytes: one zeroing workgroup on the large path
              Case(8, 2, 2049, 32, seed=6, moe_buf="int8x1"),
              # topk >= 128 on the medium path: packed ids and sentinel carry the sign bit
              Case(200, 130, 17, 32, weights="special", seed=7),
              # EP with every expert on, E > 512: the local ids of experts past a 512-thread
              # block come from a serial carry (experts 510..512 all enabled and routed to)
              Case(513, 9, 300, 32, mask_mode="all_on", seed=8)]
    cases += hostile_cases()
    return sorted(cases, key=lambda c: c.tokens * c.topk + c.num_experts)


def case_seed(num_experts: int, topk: int, unit_size: int, tokens: int) -> int:
    """A case's seed from its shape and T alone, so that a case keeps its seed (and its name
    in a screen's list) when another kernel's boundaries add or remove other T values."""
    return zlib.crc32(f"{num_experts}-{topk}-{unit_size}-{tokens}".encode()) % 1_000_000 * 4


def hostile_cases() -> list[Case]:
    """Invalid ids (out of range, -1 in EP mode, E .. E + 3, repeated) at the first and last T
    of every path of E=257/topk=9 on either target.  The ``past_end`` ones (the last row among
    them, where a kernel that counts an id of E spills into the next row or past its table)
    need only ``drop``, so the outputs are judged against the golden model, not memory
    safety alone as for the ``mixed`` ones, which may repeat an expert."""
    bounds = sorted(set(path_boundaries(257, 9, 32)))
    tokens = sorted({1} | {t for b in bounds for t in (b - 1, b)})
    out = []
    for i, T in enumerate(tokens):
        out.append(Case(257, 9, T, seed=30_000 + i, hostile_ids="mixed", hostile_count=7))
        out.append(Case(257, 9, T, mask_mode="ratio", seed=31_000 + i, hostile_ids="minus_one", hostile_count=9,
                        hostile_rows="last"))
        out.append(Case(257, 9, T, seed=33_000 + i, hostile_ids="past_end", hostile_count=9, hostile_rows="last"))
    out.append(Case(257, 9, bounds[-1], seed=32_000, hostile_ids="repeat", hostile_count=5))
    return out
