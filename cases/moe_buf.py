"""``moe_buf`` layouts: the buffer a sort must zero, named ``"<dtype>x<columns>"``.

A layout gives the kernel a ``[T, columns]`` buffer of that dtype, so odd byte
counts (``uint8x3``, ``float16x3``) reach the kernels' byte-tail code.
"""
from __future__ import annotations

import numpy as np

MOE_BUF_DTYPES = ("float32", "float16", "int32", "uint8", "int8")
DEFAULT_MOE_BUF = "float32x8"


def parse_moe_buf(spec: str):
    """``(dtype, columns)`` of a layout; ValueError (naming ``Case.moe_buf``) when malformed."""
    dtype, sep, cols = str(spec).rpartition("x")
    if not sep or dtype not in MOE_BUF_DTYPES or not cols.isdigit() or int(cols) < 1:
        raise ValueError(f"Case.moe_buf={spec!r}; expected '<dtype>x<columns>' with dtype one of "
                         f"{MOE_BUF_DTYPES} and columns >= 1")
    return np.dtype(dtype), int(cols)


def moe_buf_array(spec: str, tokens: int) -> np.ndarray:
    """Zeros of the dtype and ``[tokens, columns]`` shape that ``spec`` names."""
    dtype, cols = parse_moe_buf(spec)
    return np.zeros((tokens, cols), dtype)
