"""The suite's FlyDSL sort under the CPU interpreter agrees with the golden model.

Every case runs through ``kernels.run("flydsl-own", ..., target=...)`` (which
uses ``kernels.emu.emulate`` when no ROCm GPU is present, natively otherwise)
and is compared bit-exactly, strict order, with ``oracle.moe_sorting`` by
``oracle.compare``; the path the backend reports must be the one
``choose_path`` names.  Skipped, with the reason, while the backend cannot
run here (no GPU and no interpreter yet).
"""
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kernels
import oracle
from cases import Case
from kernels.moesort import choose_path, path_thresholds
from kernels.targets import TARGET_NAMES as TARGETS

BACKEND = "flydsl-own"
pytestmark = pytest.mark.interpreter


def _skip_reason():
    return kernels.available().get(BACKEND, f"backend {BACKEND} is not declared")


@pytest.fixture(autouse=True)
def _needs_backend():
    reason = _skip_reason()
    if reason:
        pytest.skip(f"{BACKEND} cannot run here: {reason}")


def check(case: Case, target: str, red_zone: int = 4):
    ids, weights, mask, m = case.materialize()
    expected = oracle.moe_sorting(ids, weights, case.num_experts, case.unit_size, mask, m)
    got = kernels.run(BACKEND, ids, weights, case.num_experts, case.unit_size, mask, m,
                      target=target, red_zone=red_zone)
    verdict = oracle.compare(expected, got, "strict", canary=red_zone > 0, unit_size=case.unit_size)
    assert verdict.ok, f"{case.name} on {target}: {verdict.summary}"
    assert got.path == choose_path(case.tokens, case.num_experts, case.topk, case.unit_size, target)
    return got.path


def _near(t):
    return [x for x in (t - 1, t, t + 1) if x >= 0]


PRODUCTION = [(257, 9, 32), (385, 7, 32), (513, 9, 32), (128, 4, 128), (129, 7, 32),
              (161, 7, 32), (256, 8, 32), (64, 6, 32), (32, 5, 32), (8, 2, 32)]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("E,topk,unit", PRODUCTION + [(1024, 8, 32)])
def test_small_medium_boundary(E, topk, unit, target):
    """M one below, at and one above the last small M (the threshold differs per target)."""
    first_medium = path_thresholds(E, topk, unit, target).medium
    got = [check(Case(E, topk, T, unit, seed=T), target) for T in _near(first_medium - 1)]
    assert got[-1] == "medium" and got[-2] == "small"


# The medium/large boundary (2048/2049) is the same on both targets and the
# medium/large kernels do not depend on the target: every production shape on
# gfx950, two on gfx942.
@pytest.mark.parametrize("E,topk,unit,target",
                         [(E, k, u, "gfx950") for E, k, u in PRODUCTION]
                         + [(8, 2, 32, "gfx942"), (64, 6, 32, "gfx942")])
def test_medium_large_boundary(E, topk, unit, target):
    got = [check(Case(E, topk, T, unit, seed=T), target) for T in (2047, 2048, 2049)]
    assert got == ["medium", "medium", "large"]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mode,ratio", [("all_on", 1.0), ("all_off", 0.5), ("one", 0.5),
                                        ("ratio", 0.5), ("ratio", 0.1)])
@pytest.mark.parametrize("path", ["small", "medium", "large"])
def test_expert_mask(path, mode, ratio, target):
    E, topk = (129, 7) if path != "large" else (32, 5)
    th = path_thresholds(E, topk, 32, target)
    T = {"small": th.medium - 1, "medium": th.medium + 5, "large": th.large + 3}[path]
    assert check(Case(E, topk, T, 32, mask_mode=mode, mask_ratio=ratio, seed=7), target) == path


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("path", ["small", "medium", "large"])
def test_num_local_tokens(path, target):
    """The path is the capacity T's; M (read by the kernels) is any count up to it."""
    E, topk = 64, 6
    th = path_thresholds(E, topk, 32, target)
    T = {"small": th.medium - 1, "medium": th.medium + 38, "large": th.large + 37}[path]
    assert check(Case(E, topk, T, 32, num_local_tokens=T - 37, seed=3), target) == path
    assert check(Case(E, topk, T, 32, num_local_tokens=0, seed=4), target) == path


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("unit", [16, 256])
@pytest.mark.parametrize("E,topk", [(513, 9), (8, 2)])
def test_unit_sizes(E, topk, unit, target):
    first_medium = path_thresholds(E, topk, unit, target).medium
    for T in (first_medium - 1, first_medium + 2):
        check(Case(E, topk, T, unit, seed=unit + T), target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("T", [0, 1])
@pytest.mark.parametrize("E,topk,unit", [(513, 9, 32), (1024, 8, 16), (1, 1, 16), (257, 9, 256)])
def test_tiny(E, topk, unit, T, target):
    assert check(Case(E, topk, T, unit, seed=T), target) == "small"


@pytest.mark.parametrize("target", TARGETS)
def test_wide_topk_and_skew(target):
    check(Case(802, 99, 3, 32, seed=1), target)
    check(Case(300, 255, 2, 16, seed=2), target)
    check(Case(257, 9, 40, 32, routing="one_expert", seed=5), target)
    check(Case(257, 9, 300, 32, routing="hot", weights="special", seed=6), target)


@pytest.mark.large
def test_large_production_shape():
    """A production-size large-path sort (T=65536, E=257, EP) on the interpreter (~11 s)."""
    assert check(Case(257, 9, 65536, 32, mask_mode="ratio", seed=9), "gfx950", red_zone=0) == "large"


@given(st.data())
def test_hypothesis_agreement(data):
    if _skip_reason():
        pytest.skip(f"{BACKEND} cannot run here: {_skip_reason()}")
    from fuzz.strategies import cases

    case = data.draw(cases(max_tokens=2600, max_experts=1024))
    target = data.draw(st.sampled_from(TARGETS))
    check(case, target)


def _emu():
    try:
        import kernels.emu as emu
    except ImportError as exc:
        pytest.skip(f"kernels.emu does not import: {exc}")
    if not hasattr(emu, "emulate"):
        pytest.skip("kernels.emu has no emulate() yet")
    return emu


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("path", ["small", "medium", "large"])
def test_sanitizer_and_schedule(path, target):
    """No sanitizer report (OOB, uninitialized read of an output, race) and the
    same bytes under a shuffled workgroup / store order."""
    import torch

    from kernels.moesort import allocate_outputs, moe_sorting

    emu = _emu()
    E, topk, unit = 64, 6, 32
    th = path_thresholds(E, topk, unit, target)
    T = {"small": th.medium - 1, "medium": th.medium + 3, "large": th.large + 1}[path]
    case = Case(E, topk, T, unit, num_local_tokens=T - 5, mask_mode="ratio", mask_ratio=0.7, seed=11)
    ids, weights, mask, m = case.materialize()
    outs = allocate_outputs(case.tokens, topk, E, unit, moe_buf_shape=(case.tokens, 3),
                            moe_buf_dtype=torch.bfloat16)  # 6 bytes a row: exercises the byte tail
    outs[4].fill_(1.0)
    with emu.emulate(target=target, sanitize=True, shuffle_schedule=True), emu.output_only(*outs[:4]):
        got_path = moe_sorting(torch.from_numpy(ids), torch.from_numpy(weights), *outs, E, unit,
                               torch.from_numpy(mask), m, target=target)
    assert got_path == path
    expected = oracle.moe_sorting(ids, weights, E, unit, mask, m)
    actual = oracle.SortResult(outs[0].numpy(), outs[1].numpy(), outs[2].numpy(), outs[3].numpy())
    verdict = oracle.compare(expected, actual, "strict", unit_size=unit)
    assert verdict.ok, verdict.summary
    assert not outs[4].view(torch.uint8).any()
