"""Failures shared across machines through Redis, and a Redis that goes away.

Starts a real ``redis-server`` on loopback (Debian's package, installed by
``.ci/install.sh``).  Two campaign processes with their own local databases
and fixture directories write to it; a third, starting from nothing local,
replays what both found.
"""
import shutil
import socket
import subprocess
import time

import pytest

from .campaign_helpers import campaign_args, fuzz, record

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (apt-get install redis-server)")
BOTH = ["--backend", "planted-sentinel-t", "--backend", "planted-block-expert"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url():
    port = _free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", proc
    proc.kill()
    proc.wait()


def _signatures(tmp_path, name):
    return set(record(tmp_path / name, "c")["stats"]["failures"])


def test_two_writers_and_a_replayer_share_failures(tmp_path, redis_url):
    url, _ = redis_url
    writers = []
    for i, backend in enumerate(("planted-sentinel-t", "planted-block-expert")):
        (tmp_path / f"w{i}").mkdir()
        writers.append(fuzz(*campaign_args(tmp_path / f"w{i}", "--backend", backend, "--cases", "120",
                                           "--seed", str(i), "--redis", url), background=True))
    for w in writers:
        out, _ = w.communicate(timeout=300)
        assert w.returncode == 1, out
    found = _signatures(tmp_path, "w0") | _signatures(tmp_path, "w1")
    assert len(found) == 2

    (tmp_path / "r").mkdir()
    replay = fuzz(*campaign_args(tmp_path / "r", *BOTH, "--cases", "6", "--seed", "99", "--redis", url))
    assert replay.returncode == 1, replay.stdout
    assert _signatures(tmp_path, "r") == found, replay.stdout


def test_redis_going_away_mid_run_loses_nothing(tmp_path, redis_url):
    url, proc = redis_url
    camp = fuzz(*campaign_args(tmp_path, "--backend", "planted-block-expert", "--budget", "25s",
                               "--redis", url), background=True)
    time.sleep(8)
    proc.kill()
    out, _ = camp.communicate(timeout=120)
    assert camp.returncode == 1, out
    assert "unreachable" in out and "local database" in out
    assert list((tmp_path / "fixtures").glob("*.json"))
    assert any((tmp_path / "db").rglob("*")), "the local database kept the failure"


def test_redis_down_from_the_start(tmp_path):
    url = f"redis://127.0.0.1:{_free_port()}/0"
    run = fuzz(*campaign_args(tmp_path, "--backend", "torch-cpu", "--cases", "5", "--redis", url))
    assert run.returncode == 0, run.stdout
    assert "unreachable" in run.stdout
