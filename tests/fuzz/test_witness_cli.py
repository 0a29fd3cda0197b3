"""``fuzz explain FIXTURE --witness``: a fixture without a race has no witness and says so with
the count of schedules tried; a malformed ``--replay`` schedule is a usage error naming the part."""
import subprocess
import sys

import pytest

from tests.fuzz.campaign_helpers import ROOT

pytestmark = pytest.mark.interpreter
FIXTURE = "E32-k5-T50-u32-epnone-6959a54ff8b9a8b2"


def _explain(*args):
    return subprocess.run([sys.executable, "-m", "fuzz", "explain", FIXTURE, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)


def test_the_suite_sort_has_no_witness_in_the_schedules_tried():
    proc = _explain("--witness", "--backend", "flydsl-own", "--schedules", "3", "--seed", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no witness in 3 schedules" in proc.stdout


def test_a_replay_of_a_malformed_schedule_is_refused():
    proc = _explain("--replay", "pct:seed=1:depth=zero", "--backend", "flydsl-own")
    assert proc.returncode == 2 and "depth='zero' is not an integer" in proc.stderr
