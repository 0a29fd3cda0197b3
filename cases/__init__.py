"""What a test case is: a :class:`Case` (a seed and knobs that rebuild its inputs),
``moe_buf`` layouts, the production MoE shapes and generic token counts.

Below ``kernels``, ``regressions`` and ``fuzz``, above only ``oracle``: it
knows nothing of kernels or their paths (path boundaries are
``kernels.moesort.path_boundaries``).
"""
from .case import MASK_MODES, ROUTINGS, SPECIAL_WEIGHT_BITS, WEIGHT_MODES, Case
from .hostile import HOSTILE_KINDS, HOSTILE_ROWS
from .logits import DISTRIBUTIONS, LOGIT_DTYPES, LogitsCase, RouterInputs, case_from_dict
from .moe_buf import DEFAULT_MOE_BUF, MOE_BUF_DTYPES, moe_buf_array, parse_moe_buf
from .shapes import (
                     GENERIC_EDGES,
                     MAX_FUZZ_TOKENS,
                     PRODUCTION_SHAPES,
                     UNIT_SIZES,
                     Shape,
                     filter_shapes,
                     shape_from_label,
)

__all__ = [
    "Case", "DEFAULT_MOE_BUF", "DISTRIBUTIONS", "LOGIT_DTYPES", "LogitsCase", "RouterInputs", "case_from_dict", "GENERIC_EDGES", "HOSTILE_KINDS", "HOSTILE_ROWS", "MASK_MODES", "MAX_FUZZ_TOKENS", "MOE_BUF_DTYPES",
    "PRODUCTION_SHAPES", "ROUTINGS", "SPECIAL_WEIGHT_BITS", "Shape", "UNIT_SIZES", "WEIGHT_MODES",
    "filter_shapes", "moe_buf_array", "parse_moe_buf", "shape_from_label",
]
