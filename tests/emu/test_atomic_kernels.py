"""Kernels of our own that use atomics (``atomic_sample_kernels.py``) on the interpreter, on both
targets: the correct ones match NumPy (slot allocation as a set) and pass the sanitizer; each
broken twin is caught by the check its bug calls for, raised and -- in ``findings="record"`` mode --
recorded while the launch goes on; an output that depends on the order of atomics fails the
schedule check naming the atomic."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels.emu as emu
from tests.emu import atomic_sample_kernels as A

pytestmark = pytest.mark.interpreter
FEW = settings(max_examples=6, deadline=None)     # each example is a kernel launch
TARGETS = ["gfx942", "gfx950"]
MODES = ["raise", "record"]
_BUILT = {}
SAMPLES = "atomic_sample_kernels.py"


def _kernel(make, *args, **kw):
    key = (make.__name__, args, tuple(sorted(kw.items())))
    if key not in _BUILT:
        _BUILT[key] = make(*args, **kw)
    return _BUILT[key]


# ------------------------------------------------------------ LDS histogram + prefix sum
def _histogram(target, x, nbins, block, grid, bug=None, **opts):
    h = torch.full((grid, nbins), -1, dtype=torch.int32)
    off = torch.full((grid, nbins), -1, dtype=torch.int32)
    with emu.emulate(target, **opts):
        _kernel(A.make_atomic_histogram, nbins, block, bug=bug)(torch.from_numpy(x), h, off, x.shape[0], grid)
    return h.numpy(), off.numpy()


def _histogram_reference(x, nbins, block, grid):
    rows = np.full(grid * block, -1, np.int64)
    rows[:x.shape[0]] = x
    counts = np.stack([np.bincount(r[r >= 0], minlength=nbins) for r in rows.reshape(grid, block)])
    return counts, np.cumsum(counts, axis=1) - counts


@FEW
@given(target=st.sampled_from(TARGETS), nbins=st.sampled_from([1, 7, 64, 300]), block=st.sampled_from([64, 256]),
       grid=st.integers(1, 3), short=st.integers(0, 63), seed=st.integers(0, 2**31))
def test_histogram_and_prefix_sum_match_numpy_under_the_schedule_check(target, nbins, block, grid, short, seed):
    n = max(1, grid * block - short)
    x = np.random.default_rng(seed).integers(0, nbins, n).astype(np.int32)
    h, off = _histogram(target, x, nbins, block, grid, shuffle_schedule=True)
    counts, below = _histogram_reference(x, nbins, block, grid)
    np.testing.assert_array_equal(h, counts)
    np.testing.assert_array_equal(off, below)


def _caught(mode, run, error, match, op):
    """Run a broken kernel (``run(**options)``): in mode "raise" it must raise ``error`` (matching
    ``match``) naming ``op``, and None is returned; in mode "record" it runs to the end and
    ``(its result, the findings)`` is returned."""
    if mode == "raise":
        with pytest.raises(error, match=match) as e:
            run()
        assert e.value.op == op
        return None
    result = run(findings="record")
    return result, emu.last_findings()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mode", MODES)
def test_plain_read_modify_write_in_place_of_the_atomic_is_a_race(target, mode):
    x = (np.arange(512) % 5).astype(np.int32)
    got = _caught(mode, lambda **o: _histogram(target, x, 8, 256, 2, bug="plain-rmw", **o), emu.RaceError,
                  "LDS word", "llvm.store")
    if got:
        (h, _), found = got
        assert {(f.check, f.op) for f in found} == {("lds-race", "llvm.store")}
        assert found[0].frames[0].file.endswith(SAMPLES)
        assert (h[:, :5] < 512 // 5 // 2).all()       # lost updates, as the hardware would lose them


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mode", MODES)
def test_missing_barrier_between_atomic_histogram_and_scan_is_a_race(target, mode):
    x = (np.arange(256) % 3).astype(np.int32)
    got = _caught(mode, lambda **o: _histogram(target, x, 4, 256, 1, bug="no-barrier", **o), emu.RaceError,
                  "updated by an atomic of another wave", "llvm.load")
    if got:
        _, found = got
        assert found and {f.check for f in found} == {"lds-race"}
        assert any("atomic" in f.message for f in found)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mode", MODES)
def test_atomic_past_the_lds_array_is_out_of_bounds(target, mode):
    x = np.array([0, 1, 2, 3, 3, 3], np.int32)      # value 3 + 1 lands past bins[4]
    got = _caught(mode, lambda **o: _histogram(target, x, 4, 64, 1, bug="past-array", **o), emu.OutOfBoundsError,
                  "outside its shared allocation", "llvm.atomicrmw")
    if got:
        (h, _), found = got
        assert [(f.check, f.op, f.count) for f in found] == [("lds-out-of-bounds", "llvm.atomicrmw", 3)]
        assert found[0].frames and found[0].frames[0].file.endswith(SAMPLES)
        np.testing.assert_array_equal(h[0], [0, 1, 1, 1])          # values shifted up by one, the strays elsewhere


# ------------------------------------------------------------ slot allocation by atomic counters
def _slots(target, keep, **opts):
    n = keep.shape[0]
    out = torch.full((n,), -1, dtype=torch.int32)
    count = torch.zeros(1, dtype=torch.int32)
    with emu.emulate(target, **opts):
        _kernel(A.make_slot_allocation)(torch.from_numpy(keep.astype(np.int32)), out, count, n)
    return out.numpy(), int(count[0])


@FEW
@given(target=st.sampled_from(TARGETS), n=st.integers(1, 700), density=st.floats(0, 1), seed=st.integers(0, 2**31))
def test_slot_allocation_is_right_as_a_set(target, n, density, seed):
    keep = np.random.default_rng(seed).random(n) < density
    out, count = _slots(target, keep)
    assert count == int(keep.sum())
    assert sorted(out[:count].tolist()) == np.flatnonzero(keep).tolist()
    assert (out[count:] == -1).all()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mode", MODES)
def test_output_in_atomic_order_fails_the_schedule_check_naming_the_atomic(target, mode):
    got = _caught(mode, lambda **o: _slots(target, np.ones(300, bool), shuffle_schedule=True, **o),
                  emu.ScheduleDependenceError, f"values returned by llvm.atomicrmw at .*{SAMPLES}", "llvm.atomicrmw")
    if got:
        (out, count), found = got
        assert [(f.check, f.op) for f in found] == [("schedule-dependence", "llvm.atomicrmw")]
        assert found[0].frames[0].file.endswith(SAMPLES)
        assert count == 300 and sorted(out.tolist()) == list(range(300))     # the first schedule's result kept


# ------------------------------------------------------------ global reduction across workgroups
def _reduce(target, x, ngroups, bug=None, **opts):
    s = torch.zeros(ngroups, dtype=torch.int32)
    with emu.emulate(target, **opts):
        _kernel(A.make_global_reduction, ngroups, bug=bug)(torch.from_numpy(x), s, x.shape[0])
    return s.numpy()


@FEW
@given(target=st.sampled_from(TARGETS), n=st.integers(1, 1000), ngroups=st.integers(1, 9), seed=st.integers(0, 2**31))
def test_global_reduction_matches_numpy_under_the_schedule_check(target, n, ngroups, seed):
    x = np.random.default_rng(seed).integers(-(2**31), 2**31, n, dtype=np.int64).astype(np.int32)
    got = _reduce(target, x, ngroups, shuffle_schedule=True)
    exp = [int(x[np.arange(n) % ngroups == k].astype(np.int64).sum()) for k in range(ngroups)]
    np.testing.assert_array_equal(got, np.array(exp, np.int64).astype(np.int32))     # wrapping sums


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mode", MODES)
def test_atomic_past_the_global_array_is_out_of_bounds(target, mode):
    got = _caught(mode, lambda **o: _reduce(target, np.ones(200, np.int32), 3, bug="past-array", **o),
                  emu.OutOfBoundsError, "outside every live allocation", "llvm.atomicrmw")
    if got:
        s, found = got
        assert [(f.check, f.op) for f in found] == [("global-out-of-bounds", "llvm.atomicrmw")]
        np.testing.assert_array_equal(s, [50, 50, 50])         # the strays dropped


# ------------------------------------------------------------ CAS loop (float max)
@FEW
@given(target=st.sampled_from(TARGETS), n=st.integers(1, 500), start=st.sampled_from([-np.inf, 0.0, 5.0]),
       seed=st.integers(0, 2**31))
def test_cas_loop_float_max_matches_numpy_under_the_schedule_check(target, n, start, seed):
    x = np.random.default_rng(seed).normal(0, 10, n).astype(np.float32)
    m = torch.full((1,), start, dtype=torch.float32)
    with emu.emulate(target, shuffle_schedule=True):
        _kernel(A.make_cas_max)(torch.from_numpy(x), m.view(torch.int32), n)
    assert float(m[0]) == max(float(x.max()), start)
