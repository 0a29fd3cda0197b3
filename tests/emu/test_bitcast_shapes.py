"""``llvm.bitcast`` between a scalar and a vector keeps the lane axis apart.

Regression: an 8-byte buffer load (i64 per lane) bitcast to ``vector<2xf32>``
was flattened across lanes (all lanes saw lane 0's pair), which broke FlyDSL's
top-k gating softmax (``BufferCopy(64)`` atoms of two f32) on the interpreter.
Expected values follow LLVM's definition: a bitcast reinterprets the bits of
each lane's value, little-endian element order.
"""
import numpy as np
import pytest

from tests.emu.mlir_harness import run_lanes

pytestmark = pytest.mark.interpreter


@pytest.mark.parametrize("uniform", [False, True])
def test_i64_to_vector_of_two_f32_per_lane(uniform):
    pairs = (np.arange(128, dtype=np.float32) * 0.5 - 7).reshape(64, 2)
    packed = pairs.copy().view(np.int64).reshape(64)
    body = """
    %v = llvm.bitcast %a0 : i64 to vector<2xf32>
    %e0 = vector.extract %v[0] : f32 from vector<2xf32>
    %e1 = vector.extract %v[1] : f32 from vector<2xf32>
    %c = arith.constant 1000.0 : f32
    %s = arith.mulf %e1, %c : f32
    %r = arith.addf %e0, %s : f32"""
    if uniform:
        for j in (0, 5):
            got = run_lanes(body, ["i64"], "f32", [packed[j]], uniform=True)
            assert (got == pairs[j, 0] + pairs[j, 1] * np.float32(1000)).all()
    else:
        got = run_lanes(body, ["i64"], "f32", [packed])
        np.testing.assert_array_equal(got, pairs[:, 0] + pairs[:, 1] * np.float32(1000))


def test_vector_of_two_i32_to_i64_per_lane():
    a = np.arange(64, dtype=np.int32) * 3 + 1
    body = """
    %c = arith.constant 65536 : i32
    %hi = arith.muli %a0, %c : i32
    %v0 = vector.broadcast %a0 : i32 to vector<2xi32>
    %v = vector.insert %hi, %v0 [1] : i32 into vector<2xi32>
    %r = llvm.bitcast %v : vector<2xi32> to i64"""
    got = run_lanes(body, ["i32"], "i64", [a])
    expect = (a.astype(np.int64) & 0xFFFFFFFF) | ((a.astype(np.int64) * 65536) << 32)
    np.testing.assert_array_equal(got, expect)
