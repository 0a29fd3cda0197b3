"""``findings="record"``: every sanitizer finding recorded, the launch going on as the hardware would."""
import numpy as np
import pytest
import torch

import kernels.emu as emu
from tests.emu import sample_kernels as K

pytestmark = pytest.mark.interpreter
SRC = "sample_kernels.py"


def _only(findings, check):
    hits = [f for f in findings if f.check == check]
    assert len(hits) == 1, [f.describe() for f in findings]
    return hits[0]


def _overrun_reference(shift, message, block=64):
    """What the hardware returns for ``a[t + shift]``, given the allocation bounds of ``a``
    that the finding names (LDS holds a and b, 4 * block bytes each)."""
    lo = int(message.split("[")[1].split(",")[0])
    b_lo = 0 if lo else 4 * block
    out = []
    for t in range(block):
        off = lo + 4 * (t + shift)
        if lo <= off < lo + 4 * block:
            out.append(10 + (off - lo) // 4)
        elif b_lo <= off < b_lo + 4 * block:
            out.append(100 + (off - b_lo) // 4)
        else:
            out.append(0)                          # past the workgroup's 512 bytes of LDS
    return np.array(out, np.int32)


@pytest.mark.parametrize("shift", [1, -1, 200])
def test_lds_overrun_is_recorded_and_reads_what_the_hardware_reads(shift):
    y = torch.full((64,), 7, dtype=torch.int32)
    with emu.emulate("gfx950", findings="record"):
        K.make_lds_overrun(64, past=shift)(y)
        found = emu.last_findings()
    f = _only(found, "lds-out-of-bounds")
    assert f.error == "OutOfBoundsError" and f.workgroup == 0
    assert f.count == min(abs(shift), 64) and f.lane == (63 if shift == 1 else 0)
    assert f.frames[0].file.endswith(SRC) and "lds.a.ptr + fx.Int64(tid + fx.Int32(past))" in f.frames[0].text
    assert f.frames[0].function == "_overrun_kernel"
    expected = _overrun_reference(shift, f.message)
    assert (expected == 0).any() or (expected >= 100).any()      # the case reads outside a, as meant
    np.testing.assert_array_equal(y.numpy(), expected)


def test_a_nested_jit_helper_chain_names_kernel_lines_only():
    """The hook that inlines a nested ``@jit`` call is the interpreter's, not the kernel's:
    the chain goes from the helper's load straight to the kernel's call of it."""
    y = torch.zeros(64, dtype=torch.int32)
    with emu.emulate("gfx950", findings="record"):
        K.make_lds_overrun(64, past=1, nested=True)(y)
        f = _only(emu.last_findings(), "lds-out-of-bounds")
    assert [fr.function for fr in f.frames] == ["_load_past", "_overrun_kernel"]
    assert "fx.ptr_load(ptr + fx.Int64(idx))" in f.frames[0].text
    assert "_load_past(lds.a.ptr, tid + fx.Int32(past))" in f.frames[1].text
    assert "<" in f.chain and all(fr.file.endswith(SRC) for fr in f.frames), f.chain


def test_raise_mode_is_unchanged():
    with emu.emulate("gfx950"), pytest.raises(emu.OutOfBoundsError) as info:
        K.make_lds_overrun(64, past=1)(torch.zeros(64, dtype=torch.int32))
    assert info.value.check == "lds-out-of-bounds" and SRC in str(info.value)


def test_race_is_recorded_once_per_site_with_count_and_first_lane():
    y = torch.zeros(128, dtype=torch.int32)
    with emu.emulate("gfx950", findings="record"):
        K.make_broken_race()(y)
        f = _only(emu.last_findings(), "lds-race")
    assert f.count >= 64 and f.workgroup == 0 and f.lane is not None
    assert "missing gpu.barrier" in f.message and f.kernel.startswith("_exchange_kernel")
    # the launch went on: lockstep order, every thread read its neighbour's slot
    np.testing.assert_array_equal(y.numpy(), (np.arange(128) + 64) % 128)


def test_out_of_bounds_raw_store_is_dropped_and_recorded_even_without_sanitizer():
    for sanitize in (True, False):
        y = torch.zeros(64, dtype=torch.int32)
        with emu.emulate("gfx950", sanitize=sanitize, findings="record"):
            K.launch_broken_oob(y, 64)
            f = _only(emu.last_findings(), "global-out-of-bounds")
        assert f.lane == 63 and f.address is not None
        np.testing.assert_array_equal(y.numpy(), np.r_[0, np.arange(63)])   # y[t + 1] = t; the last store dropped


def test_uninitialized_read_divergent_barrier_and_schedule_are_recorded():
    with emu.collect_findings() as found:
        with emu.emulate("gfx950", findings="record", shuffle_schedule=True):
            K.make_broken_uninit()(torch.zeros(64, dtype=torch.int32))
            K.launch_broken_barrier(torch.zeros(64, dtype=torch.int32))
            y = torch.zeros(1, dtype=torch.int32)
            K.launch_broken_schedule(y, 8)
    checks = sorted(f.check for f in found)
    assert checks == ["divergent-barrier", "global-race", "schedule-dependence", "uninitialized-lds"], checks
    assert int(y[0]) in range(8)


def test_every_finding_of_one_call_is_kept_and_the_next_call_starts_empty():
    with emu.emulate("gfx950", findings="record"):
        K.make_lds_overrun(64, past=1)(torch.zeros(64, dtype=torch.int32))
        assert emu.last_findings()
        K.make_fixed_race()(torch.zeros(128, dtype=torch.int32))
        assert emu.last_findings() == []


def test_finding_round_trips_through_a_dict():
    with emu.emulate("gfx950", findings="record"):
        K.make_broken_race()(torch.zeros(128, dtype=torch.int32))
        f = emu.last_findings()[0]
    assert emu.Finding.from_dict(f.to_dict()) == f


def test_unknown_findings_mode_is_refused():
    with pytest.raises(ValueError, match="findings='log'"):
        with emu.emulate("gfx950", findings="log"):
            pass


def test_a_raised_error_maps_to_a_check_of_checks_or_is_refused():
    from kernels.emu import errors
    from kernels.emu.findings import CHECKS, finding_from_error

    bare = errors.DivergentBarrierError("only lanes 0..31 reached the barrier", op="gpu.barrier", loc="k.py:3")
    assert finding_from_error(bare).check == "divergent-barrier" in CHECKS
    tagged = errors.RaceError("two waves wrote word 4", op="memref.store", loc="k.py:7")
    tagged.check = "lds-race"
    assert finding_from_error(tagged).check == "lds-race"
    # an OutOfBoundsError stands for four checks: without .check it names none of them
    with pytest.raises(ValueError, match="OutOfBoundsError carries no check"):
        finding_from_error(errors.OutOfBoundsError("past the end", op="memref.load", loc="k.py:9"))
