"""The interleaved mode (``kernels.emu.schedule``): schedules that print, parse and replay; a
barrier that holds every wave until all arrived; the same results as lockstep on race-free
kernels (LDS, atomics, DPP and ``ds_bpermute`` prefix sums) under many schedules; and a
witness -- a schedule with wrong outputs -- for a kernel with a missing barrier, which
lockstep runs right.  With ``FLYDSL_ROOT``: the witness of FlyDSL's p23 cumsum race."""
import os

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import kernels.emu as emu
from fuzz.witness import search
from kernels.emu.errors import EmuError
from kernels.emu.memory import LDS
from kernels.emu.runtime import Arrival
from kernels.emu.schedule import Schedule, run_batch
from kernels.emu.simt import WG
from kernels.emu.stats import LaunchRecord
from tests.emu import atomic_sample_kernels as A
from tests.emu import sample_kernels as K
from tests.emu import smem_sample_kernels as S

pytestmark = pytest.mark.interpreter
_BUILT = {}
#: Schedules the race-free kernels must agree with lockstep under: round robin from two waves,
#: PCT at depths 1 to 3.
SCHEDULES = ["rr:seed=0", "rr:seed=1"] + [f"pct:seed={s}:depth={1 + s % 3}:steps=40" for s in range(10)]


def _kernel(make, *args, **kw):
    key = (make.__name__, args, tuple(sorted(kw.items())))
    if key not in _BUILT:
        _BUILT[key] = make(*args, **kw)
    return _BUILT[key]


# ------------------------------------------------------------ schedules as values
schedules = st.one_of(
    st.builds(Schedule, st.just("rr"), st.integers(0, 2**31)),
    st.builds(Schedule, st.just("pct"), st.integers(0, 2**31), st.integers(1, 8), st.integers(1, 10**6)))


@given(schedules)
def test_a_schedule_prints_as_what_parses_back_to_it(s):
    assert Schedule.parse(str(s)) == s


def test_omitted_fields_take_their_defaults():
    assert Schedule.parse("pct:seed=4") == Schedule("pct", 4, Schedule.depth, Schedule.steps)
    assert Schedule.parse("rr") == Schedule("rr", 0)


@pytest.mark.parametrize("text, names", [
    ("fifo:seed=1", "kind='fifo'"), ("pct:seed=x", "seed='x'"), ("pct:depth=0", "depth=0"),
    ("pct:speed=3", "'speed=3'"), ("rr:depth=2", "rr takes only seed"), ("pct:seed=-1", "seed=-1")])
def test_a_malformed_schedule_is_refused_naming_the_part(text, names):
    with pytest.raises(ValueError, match=names.replace("(", r"\(")):
        Schedule.parse(text)


def test_the_schedule_check_and_a_schedule_are_refused_together():
    with pytest.raises(ValueError, match="shuffle_schedule"):
        emu.Options(shuffle_schedule=True, schedule="rr")


# ------------------------------------------------------------ the scheduler and barriers
def _workgroup(nwaves, W=64):
    L = nwaves * W
    rec = LaunchRecord("k", (1, 1, 1), (L, 1, 1), {})
    X = WG(L, W, L, (L, 1, 1), 1, LDS(64, W, False), None, False, rec, {}, None)
    X.set_workgroups([0], (1, 1, 1))
    return X


def _logging_kernel(log, phases):
    """A stand-in for generated code: each wave logs ``(wave, phase, step)`` at ``phases`` schedule
    points per phase and arrives at a barrier between phases."""
    def fn(X, m, args, pre):
        wave = int(X.wave_lane[np.flatnonzero(m)[0]])
        for phase in range(phases):
            for step in range(3 + wave):          # waves of different lengths
                yield ("llvm.store", None)
                log.append((wave, phase, step))
            if phase + 1 < phases:
                yield Arrival(m, ("gpu.barrier", None))
    return fn


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_no_wave_passes_a_barrier_before_every_wave_reached_it(schedule):
    X, log = _workgroup(4), []
    run_batch(X, _logging_kernel(log, 3), (), None, Schedule.parse(schedule), "k")
    phases = [p for _w, p, _s in log]
    assert phases == sorted(phases)                  # every phase-0 step before any phase-1 step, ...
    assert sorted(log) == sorted((w, p, s) for w in range(4) for p in range(3) for s in range(3 + w))
    assert int(X.lds.epoch[0]) == 3                  # two barriers ran, once each


def test_pct_depth_one_runs_waves_whole_in_priority_order_between_barriers():
    X, log = _workgroup(4), []
    run_batch(X, _logging_kernel(log, 1), (), None, Schedule("pct", 7, 1, 50), "k")
    order = [w for w, _p, _s in log]
    runs = [w for i, w in enumerate(order) if i == 0 or order[i - 1] != w]
    assert sorted(runs) == [0, 1, 2, 3]              # no wave is interrupted


def test_round_robin_takes_one_step_per_wave_in_turn():
    X, log = _workgroup(3), []
    run_batch(X, _logging_kernel(log, 1), (), None, Schedule("rr", 1), "k")
    assert [w for w, _p, _s in log][:6] == [1, 2, 0, 1, 2, 0]


def test_a_barrier_some_lanes_never_reach_is_reported_as_in_lockstep():
    y = torch.zeros(64, dtype=torch.int32)
    for schedule in (None, "rr", "pct:seed=1"):
        with pytest.raises(emu.DivergentBarrierError):
            with emu.emulate("gfx950", schedule=schedule):
                K.launch_broken_barrier(y)


# ------------------------------------------------------------ race-free kernels: as lockstep
def _race_free_cases():
    """name -> run(outputs) and the outputs' factory; each kernel's results depend on no order."""
    g = torch.Generator().manual_seed(3)
    x256 = torch.randint(-1000, 1000, (256,), generator=g, dtype=torch.int32)
    x512 = torch.randint(-1000, 1000, (512,), generator=g, dtype=torch.int32)
    bins = torch.randint(0, 10, (700,), generator=g, dtype=torch.int32)
    xo = torch.arange(700, dtype=torch.int32)
    i32 = torch.int32
    return {
        "dpp-bpermute-scan": (lambda o: _kernel(K.make_scan, 256)(x256, o[0], 256), lambda: [torch.zeros(256, dtype=i32)]),
        "lds-histogram": (lambda o: _kernel(K.make_histogram, 16)(bins, o[0], 300), lambda: [torch.zeros(16, dtype=i32)]),
        "fixed-race": (lambda o: _kernel(K.make_fixed_race)(o[0]), lambda: [torch.zeros(128, dtype=i32)]),
        "lds-clear-fill": (lambda o: _kernel(K.make_lds_clear_then_fill)(o[0]), lambda: [torch.zeros(128, dtype=i32)]),
        "global-exchange": (lambda o: _kernel(K.make_global_exchange)(o[0], o[1]),
                            lambda: [torch.zeros(129, dtype=i32), torch.zeros(128, dtype=i32)]),
        "smem-scan": (lambda o: _kernel(S.make_smem_scan, 256, 2)(x512, o[0]), lambda: [torch.zeros(512, dtype=i32)]),
        "atomic-histogram": (lambda o: _kernel(A.make_atomic_histogram, 10, 256)(bins, o[0], o[1], 700, 3),
                             lambda: [torch.zeros((3, 10), dtype=i32), torch.zeros((3, 10), dtype=i32)]),
        "atomic-reduction": (lambda o: _kernel(A.make_global_reduction, 7)(xo, o[0], 700),
                             lambda: [torch.zeros(7, dtype=i32)]),
    }


def _outputs(name, schedule):
    run, make = _race_free_cases()[name]
    out = make()
    with emu.emulate("gfx950", schedule=schedule):
        run(out)
    return [o.numpy().copy() for o in out]


@pytest.mark.parametrize("name", sorted(_race_free_cases()))
def test_race_free_kernels_give_the_lockstep_results_under_every_schedule(name):
    expected = _outputs(name, None)
    for schedule in SCHEDULES:
        for a, b in zip(_outputs(name, schedule), expected):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} under {schedule}")


def test_dpp_and_bpermute_prefix_sums_are_the_numpy_prefix_sums_interleaved():
    x = np.random.default_rng(9).integers(-1000, 1000, 256).astype(np.int32)
    for schedule in SCHEDULES:
        y = torch.zeros(256, dtype=torch.int32)
        with emu.emulate("gfx942", schedule=schedule):
            _kernel(K.make_scan, 256)(torch.from_numpy(x), y, 256)
        np.testing.assert_array_equal(y.numpy(), np.cumsum(x), err_msg=schedule)


def test_slots_taken_by_atomics_are_each_index_once_under_every_schedule():
    keep = (torch.rand(700, generator=torch.Generator().manual_seed(5)) < 0.4).to(torch.int32)
    for schedule in SCHEDULES[:4]:
        out, count = torch.full((700,), -1, dtype=torch.int32), torch.zeros(1, dtype=torch.int32)
        with emu.emulate("gfx950", schedule=schedule):
            _kernel(A.make_slot_allocation)(keep, out, count, 700)
        n = int(count[0])
        assert sorted(out.numpy()[:n]) == list(np.flatnonzero(keep.numpy())), schedule


def test_a_schedule_replays_the_same_interleaving():
    runs = []
    for _ in range(2):
        y = torch.zeros(128, dtype=torch.int32)
        with emu.emulate("gfx950", sanitize=False, schedule="pct:seed=11:depth=3:steps=6"):
            _kernel(K.make_broken_race)(y)
        runs.append((y.numpy().copy(), [r.schedule_steps for r in emu.last_launches()]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] and runs[0][1][0] > 0


# ------------------------------------------------------------ findings and witnesses
def _race_findings(schedule):
    y = torch.zeros(128, dtype=torch.int32)
    with emu.emulate("gfx950", findings="record", schedule=schedule):
        _kernel(K.make_broken_race)(y)
    return [f for f in emu.last_findings() if f.check == "lds-race"]


@pytest.mark.parametrize("schedule", [None, "rr:seed=0", "pct:seed=2:depth=1"])
def test_the_race_is_reported_in_every_mode_naming_a_lane_of_a_racing_wave(schedule):
    found = _race_findings(schedule)
    assert found and all(0 <= f.lane < 128 for f in found)


def _exchange_runner(make):
    """``run(schedule)`` of the LDS exchange kernel ``make()`` (thread t reads the word thread
    (t + 64) % 128 of the other wave stored): the elements of Y that differ from NumPy's."""
    expected = (np.arange(128) + 64) % 128

    def run(schedule):
        y = torch.zeros(128, dtype=torch.int32)
        with emu.emulate("gfx950", sanitize=False, schedule=schedule):
            _kernel(make)(y)
        return [f"Y[{i}]" for i in np.flatnonzero(y.numpy() != expected)]
    return run


def test_a_missing_barrier_has_a_witness_schedule_though_lockstep_runs_it_right():
    """The exchange kernel without its barrier (wave 0 reads what wave 1 stores, and back)."""
    run = _exchange_runner(K.make_broken_race)
    found = search(run, schedules=20, seed=0)
    assert found.lockstep == []
    assert found.witness is not None and found.witness.kind == "pct", found.summary()
    assert found.differences and found.differences == run(found.witness)      # it replays


def test_no_witness_for_the_kernel_with_its_barrier():
    found = search(_exchange_runner(K.make_fixed_race), schedules=12, seed=0)
    assert found.witness is None and found.tried == 12
    assert found.summary().startswith("no witness in 12 schedules")


def _witnessed_entries():
    from regressions import known_findings
    return [e for e in known_findings.load().entries if e.evidence == known_findings.WITNESSED]


@pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"), reason="FLYDSL_ROOT is not set (FlyDSL's kernel needs a checkout)")
def test_every_witnessed_race_entry_replays_its_witness():
    """Each known finding whose evidence is ``witnessed`` sorts right in lockstep and wrong
    under its recorded schedule, on its fixture and its first backend (for p23-cumsum-race:
    a wave overwrites cumsum[31] before another reads it, and block 0 gets expert 31)."""
    from fuzz.witness import fixture_runner
    from regressions.fixtures import FIXTURE_DIR, load

    entries = _witnessed_entries()
    assert entries, "no known finding is witnessed"
    for entry in entries:
        fixture = load(FIXTURE_DIR / f"{entry.fixture}.json")
        run = fixture_runner(fixture, entry.backends[0])
        assert run(None) == [], entry.id
        schedule = entry.witness[0]
        assert run(Schedule.parse(schedule)), f"{entry.id}: no difference under {schedule}"


def test_an_unknown_option_value_is_an_error_before_running():
    with pytest.raises((ValueError, EmuError), match="schedule"):
        emu.Options(schedule=3)


PLANTED_FIXTURE = "E513-k9-T300-u32-04dec4c9d33203f1"


def _without_the_barrier_after_the_serial_prefix_sum(tmp_path):
    """A copy of the checkout's ``kernels/`` whose p23 kernel lacks the barrier after thread 0
    extends the prefix sum past 512 experts (None when that code is not there)."""
    import shutil
    from pathlib import Path

    where = tmp_path / "planted"
    shutil.copytree(Path(os.environ["FLYDSL_ROOT"]) / "kernels", where / "kernels",
                    ignore=shutil.ignore_patterns("__pycache__"))
    src = where / "kernels" / "moe" / "moe_sorting_kernel.py"
    lines = src.read_text().splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if "= _extend_prefix_sum_serial(cumsum_mr" in line]
    if len(at) != 1 or lines[at[0] + 1].strip() != "gpu.barrier()":
        return None
    del lines[at[0] + 1]
    src.write_text("".join(lines))
    return where


def _replay(root, schedule):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-m", "fuzz", "explain", PLANTED_FIXTURE, "--backend", "flydsl-upstream",
                           "--replay", schedule], cwd=repo, capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, FLYDSL_ROOT=str(root), PYTHONPATH=str(repo)))


@pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"), reason="FLYDSL_ROOT is not set (FlyDSL's kernel needs a checkout)")
def test_a_barrier_removed_past_512_experts_has_a_round_robin_witness(tmp_path):
    """Round robin lets waves 1-7 read cumsum while wave 0 is still extending the prefix sum;
    the checkout itself sorts right under the same schedule."""
    planted = _without_the_barrier_after_the_serial_prefix_sum(tmp_path)
    if planted is None:
        pytest.skip("the checkout's p23 kernel has no barrier right after _extend_prefix_sum_serial")
    wrong = _replay(planted, "rr:seed=0")
    assert wrong.returncode == 1 and "difference(s) from the golden model" in wrong.stdout, wrong.stdout + wrong.stderr
    right = _replay(os.environ["FLYDSL_ROOT"], "rr:seed=0")
    assert right.returncode == 0 and "outputs as the golden model's" in right.stdout, right.stdout + right.stderr
