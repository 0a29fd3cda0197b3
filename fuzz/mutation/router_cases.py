"""The deterministic logits checks of a mutant of FlyDSL's router kernels (``--upstream``).

``router_cases(fused, gating)`` lists ``(backend name, LogitsCase)`` pairs: for
every production shape (E, topk) the fused entry accepts (its dispatch gives a
fused oneshot range), T = 0, 1, 2 and T on both sides of every boundary of the
fused entry's dispatch up to :data:`MAX_ROUTER_TOKENS` (both targets'), and
for the smallest such shape the first T of every path past it, on ``fused``; at each T a plain case and one of the tie and degenerate
distributions (exact and near ties, non-finite and all ``-inf`` rows, one
dominant expert, integer logits), the dtypes and ``renormalize`` taken in turn,
with an expert mask, M < T and M on the device on some.  The same unmasked
cases with T >= the gating backend's ``min_tokens`` run on ``gating``, with
:data:`GATING_EDGES` (layouts no production shape takes).  A
case's seed depends on its shape, T and variant only.

``fused_baseline_cases()``: the data of FlyDSL's ``tests/kernels/test_moe_sorting.py``
fused lists as published -- the fused oneshot list and the fallback list --
with its logits (uniform in [-2, 2), rounded to the dtype; here ``spread`` at
scale 0.04) and ``renormalize`` on: the baseline for the router kernels.
"""
from __future__ import annotations

import zlib

from cases import PRODUCTION_SHAPES, LogitsCase

#: The largest T of a router case: past it the fallback's sort is the sort's own
#: kernels, which the sort's boundary cases reach.
MAX_ROUTER_TOKENS = 160
#: Tie and degenerate distributions, taken in turn at each T.
HARD_DISTRIBUTIONS = ("ties", "near_ties", "nonfinite", "dominant", "plain", "spread")
DTYPES = ("bf16", "f32", "f16")

#: FlyDSL's fused oneshot list (T, E, topk, dtype) and its fallback list (M > 16).
FUSED_ONESHOT = [(1, 256, 8, "bf16"), (4, 256, 8, "bf16"), (8, 256, 8, "bf16"), (16, 256, 8, "bf16"),
                 (1, 128, 4, "bf16"), (8, 128, 4, "bf16"), (1, 32, 5, "bf16"), (4, 32, 5, "bf16"),
                 (8, 256, 8, "f16"), (8, 256, 8, "f32"), (7, 256, 8, "bf16"), (13, 256, 8, "bf16")]
FUSED_FALLBACK = [(32, 256, 8, "bf16"), (64, 256, 8, "bf16"), (128, 256, 8, "bf16"), (1024, 256, 8, "bf16")]


#: Gating layouts no production shape takes: E = 1024 (16 values per thread, a whole
#: wave per token: the largest E the layout accepts) in a 16-bit and a 32-bit dtype.
GATING_EDGES = (LogitsCase(1024, 8, 3, dtype="bf16", distribution="ties", seed=41),
                LogitsCase(1024, 8, 2, dtype="f32", seed=42))


def _seed(*parts) -> int:
    return zlib.crc32("-".join(map(str, parts)).encode()) % 1_000_000 * 4


def router_cases(fused, gating=None, max_tokens: int = MAX_ROUTER_TOKENS) -> list:
    """``(backend name, case)`` pairs (module docstring); ``fused`` and ``gating`` are
    backends (``kernels.registry.Backend``), ``gating`` optional."""
    out = []
    for shape in sorted(PRODUCTION_SHAPES, key=lambda s: s.num_experts):
        E, k, u = shape.num_experts, shape.topk, shape.unit_size
        bounds = {b for t in fused.targets for b in fused.path_boundaries(E, k, u, t)}
        if min(bounds) == 0:
            continue                      # the fused entry gives this shape no fused range
        if not out:                       # the smallest such shape: the first T of every path
            out += [(fused.name, LogitsCase(E, k, b, unit_size=u, seed=_seed(E, k, u, b)))
                    for b in sorted(bounds) if b > max_tokens]
        tokens = {0, 1, 2} | {t for b in bounds for t in (b - 1, b, b + 1) if 0 <= t <= max_tokens}
        for i, T in enumerate(sorted(tokens)):
            seed = _seed(E, k, u, T)
            dtype = DTYPES[i % len(DTYPES)]
            hard = HARD_DISTRIBUTIONS[(i + E) % len(HARD_DISTRIBUTIONS)]
            plain = LogitsCase(E, k, T, dtype=dtype, unit_size=u, seed=seed)
            odd = LogitsCase(E, k, T, dtype=DTYPES[(i + 1) % len(DTYPES)], distribution=hard,
                             renormalize=i % 2 == 1, unit_size=u, seed=seed + 1)
            pairs = [plain, odd]
            if T > 1:
                pairs.append(LogitsCase(E, k, T, dtype=dtype, distribution=hard, unit_size=u, mask_mode="ratio",
                                        num_local_tokens=T - 1 if i % 2 else None,
                                        local_tokens_on_device=i % 4 == 1, seed=seed + 2))
            out += [(fused.name, c) for c in pairs]
            if gating is not None:
                out += [(gating.name, c) for c in pairs
                        if c.mask_mode == "none" and c.tokens >= gating.min_tokens]
    if gating is not None:
        out += [(gating.name, c) for c in GATING_EDGES]
    return sorted(out, key=lambda p: p[1].tokens * p[1].num_experts)


def fused_baseline_cases() -> list:
    """FlyDSL's fused test lists as :class:`LogitsCase` (module docstring); 16 cases."""
    return [LogitsCase(E, k, T, dtype=dtype, distribution="spread", scale=0.04, seed=200 + i)
            for i, (T, E, k, dtype) in enumerate(FUSED_ONESHOT + FUSED_FALLBACK)]
