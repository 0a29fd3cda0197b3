"""The witness search (``fuzz.witness``) on stand-in runs: lockstep first, round robin, then PCT
seeds in order; a case already wrong in lockstep needs other differences.  ``fuzz explain FIXTURE
--witness``: a fixture without a race has no witness and says so with the count of schedules
tried; a malformed ``--replay`` schedule is a usage error naming the part, and so is the region
map of a logits fixture."""
import subprocess
import sys

import pytest

from fuzz.witness import search
from kernels.emu.schedule import Schedule
from tests.fuzz.campaign_helpers import ROOT

FIXTURE = "E32-k5-T50-u32-epnone-6959a54ff8b9a8b2"


def _stand_in(wrong_under, lockstep=()):
    """A run that differs from its expected result under the schedules ``wrong_under`` (strings)
    and in ``lockstep`` ways without any; it records what it ran."""
    ran = []

    def run(schedule):
        ran.append(None if schedule is None else str(schedule))
        return list(lockstep) + (["out[3]"] if str(schedule) in wrong_under else [])
    return run, ran


def test_lockstep_then_round_robin_then_pct_seeds_in_order_until_the_first_witness():
    run, ran = _stand_in({"pct:seed=12:depth=3:steps=1"})
    found = search(run, schedules=10, seed=10)
    assert ran == [None, "rr:seed=0", "pct:seed=10:depth=1:steps=1", "pct:seed=11:depth=2:steps=1",
                   "pct:seed=12:depth=3:steps=1"]
    assert found.witness == Schedule("pct", 12, 3, 1) and found.differences == ["out[3]"] and found.tried == 4


def test_no_witness_says_how_many_schedules_ran():
    run, ran = _stand_in(set())
    found = search(run, schedules=5)
    assert found.witness is None and found.tried == 5 and len(ran) == 6
    assert found.summary().startswith("no witness in 5 schedules")


def test_a_case_wrong_in_lockstep_needs_other_differences_for_a_witness():
    run, _ = _stand_in({"pct:seed=1:depth=2:steps=1"}, lockstep=["num_valid_ids[0]"])
    found = search(run, schedules=10)
    assert found.lockstep == ["num_valid_ids[0]"]
    assert found.witness == Schedule("pct", 1, 2, 1) and found.differences == ["out[3]"]


def _explain(*args):
    return subprocess.run([sys.executable, "-m", "fuzz", "explain", FIXTURE, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.interpreter
def test_the_suite_sort_has_no_witness_in_the_schedules_tried():
    proc = _explain("--witness", "--backend", "flydsl-own", "--schedules", "3", "--seed", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no witness in 3 schedules" in proc.stdout


def test_a_replay_of_a_malformed_schedule_is_refused():
    proc = _explain("--replay", "pct:seed=1:depth=zero", "--backend", "flydsl-own")
    assert proc.returncode == 2 and "depth='zero' is not an integer" in proc.stderr


def test_the_region_map_of_a_logits_fixture_is_refused_in_one_line():
    """The region map varies cases of ids; a fixture of router logits gets a usage error that
    names it and says what runs it, not a traceback."""
    logits_fixture = "E512-k1-T9-u16-f32-plain-7efb2784-96e030eb6248debf"
    proc = subprocess.run([sys.executable, "-m", "fuzz", "explain", logits_fixture], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "E512-k1-T9-u16-f32-plain-7efb2784: a fixture of router logits" in proc.stderr
    assert "--witness" in proc.stderr
