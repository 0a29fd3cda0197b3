"""Independent Python references and inputs for the per-op tests.

Integers are Python ints (unbounded), reduced to a width with :func:`wrap` /
:func:`u`; floats are computed in float64 or exactly and rounded once.
Random inputs come from a seed of the running test's id (:func:`test_rng`), so
a test sees the same inputs whatever ran before it and whichever xdist worker
runs it.
"""
import os
import zlib

import numpy as np

from tests.emu.mlir_harness import run_lanes

W = {"i8": 8, "i16": 16, "i32": 32, "i64": 64}
DT = {"i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64}


def wrap(x, w):
    x &= (1 << w) - 1
    return x - (1 << w) if x >> (w - 1) else x


def u(x, w):
    return x & ((1 << w) - 1)


def test_rng(*salt) -> np.random.Generator:
    """A generator seeded by the running test's id and ``salt``: the same inputs for that
    test in any order, on any worker."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    return np.random.default_rng(zlib.crc32("|".join(map(str, (test, *salt))).encode()))


test_rng.__test__ = False      # a helper, not a test


def edge_values(t, n=64, draw=0):
    """``n`` values of int type ``t``: the edges, then random ones (``draw``: another set)."""
    w = W[t]
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    edges = [0, 1, -1, 2, -2, 3, 7, -7, lo, hi, lo + 1, hi - 1]
    rng = test_rng(t, n, draw)
    vals = edges + [int(v) for v in rng.integers(lo, hi, size=n - len(edges), endpoint=True)]
    return np.array(vals[:n], dtype=DT[t])


def both(body, tys, out, ins, ref):
    """Check the op per-lane and uniform (first 4 lanes' values as scalars)."""
    got = run_lanes(body, tys, out, ins)
    exp = np.array([ref(*[int(x) if np.issubdtype(np.asarray(x).dtype, np.integer) or x.dtype == bool else x
                         for x in col]) for col in zip(*ins)])
    np.testing.assert_array_equal(got.astype(np.int64) if got.dtype != bool else got, exp)
    for j in range(4):
        g = run_lanes(body, tys, out, [a[j] for a in ins], uniform=True)
        assert (g == got[j]).all(), (body, [a[j] for a in ins], g[0], got[j])


def bf16_round(x):
    """Independent reference: float32 -> bf16 bits, round-to-nearest-even (Python ints)."""
    out = []
    for v in np.asarray(x, np.float32).reshape(-1):
        b = int(np.float32(v).view(np.uint32))
        if np.isnan(v):
            out.append((b >> 16) | 0x40)
            continue
        low = b & 0xFFFF
        hi = b >> 16
        if low > 0x8000 or (low == 0x8000 and hi & 1):
            hi += 1
        out.append(hi & 0xFFFF)
    return np.array(out, np.uint16)


def floats(vals, dt):
    with np.errstate(over="ignore"):
        return np.array(vals, dtype=dt)


FVALS = [0.0, -0.0, 1.0, -1.5, 3.140625, 1e-3, 65504.0, 1e30, -2.5e-8, 0.1, 7.0, 1.0 / 3]


