"""Our own small FlyDSL kernels on the interpreter, checked against NumPy with Hypothesis."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels.emu as emu
from tests.emu import sample_kernels as K

pytestmark = pytest.mark.interpreter
FEW = settings(max_examples=15)      # each example is a kernel launch; keep the test well under 20 s


@FEW
@given(n=st.integers(1, 2000), seed=st.integers(0, 2**31))
def test_vector_add_masked_tail(n, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, generator=g), torch.randn(n, generator=g)
    c = torch.full((n,), float("nan"))
    with emu.emulate("gfx950"):
        K.launch_vadd(a, b, c, n)
    assert torch.equal(c, a + b)


_SCANS = {}


@FEW
@given(block=st.sampled_from([64, 128, 256, 512]), seed=st.integers(0, 2**31))
def test_block_dpp_prefix_sum(block, seed):
    x = torch.from_numpy(np.random.default_rng(seed).integers(-1000, 1000, block).astype(np.int32))
    y = torch.zeros(block, dtype=torch.int32)
    launch = _SCANS.setdefault(block, K.make_scan(block))
    with emu.emulate("gfx950"):
        launch(x, y, block)
    np.testing.assert_array_equal(y.numpy(), np.cumsum(x.numpy()).astype(np.int32))


_HISTS = {}


@FEW
@given(nbins=st.sampled_from([1, 16, 100, 300]), n=st.integers(0, 400), seed=st.integers(0, 2**31))
def test_lds_histogram(nbins, n, seed):
    x = torch.from_numpy(np.random.default_rng(seed).integers(0, nbins, n).astype(np.int32))
    h = torch.full((nbins,), -1, dtype=torch.int32)
    launch = _HISTS.setdefault(nbins, K.make_histogram(nbins))
    with emu.emulate("gfx950"):
        launch(x if n else torch.zeros(1, dtype=torch.int32), h, n)
    np.testing.assert_array_equal(h.numpy(), np.bincount(x.numpy(), minlength=nbins))


@FEW
@given(n=st.integers(1, 5000), grid=st.integers(1, 8))
def test_grid_stride_zero_fill(n, grid):
    y = torch.arange(1, n + 1, dtype=torch.int32)
    pad = torch.full((8,), 5, dtype=torch.int32)      # bytes after n (same storage) must survive
    buf = torch.cat([y, pad])
    with emu.emulate("gfx942"):
        K.launch_zero(buf[:n], n, grid)
    assert (buf[:n] == 0).all()
    assert (buf[n:] == 5).all()        # the tail of the last vec4 is out of the descriptor: per-dword check


@FEW
@given(n=st.integers(1, 700), frac=st.floats(0, 1.2))
def test_buffer_oob_masked_copy(n, frac):
    n_valid = int(n * frac)
    x = torch.arange(n + 64, dtype=torch.int32) + 1
    y = torch.full((n,), -1, dtype=torch.int32)
    # stores go through a descriptor of exactly n elements, loads through one of n_valid
    with emu.emulate("gfx950"):
        K.launch_oob_copy(x, y, n_valid, n)
    exp = np.where(np.arange(n) < n_valid, x.numpy()[:n], 0)
    np.testing.assert_array_equal(y.numpy(), exp)
