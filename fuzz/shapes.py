"""Production MoE shapes (E, topk, unit_size) and the weight fuzzing gives each."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Shape:
    model: str
    num_experts: int
    topk: int
    unit_size: int
    weight: float  # relative draw frequency among production shapes


PRODUCTION_SHAPES = (
    Shape("DeepSeek-R1/V3", 257, 9, 32, 3.0),
    Shape("DeepSeek-V4", 385, 7, 32, 2.0),
    Shape("Qwen3.5", 513, 9, 32, 3.0),
    Shape("Qwen3-MoE", 128, 4, 128, 2.0),
    Shape("Qwen3-Next", 129, 7, 32, 1.5),
    Shape("GLM-4-MoE", 161, 7, 32, 1.5),
    Shape("E256-k8", 256, 8, 32, 1.0),
    Shape("E64-k6", 64, 6, 32, 1.0),
    Shape("E32-k5", 32, 5, 32, 1.0),
    Shape("Mixtral", 8, 2, 32, 1.0),
)

UNIT_SIZES = (16, 32, 64, 128, 256)
MAX_FUZZ_TOKENS = 1 << 17
