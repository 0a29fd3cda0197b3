"""Kernels written against FlyDSL's legacy ``SmemAllocator`` (``smem_sample_kernels.py``) on the
interpreter, on both targets: the correct ones match NumPy, each broken twin is caught by the
sanitizer check its bug calls for -- and in ``findings="record"`` mode is recorded while the
launch goes on as the hardware would."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels.emu as emu
from tests.emu import smem_sample_kernels as S

pytestmark = pytest.mark.interpreter
FEW = settings(max_examples=8, deadline=None)     # each example is a kernel launch
TARGETS = ["gfx942", "gfx950"]
_BUILT = {}


def _kernel(make, *args, **kw):
    key = (make.__name__, args, tuple(sorted(kw.items())))
    if key not in _BUILT:
        _BUILT[key] = make(*args, **kw)
    return _BUILT[key]


@FEW
@given(target=st.sampled_from(TARGETS), nbins=st.sampled_from([1, 16, 100, 300]), n=st.integers(0, 400),
       seed=st.integers(0, 2**31))
def test_histogram_matches_bincount(target, nbins, n, seed):
    x = torch.from_numpy(np.random.default_rng(seed).integers(0, nbins, n).astype(np.int32))
    h = torch.full((nbins + 1,), -1, dtype=torch.int32)
    with emu.emulate(target):
        _kernel(S.make_smem_histogram, nbins)(x if n else torch.zeros(1, dtype=torch.int32), h, n)
    np.testing.assert_array_equal(h.numpy(), np.append(np.bincount(x.numpy(), minlength=nbins), n))


@FEW
@given(target=st.sampled_from(TARGETS), block=st.sampled_from([64, 128, 256, 512]), grid=st.integers(1, 3),
       seed=st.integers(0, 2**31))
def test_scan_matches_cumsum_per_workgroup(target, block, grid, seed):
    x = np.random.default_rng(seed).integers(-1000, 1000, grid * block).astype(np.int32)
    y = torch.zeros(grid * block, dtype=torch.int32)
    with emu.emulate(target):
        _kernel(S.make_smem_scan, block, grid)(torch.from_numpy(x), y)
    np.testing.assert_array_equal(y.numpy(), np.cumsum(x.reshape(grid, block), axis=1).reshape(-1))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("block", [64, 128, 256])
def test_layout_of_three_types_matches_numpy(target, block):
    x = np.random.default_rng(block).integers(-(2**20), 2**20, block).astype(np.int32)
    y = torch.zeros(block, dtype=torch.int32)
    with emu.emulate(target):
        _kernel(S.make_smem_layout, block)(torch.from_numpy(x), y)
    o = (np.arange(block) + 1) % block
    np.testing.assert_array_equal(y.numpy(), x[o] + o + o)      # keys + int(0.5 * o * 2) + tag


def _histogram_past_view(target, findings="raise"):
    x = torch.arange(40, dtype=torch.int32) % 16
    h = torch.full((17,), -1, dtype=torch.int32)
    with emu.emulate(target, findings=findings):
        _kernel(S.make_smem_histogram, 16, bug="past-view")(x, h, 40)
    return h


@pytest.mark.parametrize("target", TARGETS)
def test_store_one_past_a_view_is_out_of_bounds_naming_the_view(target):
    with pytest.raises(emu.OutOfBoundsError, match=r"index \[16\] is outside view memref<16xi32.*"
                                                   r"@hist_smem_16.*shape 16\)") as e:
        _histogram_past_view(target)
    assert e.value.op == "memref.store"


@pytest.mark.parametrize("target", TARGETS)
def test_store_one_past_a_view_recorded_and_run_as_the_hardware_would(target):
    h = _histogram_past_view(target, findings="record")
    found = emu.last_findings()
    assert [(f.check, f.op, f.count) for f in found] == [("lds-view-out-of-bounds", "memref.store", 1)]
    # the stray store landed in the next view (the total), which thread 0 sets after the barrier
    np.testing.assert_array_equal(h.numpy(), np.append(np.bincount(np.arange(40) % 16, minlength=16), 40))


@pytest.mark.parametrize("target", TARGETS)
def test_missing_barrier_is_a_race(target):
    x = torch.arange(256, dtype=torch.int32)
    with pytest.raises(emu.RaceError, match="LDS word"):
        with emu.emulate(target):
            _kernel(S.make_smem_scan, 256, bug="no-barrier")(x, torch.zeros(256, dtype=torch.int32))


@pytest.mark.parametrize("target", TARGETS)
def test_read_of_a_view_word_never_written_is_uninitialized(target):
    x = torch.arange(128, dtype=torch.int32)
    with pytest.raises(emu.UninitializedReadError) as e:
        with emu.emulate(target):
            _kernel(S.make_smem_layout, 128, bug="uninit")(x, torch.zeros(128, dtype=torch.int32))
    assert e.value.op == "memref.load"


@pytest.mark.parametrize("target", TARGETS)
def test_fixed_kernels_pass_the_schedule_check(target):
    x = np.arange(512, dtype=np.int32)
    y = torch.zeros(512, dtype=torch.int32)
    with emu.emulate(target, shuffle_schedule=True):
        _kernel(S.make_smem_scan, 256, 2)(torch.from_numpy(x), y)
    np.testing.assert_array_equal(y.numpy(), np.cumsum(x.reshape(2, 256), axis=1).reshape(-1))


def _histogram_without_clear(target, grid=1, **options):
    """The histogram that forgets to clear its bins, over ``grid`` workgroups of 40 values each;
    its output and NumPy's."""
    x = torch.arange(40 * grid, dtype=torch.int32) * 7 % 16
    h = torch.zeros(17 * grid, dtype=torch.int32)
    with emu.emulate(target, **options):
        _kernel(S.make_smem_histogram, 16, bug="no-clear", grid=grid)(x, h, 40)
    want = np.concatenate([np.append(np.bincount(row, minlength=16), 40) for row in x.numpy().reshape(grid, 40)])
    return h.numpy(), want


@pytest.mark.parametrize("target", TARGETS)
def test_forgotten_clear_gives_wrong_counts_without_the_sanitizer(target):
    """LDS starts as garbage, never zeros: counting into bins nobody cleared is wrong with the
    sanitizer off (with zeroed LDS it matched NumPy and the bug could not be seen)."""
    got, want = _histogram_without_clear(target, sanitize=False)
    assert not np.array_equal(got[:16], want[:16]), got
    np.testing.assert_array_equal(got[16], want[16])      # the total is written before it is read


@pytest.mark.parametrize("target", TARGETS)
def test_forgotten_clear_is_an_uninitialized_read(target):
    with pytest.raises(emu.UninitializedReadError, match="LDS byte 0 read before any write"):
        _histogram_without_clear(target)
    _histogram_without_clear(target, findings="record")
    assert {f.check for f in emu.last_findings()} == {"uninitialized-lds"}


@pytest.mark.parametrize("target", TARGETS)
def test_schedule_check_rerun_sees_the_previous_workgroups_lds(target):
    """The schedule check's re-run runs the workgroups one at a time on LDS the previous one
    left, as one CU would: the forgotten clear then counts on top of another workgroup's
    counts, and the outputs differ from the first run's."""
    with pytest.raises(emu.ScheduleDependenceError, match="shuffled workgroup order"):
        _histogram_without_clear(target, grid=3, sanitize=False, shuffle_schedule=True)


@pytest.mark.parametrize("target", TARGETS)
def test_cleared_histogram_passes_the_schedule_check_over_workgroups(target):
    x = torch.arange(120, dtype=torch.int32) * 7 % 16
    h = torch.zeros(51, dtype=torch.int32)
    with emu.emulate(target, shuffle_schedule=True):
        _kernel(S.make_smem_histogram, 16, grid=3)(x, h, 40)
    want = np.concatenate([np.append(np.bincount(row, minlength=16), 40) for row in x.numpy().reshape(3, 40)])
    np.testing.assert_array_equal(h.numpy(), want)
