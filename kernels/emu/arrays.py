"""Array helpers shared by the interpreter's hot paths."""
from __future__ import annotations


def ndim(x) -> int:
    """Dimensions of a NumPy array or NumPy scalar, 0 for a Python number or None: what
    ``np.ndim`` gives for the interpreter's values (never lists or tuples), without its
    dispatch, which costs more than the rest of a scalar op."""
    return getattr(x, "ndim", 0)
