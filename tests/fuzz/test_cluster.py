"""``--scheduler``: campaigns, mutation runs and the compile matrix on a real loopback Dask cluster.

A ``dask scheduler`` and two ``dask worker`` processes (one thread each, under
nannies) on 127.0.0.1, shared by this module's tests; the fault tests start
clusters of their own.  Each cluster run is compared with the same command
run locally.
"""
import json
import os
import shutil
import signal
import time

import pytest

from .campaign_helpers import campaign_args, failure_fixtures, fuzz, record
from .loopback_cluster import ROOT, LoopbackCluster, start_cluster

pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'moesort-verify[cluster]')")

#: Three mutants of the small path that the suite kills within seconds each.
MUTATE = ["mutate", "--source", "kernels/moesort/small.py", "--operator", "sentinel_t", "--operator", "mask_invert",
          "--no-baseline", "--timeout", "60"]
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("cluster"), workers=2)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def local_mutation(tmp_path_factory):
    out = tmp_path_factory.mktemp("local-mutation")
    run = fuzz(*MUTATE, "--jobs", "2", "--out", out, timeout=RUN_TIMEOUT_S)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def _without_timings(details_file):
    rows = json.loads(details_file.read_text())
    for row in rows:
        row.pop("seconds")
    return rows


def _assert_same_mutation_outputs(local, remote):
    assert json.loads((remote / "mutation.json").read_text()) == json.loads((local / "mutation.json").read_text())
    assert (remote / "mutation.md").read_text() == (local / "mutation.md").read_text()
    assert _without_timings(remote / "mutation-details.json") == _without_timings(local / "mutation-details.json")


def test_mutation_run_on_the_cluster_equals_the_local_one(cluster, local_mutation, tmp_path):
    run = fuzz(*MUTATE, "--scheduler", cluster.address, "--out", tmp_path, timeout=RUN_TIMEOUT_S)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 workers (2 threads) at tcp://127.0.0.1:" in run.stderr
    _assert_same_mutation_outputs(local_mutation, tmp_path)


def _busy_worker(cluster, deadline):
    """The pid of a worker process judging a mutant (its check subprocess is running)."""
    import psutil

    while time.time() < deadline:
        for pid in cluster.worker_pids().values():
            try:
                children = psutil.Process(pid).children(recursive=True)
                if any("fuzz.mutation.check_mutant" in " ".join(c.cmdline()) for c in children):
                    return pid
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.5)
    raise AssertionError("no worker started judging a mutant in time")


def test_a_worker_killed_mid_run_loses_nothing(cluster, local_mutation, tmp_path):
    proc = fuzz(*MUTATE, "--scheduler", cluster.address, "--out", tmp_path, background=True)
    try:
        os.kill(_busy_worker(cluster, time.time() + 120), signal.SIGKILL)
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and len({line.split()[1] for line in lines}) == 3, out  # each mutant counted once
    _assert_same_mutation_outputs(local_mutation, tmp_path)
    cluster.wait_for_workers(2)  # the nanny restarted it, for the tests after this one


def _fixture_without_paths(path):
    data = json.loads(path.read_text())
    data.pop("reproducer")
    return data


def _on_every_worker(args):
    """Campaign arguments without ``--workers 1``: one chunk at a time per cluster worker."""
    at = args.index("--workers")
    return args[:at] + args[at + 2:]


def test_planted_bug_campaign_on_the_cluster_saves_the_same_single_fixture(cluster, tmp_path):
    args = ("--backend", "planted-sentinel-t", "--cases", "150", "--seed", "3")
    local = fuzz(*campaign_args(tmp_path / "local", *args))
    remote = fuzz(*_on_every_worker(campaign_args(tmp_path / "remote", *args, "--scheduler", cluster.address)))
    assert local.returncode == 1 and remote.returncode == 1, remote.stdout + remote.stderr
    assert "cases/s on 2 workers of the cluster at tcp://127.0.0.1:" in remote.stdout
    saved = failure_fixtures(tmp_path / "remote")
    assert len(saved) == 1, saved
    assert [_fixture_without_paths(p) for p in saved] == \
        [_fixture_without_paths(p) for p in failure_fixtures(tmp_path / "local")]
    data = record(tmp_path / "remote")
    assert data["new_failures"] == record(tmp_path / "local")["new_failures"]
    assert data["stats"]["cases"] == 2 * 150  # the case budget is per worker, as --workers 2 here
    assert data["stats"]["workers"] == 2 and data["config"]["scheduler"] == cluster.address
    assert any((tmp_path / "remote" / "db").rglob("*")), "the examples reached the local database"


def test_compile_matrix_on_the_cluster_equals_the_local_one(cluster, tmp_path):
    from kernels.compilecheck.toolchain import missing_reason

    if missing_reason():
        pytest.skip(f"no ROCm toolchain for the compile pipeline: {missing_reason()}")
    args = ("compile", "--backend", "flydsl-own", "--backend", "probe", "--shape", "Mixtral", "-q")
    local = fuzz(*args, "-j", "2", "--out", tmp_path / "local", timeout=RUN_TIMEOUT_S)
    remote = fuzz(*args, "--scheduler", cluster.address, "--out", tmp_path / "remote", timeout=RUN_TIMEOUT_S)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr

    def table(folder, drop=("compile_s",)):
        lines = (folder / "compile_matrix.csv").read_text().splitlines()
        header = lines[0].split(",")
        keep = [i for i, name in enumerate(header) if name not in drop]
        return [[row.split(",")[i] for i in keep] for row in lines]

    assert len(table(tmp_path / "remote")) > 20
    assert table(tmp_path / "remote") == table(tmp_path / "local")

    def report(folder):  # the header's wall time and workers say how it ran
        return [line for line in (folder / "compile_matrix.md").read_text().splitlines()
                if not line.startswith(("- wall time:", "- workers:"))]
    assert report(tmp_path / "remote") == report(tmp_path / "local")


def test_scheduler_going_away_ends_the_run_and_keeps_what_was_found(tmp_path):
    c = start_cluster(tmp_path / "cluster", workers=1)
    try:
        proc = fuzz(*_on_every_worker(campaign_args(tmp_path, "--backend", "planted-block-expert", "--budget",
                                                    "5m", "--scheduler", c.address)), background=True)
        deadline = time.time() + 180
        while time.time() < deadline and not failure_fixtures(tmp_path):
            time.sleep(0.5)
        assert failure_fixtures(tmp_path), c.log("w0")
        c.kill_scheduler()
        out, _ = proc.communicate(timeout=120)
    finally:
        c.stop()
    assert proc.returncode == 3, out
    assert "went away" in out and "stopped early" in out
    data = record(tmp_path)
    assert "went away" in data["stopped_early"] and data["stats"]["failures"]
    assert failure_fixtures(tmp_path)


def _other_suite(folder):
    """A copy of the suite whose sources differ by one comment."""
    for pkg in ("oracle", "cases", "kernels", "fuzz", "regressions"):
        shutil.copytree(ROOT / pkg, folder / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    with open(folder / "fuzz" / "judge.py", "a") as f:
        f.write("# another version of the suite\n")
    return folder


def test_worker_with_other_suite_sources_is_refused_at_the_start_and_when_joining_later(tmp_path):
    other = _other_suite(tmp_path / "other")
    c = LoopbackCluster(tmp_path / "cluster")
    try:
        c.start_scheduler()
        c.start_worker("good")
        c.start_worker("other", root=other)
        c.wait_for_workers(2)
        run = fuzz(*_on_every_worker(campaign_args(tmp_path, "--backend", "torch-cpu", "--cases", "10",
                                                   "--scheduler", c.address)))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "refused: suite sources" in run.stderr and "on the worker" in run.stderr
        assert record(tmp_path)["stats"]["workers"] == 1 and record(tmp_path)["stats"]["cases"] == 10

        late = fuzz(*_on_every_worker(campaign_args(tmp_path, "--backend", "torch-cpu", "--budget", "25s",
                                                    "--scheduler", c.address, name="late")), background=True)
        c.start_worker("late", root=other)
        out, _ = late.communicate(timeout=180)
        assert late.returncode == 0, out
        assert out.count("refused: suite sources") == 2, out  # the one at the start, then the late one
    finally:
        c.stop()
