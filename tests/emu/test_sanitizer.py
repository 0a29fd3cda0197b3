"""Each sanitizer check catches one deliberately broken kernel of ours (and passes its fixed twin)."""

import numpy as np
import pytest
import torch

import kernels.emu as emu
from tests.emu import sample_kernels as K

pytestmark = pytest.mark.interpreter
SRC = "sample_kernels.py"


def test_out_of_bounds_raw_pointer_names_op_and_line():
    y = torch.zeros(64, dtype=torch.int32)
    with emu.emulate("gfx950"), pytest.raises(emu.OutOfBoundsError) as ei:
        K.launch_broken_oob(y, 64)
    msg = str(ei.value)
    assert "llvm.store" in msg and SRC in msg and "outside every live allocation" in msg
    assert ei.value.loc.split(":")[0].endswith(SRC)


def test_out_of_bounds_not_reported_without_sanitizer_but_memory_is_safe():
    y = torch.zeros(64, dtype=torch.int32)
    with emu.emulate("gfx950", sanitize=False), pytest.raises(emu.OutOfBoundsError):
        K.launch_broken_oob(y, 64)      # a raw store outside every tensor is refused even then


@pytest.mark.parametrize("make,threads,error,text", [
    (K.make_broken_race, 128, emu.RaceError, "llvm.load"),                 # missing barrier
    (K.make_broken_uninit, 64, emu.UninitializedReadError, "LDS"),        # LDS read before any write
], ids=["missing-barrier-race", "uninitialized-lds-read"])
def test_broken_lds_kernel_is_reported(make, threads, error, text):
    y = torch.zeros(threads, dtype=torch.int32)
    with emu.emulate("gfx950"), pytest.raises(error) as ei:
        make()(y)
    assert text in str(ei.value) and SRC in str(ei.value)


def test_fixed_race_kernel_is_clean_and_correct():
    y = torch.zeros(128, dtype=torch.int32)
    with emu.emulate("gfx950", shuffle_schedule=True):
        K.make_fixed_race()(y)
    np.testing.assert_array_equal(y.numpy(), (np.arange(128) + 64) % 128)


def test_uninitialized_output_only_tensor_read():
    x = torch.arange(100, dtype=torch.int32)
    y = torch.zeros(100, dtype=torch.int32)
    with emu.emulate("gfx950"):
        K.launch_oob_copy(x, y, 100, 100)                 # reads x: fine, caller tensors are initialized
        with emu.output_only(x), pytest.raises(emu.UninitializedReadError):
            K.launch_oob_copy(x, y, 100, 100)             # x flagged output-only: read before written


def test_cross_workgroup_global_race():
    y = torch.zeros(4, dtype=torch.int32)
    with emu.emulate("gfx950"), pytest.raises(emu.RaceError) as ei:
        K.launch_broken_schedule(y, 8)
    assert "workgroup" in str(ei.value)


def test_schedule_dependent_result():
    y = torch.zeros(4, dtype=torch.int32)
    with emu.emulate("gfx950", sanitize=False, shuffle_schedule=True), \
            pytest.raises(emu.ScheduleDependenceError) as ei:
        K.launch_broken_schedule(y, 8)
    assert "Y" in str(ei.value)


def test_schedule_independent_kernel_passes_shuffled():
    n = 3000
    a, b, c = torch.randn(n), torch.randn(n), torch.zeros(n)
    with emu.emulate("gfx950", shuffle_schedule=True):
        K.launch_vadd(a, b, c, n)
    assert torch.equal(c, a + b)


def test_divergent_barrier():
    y = torch.zeros(64, dtype=torch.int32)
    with emu.emulate("gfx950"), pytest.raises(emu.DivergentBarrierError) as ei:
        K.launch_broken_barrier(y)
    assert "gpu.barrier" in str(ei.value) and SRC in str(ei.value)


def test_all_sanitizer_errors_share_the_base_class():
    for cls in (emu.OutOfBoundsError, emu.UninitializedReadError, emu.RaceError,
                emu.ScheduleDependenceError, emu.DivergentBarrierError):
        assert issubclass(cls, emu.SanitizerError)


def test_byte_stores_of_different_workgroups_into_one_dword_are_not_a_race():
    y = torch.zeros(1, dtype=torch.int32)
    with emu.emulate("gfx950", shuffle_schedule=True):
        K.launch_byte_per_workgroup(y, False)
    assert y.numpy().view(np.uint8).tolist() == [1, 2, 3, 4]


def test_byte_stores_of_different_workgroups_into_one_byte_are_a_race():
    y = torch.zeros(1, dtype=torch.int32)
    with emu.emulate("gfx950"), pytest.raises(emu.RaceError, match="global byte 0"):
        K.launch_byte_per_workgroup(y, True)


@pytest.mark.parametrize("barrier", [False, True])
def test_lds_store_over_initial_zeros_counts_as_a_write(barrier):
    y = torch.zeros(128, dtype=torch.int32)
    launch = K.make_lds_clear_then_fill(barrier=barrier)
    if not barrier:
        with emu.emulate("gfx950"), pytest.raises(emu.RaceError, match="missing gpu.barrier"):
            launch(y)
        return
    with emu.emulate("gfx950", shuffle_schedule=True):
        launch(y)
    np.testing.assert_array_equal(y.numpy(), (np.arange(128) - 64) % 128 + 1)


def test_global_read_of_another_waves_store_without_barrier_is_a_race():
    w, y = torch.full((129,), -1, dtype=torch.int32), torch.zeros(128, dtype=torch.int32)
    with emu.emulate("gfx950"), pytest.raises(emu.RaceError) as ei:
        K.make_global_exchange(barrier=False)(w, y)
    msg = str(ei.value)
    assert "of workgroup 0 reads it after another wave wrote it" in msg and SRC in msg


@pytest.mark.parametrize("uniform_flag", [False, True])
def test_global_exchange_with_barrier_is_clean(uniform_flag):
    w, y = torch.full((129,), -1, dtype=torch.int32), torch.zeros(128, dtype=torch.int32)
    with emu.emulate("gfx950", shuffle_schedule=True):
        K.make_global_exchange(barrier=True, uniform_flag=uniform_flag)(w, y)
    want = ((np.arange(128) + 64) % 128) * 3 + (7 if uniform_flag else 0)
    np.testing.assert_array_equal(y.numpy(), want)


def test_global_races_between_waves_are_not_checked_without_the_sanitizer():
    w, y = torch.full((129,), -1, dtype=torch.int32), torch.zeros(128, dtype=torch.int32)
    with emu.emulate("gfx950", sanitize=False):
        K.make_global_exchange(barrier=False)(w, y)
    np.testing.assert_array_equal(y.numpy(), ((np.arange(128) + 64) % 128) * 3)


@pytest.mark.parametrize("shuffle", [False, True])
def test_one_value_stored_by_every_wave_is_benign(shuffle):
    y = torch.zeros(128, dtype=torch.int32)
    with emu.emulate("gfx950", shuffle_schedule=shuffle):
        K.make_lds_shared_word(same_value=True)(y)
    assert (y.numpy() == 5).all()


def test_different_values_stored_by_several_waves_to_one_lds_word_race():
    y = torch.zeros(128, dtype=torch.int32)
    with emu.emulate("gfx950"), pytest.raises(emu.RaceError, match="different values by two waves"):
        K.make_lds_shared_word(same_value=False)(y)


def test_strict_buffers_reports_a_grid_tail_left_to_the_descriptor():
    x = torch.arange(100, dtype=torch.int32)
    y = torch.zeros(100, dtype=torch.int32)
    with emu.emulate("gfx950"):
        K.launch_oob_copy(x, y, 100, 100)       # 128 threads, no guard: legal, the descriptor clips lanes 100..
    with emu.emulate("gfx950", strict_buffers=True), pytest.raises(emu.OutOfBoundsError) as ei:
        K.launch_oob_copy(x, y, 100, 100)
    msg = str(ei.value)
    assert "offset 400" in msg and "num_records (400)" in msg and SRC in msg


def test_strict_buffers_accepts_far_masked_tails():
    a, b, c = torch.randn(300), torch.randn(300), torch.zeros(300)
    with emu.emulate("gfx950", strict_buffers=True):
        K.launch_vadd(a, b, c, 300)             # the tail is masked with offset 0x7FFFFFFF
    torch.testing.assert_close(c, a + b)
