"""The outputs of one MoE sort, as NumPy arrays (:class:`SortResult`)."""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from .inputs import TOKEN_BITS

TOKEN_MASK = (1 << TOKEN_BITS) - 1


@dataclasses.dataclass
class SortResult:
    """Every output of the contract.

    ``sorted_ids`` int32 [max_num_tokens_padded], ``sorted_weights`` float32
    beside it, ``sorted_expert_ids`` int32 [num_blocks], ``num_valid_ids``
    int32 [2] = [padded length, M].  Entries past ``num_valid_ids[0]`` (and
    blocks past ``num_valid_ids[0] // unit_size``) are unspecified.
    """

    sorted_ids: np.ndarray
    sorted_weights: np.ndarray
    sorted_expert_ids: np.ndarray
    num_valid_ids: np.ndarray
    sentinel: Optional[int] = None  # set by the models: (topk << 24) | M as int32

    @property
    def valid_length(self) -> int:
        return int(self.num_valid_ids[0])


def unpack_id(packed: int) -> tuple[int, int]:
    """Split a packed sorted id into (token, slot)."""
    packed = int(packed) & 0xFFFFFFFF
    return packed & TOKEN_MASK, packed >> TOKEN_BITS
