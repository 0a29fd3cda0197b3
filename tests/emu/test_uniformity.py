"""The uniformity analysis: classes of values, and the same results, findings and op counts with it on and off.

Every sample kernel (``tests/emu/sample_kernels.py``, the ``SmemAllocator``
ones of ``tests/emu/smem_sample_kernels.py`` and the atomic ones of
``tests/emu/atomic_sample_kernels.py``, the broken ones included), the suite's own MoE sort on each path and, with ``FLYDSL_ROOT``,
FlyDSL's ``moe_sorting_flydsl`` run twice -- ``uniformity=True`` and
``False`` -- with findings recorded; outputs (bit for bit), findings (every
field) and the launches' op and lane-op counts must be the same.
"""
import os

import numpy as np
import pytest
import torch

import kernels.emu as emu
from kernels.emu.codegen.uniformity import LANE, LAUNCH, WORKGROUP, Uniformity
from tests.emu import atomic_sample_kernels as A
from tests.emu import mlir_harness
from tests.emu import sample_kernels as K
from tests.emu import smem_sample_kernels as S

pytestmark = pytest.mark.interpreter


def _i32(*xs):
    return torch.tensor(xs, dtype=torch.int32)


def _cases():
    """name -> (launch(outputs), outputs factory)."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(700, generator=g), torch.randn(700, generator=g)
    scan, hist = K.make_scan(256), K.make_histogram(16)
    x_hist = torch.randint(0, 16, (300,), generator=g, dtype=torch.int32)
    x512 = torch.arange(512, dtype=torch.int32) * 7919
    xo = torch.arange(700, dtype=torch.int32)
    w_ex = torch.zeros(129, dtype=torch.int32)
    smem_hist, smem_hist_past = S.make_smem_histogram(16), S.make_smem_histogram(16, bug="past-view")
    smem_scan, smem_scan_race = S.make_smem_scan(256, grid=2), S.make_smem_scan(256, grid=2, bug="no-barrier")
    smem_layout, smem_layout_uninit = S.make_smem_layout(128), S.make_smem_layout(128, bug="uninit")
    x_bins = torch.randint(0, 10, (700,), generator=g, dtype=torch.int32)
    keep = (torch.rand(700, generator=g) < 0.4).to(torch.int32)
    atomic_cases = {
        f"atomic-histogram{'-' + bug if bug else ''}": (
            lambda o, h=A.make_atomic_histogram(10, 256, bug): h(x_bins, o[0], o[1], 700, 3),
            lambda: [torch.zeros((3, 10), dtype=torch.int32), torch.zeros((3, 10), dtype=torch.int32)])
        for bug in (None, "plain-rmw", "no-barrier", "past-array")}
    atomic_cases.update({
        "atomic-slots": (lambda o, k=A.make_slot_allocation(): k(keep, o[0], o[1], 700),
                         lambda: [torch.full((700,), -1, dtype=torch.int32), torch.zeros(1, dtype=torch.int32)]),
        "atomic-reduction": (lambda o, k=A.make_global_reduction(7): k(xo, o[0], 700),
                             lambda: [torch.zeros(7, dtype=torch.int32)]),
        "atomic-reduction-past-array": (lambda o, k=A.make_global_reduction(7, bug="past-array"): k(xo, o[0], 700),
                                        lambda: [torch.zeros(7, dtype=torch.int32)]),
        "atomic-cas-max": (lambda o, k=A.make_cas_max(): k(a, o[0].view(torch.int32), 700),
                           lambda: [torch.full((1,), float("-inf"))]),
    })
    return atomic_cases | {
        "vadd": (lambda o: K.launch_vadd(a, b, o[0], 700), lambda: [torch.zeros(700)]),
        "scan": (lambda o: scan(torch.arange(256, dtype=torch.int32), o[0], 256),
                 lambda: [torch.zeros(256, dtype=torch.int32)]),
        "histogram": (lambda o: hist(x_hist, o[0], 300), lambda: [torch.zeros(16, dtype=torch.int32)]),
        "zero": (lambda o: K.launch_zero(o[0], 3001, 5), lambda: [torch.ones(3001, dtype=torch.int32)]),
        "oob-copy": (lambda o: K.launch_oob_copy(xo, o[0], 500, 700), lambda: [torch.full((700,), -1, dtype=torch.int32)]),
        "loop": (lambda o: K.launch_loop(x512, o[0], 40, 512), lambda: [torch.zeros(512, dtype=torch.int32)]),
        "broken-race": (lambda o: K.make_broken_race()(o[0]), lambda: [torch.zeros(128, dtype=torch.int32)]),
        "fixed-race": (lambda o: K.make_fixed_race()(o[0]), lambda: [torch.zeros(128, dtype=torch.int32)]),
        "broken-uninit": (lambda o: K.make_broken_uninit()(o[0]), lambda: [torch.zeros(64, dtype=torch.int32)]),
        "broken-schedule": (lambda o: K.launch_broken_schedule(o[0], 8), lambda: [torch.zeros(1, dtype=torch.int32)]),
        "broken-barrier": (lambda o: K.launch_broken_barrier(o[0]), lambda: [torch.zeros(64, dtype=torch.int32)]),
        "byte-per-workgroup": (lambda o: K.launch_byte_per_workgroup(o[0], True),
                               lambda: [torch.zeros(4, dtype=torch.int32)]),
        "lds-clear-fill": (lambda o: K.make_lds_clear_then_fill(barrier=False)(o[0]),
                           lambda: [torch.zeros(128, dtype=torch.int32)]),
        "global-exchange": (lambda o: K.make_global_exchange(barrier=False, uniform_flag=True)(o[0], o[1]),
                            lambda: [w_ex.clone(), torch.zeros(128, dtype=torch.int32)]),
        "lds-shared-word": (lambda o: K.make_lds_shared_word(same_value=False)(o[0]),
                            lambda: [torch.zeros(128, dtype=torch.int32)]),
        "lds-overrun": (lambda o: K.make_lds_overrun(past=3)(o[0]), lambda: [torch.zeros(64, dtype=torch.int32)]),
        "wg-uniform-reads": (lambda o: K.make_workgroup_uniform_reads()(o[0]),
                             lambda: [torch.zeros(6 * 128, dtype=torch.int32)]),
        "wg-uniform-race-uninit": (lambda o: K.make_workgroup_uniform_reads(barrier=False, skip_wg=3)(o[0]),
                                   lambda: [torch.zeros(6 * 128, dtype=torch.int32)]),
        "smem-histogram": (lambda o: smem_hist(x_hist, o[0], 300), lambda: [torch.zeros(17, dtype=torch.int32)]),
        "smem-histogram-past-view": (lambda o: smem_hist_past(x_hist, o[0], 300),
                                     lambda: [torch.zeros(17, dtype=torch.int32)]),
        "smem-scan": (lambda o: smem_scan(x512, o[0]), lambda: [torch.zeros(512, dtype=torch.int32)]),
        "smem-scan-no-barrier": (lambda o: smem_scan_race(x512, o[0]), lambda: [torch.zeros(512, dtype=torch.int32)]),
        "smem-layout": (lambda o: smem_layout(xo[:128], o[0]), lambda: [torch.zeros(128, dtype=torch.int32)]),
        "smem-layout-uninit": (lambda o: smem_layout_uninit(xo[:128], o[0]),
                               lambda: [torch.zeros(128, dtype=torch.int32)]),
    }


CASES = _cases()


def _launches():
    return [(r.kernel, r.grid, r.block, dict(r.ops_by_kind), r.lane_ops, r.batch) for r in emu.last_launches()]


_OUTPUTS = {}


def _run(launch, make_outputs, uniformity, batch=True, findings="record"):
    """Run with the same output tensors (same host addresses) each time, reset to their first contents."""
    if make_outputs not in _OUTPUTS:
        first = make_outputs()
        _OUTPUTS[make_outputs] = (first, [o.clone() for o in first])
    outs, initial = _OUTPUTS[make_outputs]
    for o, i in zip(outs, initial):
        o.copy_(i)
    with emu.collect_findings() as found:
        with emu.emulate("gfx950", findings=findings, uniformity=uniformity) as s:
            s.options.wg_batch = batch
            try:
                launch(outs)
                err = None
            except emu.SanitizerError as e:           # findings="raise": the first finding
                err = (type(e).__name__, str(e))
    return [o.clone() for o in outs], [f.to_dict() for f in found], _launches(), err


@pytest.mark.parametrize("batch", [True, False], ids=["batched", "one-workgroup-at-a-time"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_sample_kernel_same_with_analysis_on_and_off(name, batch):
    launch, make_outputs = CASES[name]
    on = _run(launch, make_outputs, True, batch)
    off = _run(launch, make_outputs, False, batch)
    for x, y in zip(on[0], off[0]):
        assert torch.equal(x.view(torch.uint8), y.view(torch.uint8))
    assert on[1] == off[1]                # findings: check, site, first workgroup / lane / address, count
    assert on[2] == off[2]                # ops by kind and lane-ops of every launch
    assert on[3] == off[3]


def test_planted_workgroup_uniform_findings_are_found():
    launch, make_outputs = CASES["wg-uniform-race-uninit"]
    _outs, found, launches, _ = _run(launch, make_outputs, True)
    assert {f["check"] for f in found} >= {"lds-race", "uninitialized-lds"}
    assert launches[0][5] > 1              # the workgroups ran batched: the uniform path was taken
    outs, found, _, _ = _run(*CASES["wg-uniform-reads"], True)
    assert not found
    t = np.arange(128)
    want = np.concatenate([1000 + b + (b % 4) + 0 + t for b in range(6)])
    np.testing.assert_array_equal(outs[0].numpy(), want)


@pytest.mark.parametrize("name", ["wg-uniform-race-uninit", "broken-race", "lds-overrun", "smem-histogram-past-view",
                                  "smem-scan-no-barrier", "smem-layout-uninit", "atomic-histogram-no-barrier",
                                  "atomic-histogram-past-array", "atomic-reduction-past-array"])
def test_first_finding_raised_is_the_same(name):
    launch, make_outputs = CASES[name]
    assert _run(launch, make_outputs, True, findings="raise")[3] == _run(launch, make_outputs, False,
                                                                         findings="raise")[3]


KERNEL = """
gpu.module @m {
  gpu.func @k(%n: i32, %p: !llvm.ptr<1>) kernel {
    %c1 = arith.constant 1 : i32
    %b = gpu.block_id x
    %t = gpu.thread_id x
    %bi = arith.index_cast %b : index to i32
    %ti = arith.index_cast %t : index to i32
    %u = arith.addi %n, %c1 : i32
    %w = arith.muli %bi, %u : i32
    %v = arith.addi %w, %ti : i32
    %c = arith.cmpi slt, %ti, %n : i32
    %r = scf.if %c -> (i32) {
      scf.yield %u : i32
    } else {
      scf.yield %c1 : i32
    }
    %q = scf.if %c -> (i32) {
      %x = arith.addi %w, %c1 : i32
      scf.yield %x : i32
    } else {
      scf.yield %w : i32
    }
    %f = scf.for %i = %c1 to %u step %c1 iter_args(%acc = %c1) -> (i32) : i32 {
      %s = arith.addi %acc, %c1 : i32
      scf.yield %s : i32
    }
    %g = scf.for %i = %c1 to %w step %c1 iter_args(%acc = %c1) -> (i32) : i32 {
      %s = arith.addi %acc, %c1 : i32
      scf.yield %s : i32
    }
    %h = scf.for %i = %c1 to %ti step %c1 iter_args(%acc = %c1) -> (i32) : i32 {
      %s = arith.addi %acc, %c1 : i32
      scf.yield %s : i32
    }
    gpu.return
  }
}
"""


def test_classes_follow_the_divergence_rules():
    mod = mlir_harness.load(KERNEL)
    func = mod.kernels["k"]
    u = Uniformity(func)
    by_name = {}
    for op in func.body.ops:
        for r in op.results:
            by_name.setdefault(op.name, []).append(u.of(r))
    assert by_name["arith.constant"] == [LAUNCH]
    assert by_name["gpu.block_id"] == [WORKGROUP] and by_name["gpu.thread_id"] == [LANE]
    add = by_name["arith.addi"]
    assert add == [LAUNCH, LANE]                             # %u = n + 1; %v = w + tid
    assert by_name["arith.muli"] == [WORKGROUP]              # %w = bid * u
    ifs = by_name["scf.if"]
    assert ifs == [LANE, LANE]                               # a per-lane condition makes the join per lane
    assert by_name["scf.for"] == [LAUNCH, WORKGROUP, LANE]   # carried values as uniform as the trip count


@pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"), reason="FLYDSL_ROOT is not set (FlyDSL's kernel needs a checkout)")
@pytest.mark.parametrize("T", [40, 300, 3000])
def test_flydsl_sort_same_with_analysis_on_and_off(T):
    _compare_backend("flydsl-upstream-sanitized", T)


@pytest.mark.parametrize("T", [40, 300, 3000])
def test_suite_sort_same_with_analysis_on_and_off(T):
    _compare_backend("flydsl-own", T)


def _compare_backend(backend, T):
    import kernels
    from cases import Case

    ids, w, mask, local = Case(257, 9, T, seed=T).materialize()
    results = []
    for uniformity in (True, False):
        with emu.interpreter_options(uniformity=uniformity, findings="record"):
            r = kernels.run(backend, ids, w, num_experts=257, unit_size=32, target="gfx950")
        results.append((r, _launches()))
    (a, la), (b, lb) = results
    for name in ("sorted_ids", "sorted_weights", "sorted_expert_ids", "num_valid_ids"):
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.tobytes() == y.tobytes(), name
    assert (a.moe_buf_zeroed, a.moe_buf_residue, a.canary, a.path) == (b.moe_buf_zeroed, b.moe_buf_residue,
                                                                        b.canary, b.path)
    assert {k: np.asarray(v).tobytes() for k, v in a.written_by.items()} == \
        {k: np.asarray(v).tobytes() for k, v in b.written_by.items()}
    assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]
    assert la == lb
