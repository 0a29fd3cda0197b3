"""A launch grid from the host code, as the hardware gets it.

The interpreter runs the lowered host code exactly (an index ``//`` is
``arith.divui``, an i32 ``//`` a flooring signed division) and then hands the
grid over as FlyDSL's runtime does: each dimension as an unsigned 32-bit
value.  A dimension of 0 (refused by HIP: nothing runs) or one past 2**32 - 1
(truncated) is a ``launch-grid-out-of-range`` finding.
"""
import pytest
import torch

from kernels import emu
from kernels.emu.capture import lowered_text
from kernels.emu.errors import LaunchError
from kernels.emu.findings import Reporter, collect
from kernels.emu.simt import launched_grid

from . import sample_kernels as K

pytestmark = pytest.mark.interpreter


def _fill(launch, n):
    y = torch.full((max(n, 1),), 7, dtype=torch.int32)
    with emu.emulate("gfx950", findings="record"):
        launch(y[:n], n)
        found = emu.last_findings()
    return y, found


def test_index_division_is_unsigned_so_zero_rows_ask_for_two_to_the_58_workgroups():
    y, found = _fill(K.launch_fill_ones_index_grid, 0)
    assert [f.check for f in found] == ["launch-grid-out-of-range"]
    assert f"grid ({2**64 // 64}, 1, 1)" in found[0].message and "refuses the launch" in found[0].message
    assert y.tolist() == [7]                  # no workgroup ran


def test_the_host_code_divides_index_values_with_divui():
    with emu.emulate("gfx950"):
        text = lowered_text(K.launch_fill_ones_index_grid, torch.zeros(1, dtype=torch.int32), 1)
    host = text[text.index("func.func @launch_fill_ones_index_grid"):]
    assert "arith.divui" in host and "arith.floordivsi" not in host


def test_signed_division_gives_an_empty_grid_which_is_refused_too():
    y, found = _fill(K.launch_fill_ones_i32_grid, 0)
    assert [f.check for f in found] == ["launch-grid-out-of-range"]
    assert "grid (0, 1, 1)" in found[0].message
    assert y.tolist() == [7]


@pytest.mark.parametrize("launch", [K.launch_fill_ones_index_grid, K.launch_fill_ones_i32_grid])
@pytest.mark.parametrize("n", [1, 64, 65, 200])
def test_grids_of_one_or_more_workgroups_run_without_finding(launch, n):
    y, found = _fill(launch, n)
    assert found == [] and (y == 1).all()


def test_raise_mode_raises_a_launch_error():
    with emu.emulate("gfx950"), pytest.raises(LaunchError, match="refuses the launch"):
        K.launch_fill_ones_index_grid(torch.zeros(1, dtype=torch.int32)[:0], 0)


def test_a_dimension_past_32_bits_runs_with_its_low_bits():
    with collect() as found:
        grid = launched_grid("k", (2**32 + 3, 1, 1), Reporter("record", "k"), ("gpu.launch_func", "x.py:1"))
        assert launched_grid("k", (5, 2, 1), Reporter("record", "k"), ("gpu.launch_func", "x.py:2")) == (5, 2, 1)
    assert grid == (3, 1, 1)
    assert [f.check for f in found] == ["launch-grid-out-of-range"] and "refuses" not in found[0].message
