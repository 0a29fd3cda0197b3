"""Production MoE shapes (E, topk, unit_size), the weight fuzzing gives each, and token counts.

``filter_shapes`` / ``shape_from_label`` pick shapes by label (``E257-k9-u32``)
or model name, or parse an ad-hoc one.  ``GENERIC_EDGES`` are token counts
worth trying on any kernel (0, 1, wave and workgroup sizes, powers of two).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Sequence


@dataclasses.dataclass(frozen=True)
class Shape:
    model: str
    num_experts: int
    topk: int
    unit_size: int
    weight: float  # relative draw frequency among production shapes

    @property
    def label(self) -> str:
        return f"E{self.num_experts}-k{self.topk}-u{self.unit_size}"


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
GENERIC_EDGES = (0, 1, 2, 3, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257,
                 511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097)


def filter_shapes(shapes: Iterable[Shape], patterns: Sequence[str]) -> list:
    """Shapes whose label ``E<E>-k<topk>-u<unit>`` or model name contains any pattern."""
    shapes = list(shapes)
    if not patterns:
        return shapes
    return [s for s in shapes
            if any(p.lower() in s.label.lower() or p.lower() in s.model.lower() for p in patterns)]


def shape_from_label(label: str) -> Shape:
    """Parse ``E257-k9-u32`` (or ``257,9,32``) into an ad-hoc Shape."""
    m = re.fullmatch(r"E?(\d+)[-,/:kK]+(\d+)(?:[-,/:uU]+(\d+))?", label.strip())
    if not m:
        raise ValueError(f"shape {label!r}: expected E<experts>-k<topk>[-u<unit>] or E,topk[,unit]")
    e, k, u = int(m.group(1)), int(m.group(2)), int(m.group(3) or 32)
    return Shape(f"E{e}-k{k}-u{u}", e, k, u, 0.0)
