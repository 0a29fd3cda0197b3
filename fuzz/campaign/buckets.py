"""Shape buckets for campaign statistics and the coverage heat map."""
from __future__ import annotations

TOKEN_EDGES = (0, 1, 2, 64, 512, 2048, 16384, 65536, 1 << 30)
EXPERT_EDGES = (1, 9, 33, 129, 257, 513, 1025)


def _label(edges, value: int) -> str:
    for lo, hi in zip(edges, edges[1:]):
        if lo <= value < hi:
            return str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}" if hi < (1 << 30) else f"{lo}+"
    return f"{edges[-1]}+"


def token_bucket(tokens: int) -> str:
    return "T" + _label(TOKEN_EDGES, tokens)


def expert_bucket(num_experts: int) -> str:
    return "E" + _label(EXPERT_EDGES, num_experts)


def shape_bucket(num_experts: int, tokens: int) -> str:
    return f"{expert_bucket(num_experts)}/{token_bucket(tokens)}"
