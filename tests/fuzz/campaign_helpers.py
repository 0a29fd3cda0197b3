"""Run ``python -m fuzz`` in a subprocess, as a user would."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fuzz(*args, timeout=240, **popen):
    """``python -m fuzz ARGS``: finished (``subprocess.run``), or started with ``background=True``.
    Faulthandler is on, so a run stopped with SIGABRT prints every thread's stack."""
    cmd = [sys.executable, "-m", "fuzz", *map(str, args)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONFAULTHANDLER="1")
    if popen.get("background"):
        popen.pop("background")
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, **popen)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def campaign_args(tmp_path, *extra, name="c"):
    return ["run", "--workers", "1", "--plain", "--fresh", "--db", tmp_path / "db",
            "--fixtures", tmp_path / "fixtures", "--out", tmp_path / name, *extra]


def failure_fixtures(tmp_path):
    return sorted((tmp_path / "fixtures").glob("*.json"))


def record(tmp_path, name="c"):
    return json.loads((tmp_path / name / "campaign.json").read_text())
