"""``campaign.json`` is kept as the run goes: a campaign killed outright leaves a readable record."""
import json
import os
import re
import signal
import threading
import time

from fuzz.campaign.record import REFRESH_S, RunningRecord
from tests.fuzz.campaign_helpers import campaign_args, fuzz


def test_the_record_is_written_at_start_refreshed_at_each_failure_and_final_without_the_mark(tmp_path):
    path = tmp_path / "campaign.json"
    state = {"cases": 0}
    running = RunningRecord(path, lambda: {"stats": dict(state)}, refresh_s=3600)
    running.start()
    assert json.loads(path.read_text())["stats"]["cases"] == 0 and "stopped_early" in json.loads(path.read_text())
    state["cases"] = 5
    running.event({"type": "case"})                      # not due yet: the file keeps the start's counts
    assert json.loads(path.read_text())["stats"]["cases"] == 0
    running.event({"type": "failure"})                   # a new failure is written at once
    assert json.loads(path.read_text())["stats"]["cases"] == 5
    final = running.finish()
    assert "stopped_early" not in final and json.loads(path.read_text()) == final
    assert not list(tmp_path.glob("*.tmp"))


def test_a_campaign_killed_with_sigkill_leaves_a_record_within_one_refresh_of_the_truth(tmp_path):
    proc = fuzz(*campaign_args(tmp_path, "--backend", "torch-cpu", "--budget", "10m", "--workers", "2"),
                background=True, start_new_session=True)
    seen = []                                             # (time received, cases) of each progress line

    def read():
        for line in proc.stdout:
            m = re.search(r"\s(\d+) cases\s", line)
            if m:
                seen.append((time.monotonic(), int(m.group(1))))
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (seen and seen[-1][1] >= 20 and len(seen) >= 3):
        time.sleep(0.5)
    assert seen and seen[-1][1] >= 20, f"the campaign judged too few cases to test: {seen}"
    killed_at = time.monotonic()
    os.killpg(proc.pid, signal.SIGKILL)                   # the campaign and both workers, no clean-up
    proc.wait(timeout=60)
    reader.join(timeout=10)

    data = json.loads((tmp_path / "c" / "campaign.json").read_text())
    assert "had not finished" in data["stopped_early"] and data["refreshed_at"]
    cases = data["stats"]["cases"]
    # at least what the parent had counted one refresh (plus a second of slack) before the kill ...
    older = [n for t, n in seen if t <= killed_at - REFRESH_S - 1.0]
    assert cases >= max(older, default=0), (cases, seen)
    # ... and never more than it had counted by the kill
    assert cases <= max(n for _, n in seen) + 2 * data["stats"]["cases_per_second"] * REFRESH_S + 1
    assert sum(data["stats"]["by_backend"].values()) == cases
    report = fuzz("report", tmp_path / "c")
    assert report.returncode == 0, report.stderr
    assert "**Stopped early**" in (tmp_path / "c" / "report.md").read_text()
