"""Path choice of the suite's FlyDSL sort, checked against the documented formula.

The expected thresholds are recomputed here from the published LDS sizes
(64 KiB on gfx942, 160 KiB on gfx950) and the formula in
``kernels/moesort/paths.py``'s docstring — not from numbers the module returns.
"""
import pytest

from kernels.moesort import choose_path, path_thresholds, workspace_elems
from kernels.moesort.api import workspace_size
from kernels.moesort.paths import small_mesh_rows

LDS = {"gfx942": 65536, "gfx950": 163840}
PRODUCTION = [(257, 9, 32), (385, 7, 32), (513, 9, 32), (128, 4, 128), (129, 7, 32),
              (161, 7, 32), (256, 8, 32), (64, 6, 32), (32, 5, 32), (8, 2, 32)]


def expected_small_max(E, topk, target):
    budget = LDS[target] // 2
    rows = (budget - 256) // (4 * E)
    threads = 256 if E <= 256 else 512
    return max(0, min(rows, max(16, threads // topk)))


@pytest.mark.parametrize("target", sorted(LDS))
@pytest.mark.parametrize("E,topk,unit", PRODUCTION + [(513, 9, 256), (1024, 8, 16), (802, 99, 32), (1, 1, 16)])
def test_boundaries_follow_formula(E, topk, unit, target):
    s = expected_small_max(E, topk, target)
    assert tuple(path_thresholds(E, topk, unit, target)) == (s + 1, 2049)
    assert choose_path(0, E, topk, unit, target) == ("small" if s >= 0 else "medium")
    if s >= 1:
        assert choose_path(s - 1, E, topk, unit, target) == "small"
    assert choose_path(s, E, topk, unit, target) == "small"
    assert choose_path(s + 1, E, topk, unit, target) == "medium"
    assert choose_path(2048, E, topk, unit, target) == "medium"
    assert choose_path(2049, E, topk, unit, target) == "large"
    assert choose_path(1 << 17, E, topk, unit, target) == "large"


def test_known_values():
    # Worked by hand from the formula: E=257, topk=9, 512 threads.
    # gfx942: (32768 - 256) // 1028 = 31 rows; gfx950: min(79, 512 // 9 = 56) = 56.
    assert path_thresholds(257, 9, 32, "gfx942").medium == 32
    assert path_thresholds(257, 9, 32, "gfx950").medium == 57
    # Mixtral: E=8, topk=2: work bound 256 // 2 = 128 on both targets.
    assert path_thresholds(8, 2, 32, "gfx942").medium == 129


@pytest.mark.parametrize("target", sorted(LDS))
def test_small_mesh_fits_lds_budget(target):
    for E in list(range(1, 1025, 7)) + [256, 257, 512, 513, 1024]:
        for topk in (1, 2, 9, 99, 255):
            if topk > E:
                continue
            rows = small_mesh_rows(E, topk, target)
            if expected_small_max(E, topk, target) >= 1:
                assert 4 * E * rows + 256 <= LDS[target] // 2, (E, topk, rows)


def test_gfx950_never_smaller_than_gfx942():
    for E in (1, 8, 64, 257, 513, 1024):
        for topk in (1, 9, 255):
            if topk <= E:
                a = path_thresholds(E, topk, 32, "gfx942").medium
                b = path_thresholds(E, topk, 32, "gfx950").medium
                assert b >= a


def test_workspace_sizes():
    assert workspace_size(10, 257, 9, 32, "gfx950") == 0
    # byte mesh, rows rounded up to 16 bytes, then E int32 counts
    assert workspace_size(2049, 257, 9, 32, "gfx950") == 257 * 2064 // 4 + 257
    assert workspace_elems(96, 8) == 8 * 96 // 4 + 8
    assert workspace_elems(97, 8) == 8 * 112 // 4 + 8


def test_bad_arguments():
    with pytest.raises(ValueError):
        choose_path(10, 8, 2, 32, "gfx90a")
    with pytest.raises(ValueError):
        choose_path(-1, 8, 2, 32, "gfx942")
    with pytest.raises(ValueError):
        path_thresholds(0, 1, 32, "gfx942")
