"""The main job end to end: a planted bug is found, shrunk, saved once, and replayed."""
import json
import signal
import subprocess
import time

import pytest

from .campaign_helpers import campaign_args, failure_fixtures, fuzz, record


def test_planted_bug_is_found_shrunk_saved_once_and_replayed(tmp_path):
    run = fuzz(*campaign_args(tmp_path, "--backend", "planted-sentinel-t", "--cases", "150", "--seed", "3"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "cases/s" in run.stdout
    saved = failure_fixtures(tmp_path)
    assert len(saved) == 1, saved
    data = json.loads(saved[0].read_text())
    case = data["case"]
    # the planted bug needs the large path (T >= 64) and M < T; shrinking reaches the edge
    assert case["tokens"] == 64 and case["num_local_tokens"] is not None
    assert data["failure"]["signature"]["path"] == "large" and data["failure"]["shrunk"]
    assert data["reproducer"].startswith("python -m fuzz replay --fixture")
    assert record(tmp_path)["new_failures"] == [data["failure"]["signature"]["backend"] + "/-/large/sorted_ids/value"]

    replay = fuzz("replay", "--fixture", saved[0], "--backend", "planted-sentinel-t")
    assert replay.returncode == 1 and "FAIL" in replay.stdout
    assert fuzz("replay", "--fixture", saved[0], "--backend", "torch-cpu").returncode == 0

    again = fuzz(*campaign_args(tmp_path, "--backend", "planted-sentinel-t", "--cases", "30", "--seed", "4"))
    assert again.returncode == 0, again.stdout  # known signature: nothing new
    assert failure_fixtures(tmp_path) == saved


def test_correct_backend_exits_zero(tmp_path):
    run = fuzz(*campaign_args(tmp_path, "--backend", "torch-cpu", "--cases", "20"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no failures" in run.stdout and not failure_fixtures(tmp_path)
    assert record(tmp_path)["stats"]["cases"] >= 20


@pytest.mark.parametrize("args,message", [
    (["--budget", "soon"], "--budget 'soon'"),
    (["--backend", "nope"], "--backend 'nope' is not declared"),
    (["--shape", "X9"], "--shape 'X9'"),
    (["--backend", "torch-cuda"], None),
    (["--workers", "0"], "--workers 0"),
])
def test_usage_errors_exit_2(tmp_path, args, message):
    import torch

    if args == ["--backend", "torch-cuda"]:
        if torch.cuda.is_available():
            pytest.skip("torch-cuda is available on this machine")
        message = "unavailable here"
    run = fuzz(*campaign_args(tmp_path, *args))
    assert run.returncode == 2 and message in run.stderr, run.stderr


@pytest.mark.parametrize("workers,signum", [(1, signal.SIGINT), (2, signal.SIGTERM)], ids=["1-SIGINT", "2-SIGTERM"])
def test_interrupt_keeps_every_failure(tmp_path, workers, signum):
    proc = fuzz(*campaign_args(tmp_path, "--backend", "planted-block-expert", "--budget", "5m",
                               "--workers", workers), background=True)
    deadline = time.time() + 120
    while time.time() < deadline and not failure_fixtures(tmp_path):
        time.sleep(0.5)
    time.sleep(1.0)
    proc.send_signal(signum)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)           # faulthandler prints where the campaign was
        out, _ = proc.communicate(timeout=60)
        pytest.fail(f"the campaign did not end within 60 s of {signum.name}; its output and stacks:\n{out[-6000:]}")
    assert proc.returncode == 1, out
    assert failure_fixtures(tmp_path), out
    assert "campaign record" in out
    assert record(tmp_path)["stats"]["failures"]


def test_report_is_written(tmp_path):
    fuzz(*campaign_args(tmp_path, "--backend", "planted-sentinel-t", "--cases", "40"))
    rep = fuzz("report", tmp_path / "c")
    assert rep.returncode == 0, rep.stderr
    text = (tmp_path / "c" / "report.md").read_text()
    assert "cases/s" in text and "planted-sentinel-t/-/large/sorted_ids/value" in text
    assert (tmp_path / "c" / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fuzz("report", tmp_path / "missing").returncode == 2
