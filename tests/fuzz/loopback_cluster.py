"""A real Dask cluster on 127.0.0.1 for the tests: ``dask scheduler`` and ``dask worker`` processes.

Every process listens on loopback only (its HTTP server too), runs in a
session of its own (so that :meth:`LoopbackCluster.stop` ends it and every
child it started) and logs into the test's directory.  Workers run with one
thread under a nanny, as ``dask worker`` does by default, with the suite
importable from ``root`` (this checkout unless told otherwise).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90
#: Without a dashboard, scheduler and workers still serve HTTP (health, metrics) on every
#: interface unless told where: loopback, on a free port.
LOOPBACK_HTTP = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")


class LoopbackCluster:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.procs: list = []
        self.address = None

    def _start(self, name: str, args: list, root: Path = ROOT) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=root, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> str:
        info = self.folder / "scheduler.json"
        info.unlink(missing_ok=True)  # a file left by an earlier scheduler would name its address
        self.scheduler = self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0", *LOOPBACK_HTTP,
                                                   "--scheduler-file", str(info)])
        deadline = time.time() + START_TIMEOUT_S
        while not (text := info.read_text() if info.exists() else "").rstrip().endswith("}"):
            # the scheduler creates the file, then writes it: wait for the whole JSON object
            if time.time() > deadline or self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {self.log('scheduler')}")
            time.sleep(0.1)
        self.address = json.loads(text)["address"]
        assert self.address.startswith("tcp://127.0.0.1:"), self.address
        return self.address

    def start_worker(self, name: str, root: Path = ROOT) -> subprocess.Popen:
        return self._start(name, ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", *LOOPBACK_HTTP,
                                  "--name", name, "--death-timeout", "60"], root=root)

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT_S, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=START_TIMEOUT_S)

    def worker_pids(self) -> dict:
        """{worker address: pid of the process that runs its tasks}."""
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT_S, set_as_default=False) as client:
            return client.run(os.getpid)

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def kill_scheduler(self) -> None:
        os.killpg(self.scheduler.pid, signal.SIGKILL)

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            proc.wait(timeout=30)


def start_cluster(folder: Path, workers: int = 2) -> LoopbackCluster:
    cluster = LoopbackCluster(folder)
    try:
        cluster.start_scheduler()
        for i in range(workers):
            cluster.start_worker(f"w{i}")
        cluster.wait_for_workers(workers)
    except BaseException:
        cluster.stop()
        raise
    return cluster
