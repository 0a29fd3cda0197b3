"""Hypothesis strategies producing :class:`cases.Case` values.

``cases()`` mixes production shapes (weighted by importance) with arbitrary
ones (E in [1, 1024], topk in [1, min(E, 255)], mostly <= 16), T from 0 to
``max_tokens`` biased towards kernel path boundaries, every expert-mask mode,
unit sizes 16..256, num_local_tokens < T, skewed routing and special weights.
``cases(hostile=...)`` also plants invalid expert ids (``cases.hostile``):
``"off"`` (the default: never), ``"on"`` (about one case in
:data:`HOSTILE_ONE_IN`) or ``"only"`` (every case, with at least one counted
row); which kind, how many and in which rows are drawn too.
``logits_cases()`` produces :class:`cases.LogitsCase` values, the input of the
backends that take router logits.
``contract_violations()`` is the opt-in strategy for inputs outside the
contract: it yields ``(kwargs, field)`` where ``field`` is what the
``ContractViolation`` must name.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from cases import (
    DEFAULT_MOE_BUF,
    DISTRIBUTIONS,
    GENERIC_EDGES,
    HOSTILE_KINDS,
    HOSTILE_ROWS,
    LOGIT_DTYPES,
    MASK_MODES,
    MAX_FUZZ_TOKENS,
    PRODUCTION_SHAPES,
    ROUTINGS,
    UNIT_SIZES,
    WEIGHT_MODES,
    Case,
    LogitsCase,
)
from kernels.moesort.paths import path_boundaries

# Smallest first, so that shrinking moves towards the smallest production shape.
#: moe_buf layouts whose byte size is not a multiple of 16 (or of 4, for odd T)
ODD_MOE_BUFS = ("uint8x3", "int8x1", "float16x3", "float32x1", "int32x5")

#: Modes of ``cases(hostile=...)``, and how rarely ``"on"`` plants invalid ids.
HOSTILE_MODES = ("off", "on", "only")
HOSTILE_ONE_IN = 10

_WEIGHTED_SHAPES = tuple(s for s in sorted(PRODUCTION_SHAPES, key=lambda s: (s.num_experts, s.topk))
                         for _ in range(int(s.weight * 2)))


@st.composite
def shapes(draw, production_only: bool = False, max_experts: int = 1024):
    """(num_experts, topk, unit_size): production (weighted) or arbitrary."""
    if production_only or draw(st.integers(0, 9)) < 6:
        s = draw(st.sampled_from(_WEIGHTED_SHAPES))
        if s.num_experts <= max_experts:
            return s.num_experts, s.topk, s.unit_size
    E = draw(st.integers(1, max_experts))
    topk = draw(st.one_of(st.integers(1, min(E, 16)), st.integers(1, min(E, 255))))
    return E, topk, draw(st.sampled_from(UNIT_SIZES))


def interesting_tokens(num_experts: int, topk: int, unit_size: int, max_tokens: int) -> tuple[int, ...]:
    """The kernels' path boundaries ±1 and the generic edges, capped at ``max_tokens``."""
    near = {b + d for b in path_boundaries(num_experts, topk, unit_size) for d in (-1, 0, 1)}
    return tuple(sorted(t for t in near | set(GENERIC_EDGES) if 0 <= t <= max_tokens))


@st.composite
def token_counts(draw, num_experts: int, topk: int, unit_size: int, max_tokens: int):
    """T in [0, max_tokens]: near a path boundary, small, or log-uniform."""
    kind = draw(st.integers(0, 9))
    if kind < 4:
        edges = interesting_tokens(num_experts, topk, unit_size, max_tokens)
        if edges:
            return draw(st.sampled_from(edges))
    if kind < 6:
        return draw(st.integers(0, min(64, max_tokens)))
    top = max(max_tokens, 1).bit_length()
    exponent = draw(st.integers(1, top))
    return draw(st.integers(min(1 << (exponent - 1), max_tokens), min((1 << exponent) - 1, max_tokens)))


@st.composite
def cases(
    draw,
    max_tokens: int = MAX_FUZZ_TOKENS,
    production_only: bool = False,
    max_experts: int = 1024,
    mask_modes=MASK_MODES,
    routings=ROUTINGS,
    weight_modes=WEIGHT_MODES,
    tokens=None,
    hostile: str = "off",
):
    """A :class:`Case`; ``tokens`` (a strategy) overrides the T distribution; ``hostile``
    (:data:`HOSTILE_MODES`) whether it plants invalid ids (module docstring)."""
    if hostile not in HOSTILE_MODES:
        raise ValueError(f"hostile={hostile!r}; expected one of {HOSTILE_MODES}")
    E, topk, unit = draw(shapes(production_only, max_experts))
    T = draw(tokens if tokens is not None else token_counts(E, topk, unit, max_tokens))
    plant = hostile == "only" or (hostile == "on" and draw(st.integers(0, HOSTILE_ONE_IN - 1)) == 0)
    if plant and T == 0:
        T = draw(st.integers(1, min(64, max(max_tokens, 1))))
    local = None
    if T and draw(st.integers(0, 4)) == 0:
        low = 1 if plant else 0     # a hostile case keeps a counted row to plant into
        local = draw(st.integers(low, T - 1)) if T - 1 >= low else None
    mask_mode = draw(st.sampled_from(("none",) * 3 + tuple(mask_modes))) if "none" in mask_modes \
        else draw(st.sampled_from(tuple(mask_modes)))
    ratio = draw(st.sampled_from((0.5, 0.1, 0.9, 0.25))) if mask_mode == "ratio" else 0.5
    routing = draw(st.sampled_from(("uniform",) * 2 + tuple(routings))) if "uniform" in routings \
        else draw(st.sampled_from(tuple(routings)))
    weights = draw(st.sampled_from(("uniform",) * 2 + tuple(weight_modes))) if "uniform" in weight_modes \
        else draw(st.sampled_from(tuple(weight_modes)))
    seed = draw(st.integers(0, 2**32 - 1))
    moe_buf = draw(st.sampled_from((DEFAULT_MOE_BUF,) * 4 + ODD_MOE_BUFS))
    bad = draw(hostile_modes(topk)) if plant else {}
    on_device = draw(st.integers(0, 3)) == 0      # M as the one-element device tensor, one case in four
    return Case(E, topk, T, unit, local, mask_mode, ratio, routing, weights, seed, moe_buf, **bad,
                local_tokens_on_device=on_device)


@st.composite
def hostile_modes(draw, topk: int):
    """Keyword arguments of a :class:`Case` that plants invalid ids: kind (``repeat`` only
    with topk >= 2), count (mostly 1 to 4, up to 64) and rows."""
    kinds = tuple(k for k in HOSTILE_KINDS[1:] if k != "repeat" or topk > 1)
    count = draw(st.one_of(st.integers(1, 4), st.integers(1, 64)))
    return dict(hostile_ids=draw(st.sampled_from(kinds)), hostile_count=count,
                hostile_rows=draw(st.sampled_from(HOSTILE_ROWS)))


def _valid_kwargs(rng, E=16, k=4, T=8, unit=32):
    ids = np.argsort(rng.random((T, E)), axis=1)[:, :k].astype(np.int32)
    return dict(topk_ids=np.ascontiguousarray(ids), topk_weights=rng.random((T, k), dtype=np.float32),
                num_experts=E, unit_size=unit, expert_mask=None, num_local_tokens=None)


@st.composite
def contract_violations(draw):
    """(kwargs for oracle.moe_sorting, field the ContractViolation must name)."""
    rng = np.random.Generator(np.random.PCG64(draw(st.integers(0, 2**32 - 1))))
    kw = _valid_kwargs(rng, T=draw(st.integers(1, 12)))
    T, k = kw["topk_ids"].shape
    kind = draw(st.sampled_from((
        "dup", "id_high", "id_negative", "unit_not_pow2", "unit_zero", "mask_length",
        "mask_value", "ids_dtype", "weights_dtype", "ids_noncontig", "weights_shape",
        "m_over_t", "m_negative", "m_tensor_over_t", "m_tensor_dtype", "m_tensor_shape", "topk_too_big",
        "experts_zero",
    )))
    row, slot = draw(st.integers(0, T - 1)), draw(st.integers(0, k - 1))
    if kind == "dup":
        other = (slot + 1) % k
        kw["topk_ids"][row, other] = kw["topk_ids"][row, slot]
        return kw, "topk_ids"
    if kind == "id_high":
        kw["topk_ids"][row, slot] = kw["num_experts"] + draw(st.integers(0, 1000))
        return kw, "topk_ids"
    if kind == "id_negative":
        kw["topk_ids"][row, slot] = -draw(st.integers(1, 2**31))
        return kw, "topk_ids"
    if kind == "unit_not_pow2":
        kw["unit_size"] = draw(st.sampled_from((3, 5, 6, 24, 48, 96, 100)))
        return kw, "unit_size"
    if kind == "unit_zero":
        kw["unit_size"] = draw(st.integers(-64, 0))
        return kw, "unit_size"
    if kind == "mask_length":
        kw["expert_mask"] = np.ones(kw["num_experts"] + draw(st.sampled_from((-1, 1, 5))), np.int32)
        return kw, "expert_mask"
    if kind == "mask_value":
        mask = np.ones(kw["num_experts"], np.int32)
        mask[draw(st.integers(0, kw["num_experts"] - 1))] = draw(st.sampled_from((2, -1, 255)))
        kw["expert_mask"] = mask
        return kw, "expert_mask"
    if kind == "ids_dtype":
        kw["topk_ids"] = kw["topk_ids"].astype(draw(st.sampled_from((np.int64, np.int16, np.uint32))))
        return kw, "topk_ids"
    if kind == "weights_dtype":
        kw["topk_weights"] = kw["topk_weights"].astype(draw(st.sampled_from((np.float64, np.float16))))
        return kw, "topk_weights"
    if kind == "ids_noncontig":
        kw["topk_ids"] = kw["topk_ids"].repeat(2, axis=1)[:, ::2]  # a strided view (k = 4)
        return kw, "topk_ids"
    if kind == "weights_shape":
        kw["topk_weights"] = np.ones((T + 1, k), np.float32)
        return kw, "topk_weights"
    if kind == "m_over_t":
        kw["num_local_tokens"] = T + draw(st.integers(1, 10))
        return kw, "num_local_tokens"
    if kind == "m_negative":
        kw["num_local_tokens"] = -draw(st.integers(1, 10))
        return kw, "num_local_tokens"
    if kind == "m_tensor_over_t":
        kw["num_local_tokens"] = np.array([T + draw(st.integers(1, 10))], np.int32)
        return kw, "num_local_tokens"
    if kind == "m_tensor_dtype":
        kw["num_local_tokens"] = np.array([0], draw(st.sampled_from((np.int64, np.uint32, np.float32))))
        return kw, "num_local_tokens"
    if kind == "m_tensor_shape":
        kw["num_local_tokens"] = np.zeros(draw(st.sampled_from(((0,), (2,), (1, 2)))), np.int32)
        return kw, "num_local_tokens"
    if kind == "topk_too_big":
        kw["num_experts"] = 300
        kw["topk_ids"] = np.zeros((1, 256), np.int32)
        kw["topk_weights"] = np.zeros((1, 256), np.float32)
        return kw, "topk"
    kw["num_experts"] = 0
    return kw, "num_experts"


#: Expert counts of the logits cases: every one FlyDSL's gating layout takes (powers of two),
#: smallest first so that shrinking moves towards small E.
LOGITS_EXPERTS = (2, 4, 8, 16, 32, 64, 128, 256, 512)
#: Token counts every logits case set draws near: the fused oneshot kernel's bounds (M <= 8 or 16).
LOGITS_EDGES = (0, 1, 2, 7, 8, 9, 15, 16, 17)
#: Logit scales, plainest first.
LOGITS_SCALES = (1.0, 0.01, 3.0, 10.0, 30.0)
_WEIGHTED_DISTRIBUTIONS = ("plain", "normal", "normal", "normal") + tuple(d for d in DISTRIBUTIONS[2:])


@st.composite
def logits_cases(draw, max_tokens: int = MAX_FUZZ_TOKENS, sort: bool = True, boundaries=None,
                 max_experts: int = 512, min_tokens: int = 0):
    """A :class:`cases.LogitsCase`: E a power of two up to ``max_experts``, topk mostly up
    to 16, T near the fused oneshot bounds and ``boundaries(E, topk, unit_size)`` (a
    backend's path boundaries; None: none) +-1 (one case in ten near the last one), small,
    or (one case in ten) log-uniform up to ``max_tokens``; every dtype, distribution and scale, ``renormalize`` on and off.
    ``sort``: the case also draws what only a sort takes (a mask, M < T, M on the device,
    the unit size); without it those stay at their defaults (the gating kernel's input).
    T is at least ``min_tokens``."""
    E = draw(st.sampled_from(tuple(e for e in LOGITS_EXPERTS if e <= max_experts)))
    topk = draw(st.one_of(st.integers(1, min(E, 16)), st.integers(1, min(E, 32))))
    unit = draw(st.sampled_from(UNIT_SIZES)) if sort else 32
    kind = draw(st.integers(0, 9))
    edges = set(LOGITS_EDGES)
    if boundaries is not None:
        edges |= {b + d for b in boundaries(E, topk, unit) for d in (-1, 0, 1)}
    if kind < 4:                                # small first, so that T shrinks towards 0
        T = draw(st.integers(0, min(64, max_tokens)))
    elif kind == 4 and boundaries is not None:  # the last path: one case in ten
        T = draw(st.sampled_from(sorted(t for t in edges if 0 <= t <= max_tokens and t >= max(edges) - 2) or [0]))
    elif kind < 9:
        T = draw(st.sampled_from(sorted(t for t in edges if 0 <= t <= max_tokens) or [0]))
    else:
        T = draw(token_counts(E, topk, unit, max_tokens))
    distribution = draw(st.sampled_from(_WEIGHTED_DISTRIBUTIONS))
    T = max(T, min(min_tokens, max_tokens))
    local, mask_mode, ratio, on_device = None, "none", 0.5, False
    if sort:
        if T and draw(st.integers(0, 4)) == 4:     # one case in five; shrinks to no M of its own
            local = draw(st.integers(0, T - 1))
        # a mask hides a near-tie or degenerate row's choice (inconclusive): rarer there
        rare = distribution in ("near_ties", "nonfinite")
        mask_mode = draw(st.sampled_from(("none",) * (40 if rare else 8) + MASK_MODES))
        ratio = draw(st.sampled_from((0.5, 0.1, 0.9, 0.25))) if mask_mode == "ratio" else 0.5
        on_device = draw(st.integers(0, 3)) == 3    # one case in four; shrinks to M as an int
    return LogitsCase(
        num_experts=E, topk=topk, tokens=T, dtype=draw(st.sampled_from(LOGIT_DTYPES)),
        distribution=distribution, scale=draw(st.sampled_from(LOGITS_SCALES)),
        renormalize=not draw(st.booleans()), unit_size=unit, num_local_tokens=local, mask_mode=mask_mode,
        mask_ratio=ratio, local_tokens_on_device=on_device, seed=draw(st.integers(0, 2**32 - 1)))
