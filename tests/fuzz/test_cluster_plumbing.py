"""The pieces of ``--scheduler`` that need no cluster: the environment check, database changes, errors."""
import pickle
import sys
from types import SimpleNamespace

import pytest
from hypothesis.database import InMemoryExampleDatabase

from fuzz.campaign.database import RecordingDatabase, replay_changes
from fuzz.cluster import environment
from fuzz.cluster.environment import EnvironmentMismatch


def _suite(root):
    for pkg in environment.SUITE_PACKAGES:
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text(f"# {pkg}\n")
    (root / "regressions" / "fixtures").mkdir()
    return root


def test_suite_digest_follows_the_sources_but_not_caches_or_fixtures(tmp_path):
    root = _suite(tmp_path)
    first = environment.suite_digest(root)
    (root / "fuzz" / "__pycache__").mkdir()
    (root / "fuzz" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (root / "regressions" / "fixtures" / "new.json").write_text("{}")
    assert environment.suite_digest(root) == first
    assert environment.fixtures_digest(root) != environment.fixtures_digest(_suite(tmp_path / "other"))
    (root / "fuzz" / "judge.py").write_text("x = 1\n")
    assert environment.suite_digest(root) != first


def test_differences_name_the_field_and_both_values():
    here = {"python": "3.11", "flydsl": "0.5.0", "suite": "aaaa", "flydsl_checkout": "cccc"}
    worker = {"python": "3.11", "flydsl": "0.4.0", "suite": "aaaa", "flydsl_checkout": None}
    lines = environment.differences(here, worker)
    assert lines[0] == "flydsl: 0.4.0 on the worker, 0.5.0 on the submitter"
    assert lines[1].startswith("FLYDSL_ROOT is not set on the worker") and "cccc" in lines[1]
    assert environment.differences(here, dict(here)) == []


def test_verify_refuses_a_process_whose_environment_differs():
    mine = environment.describe(fixtures=True)
    environment.verify(mine)
    with pytest.raises(EnvironmentMismatch) as info:
        environment.verify(dict(mine, flydsl="0.0.1"))
    assert "flydsl: " in str(info.value) and "0.0.1 on the submitter" in str(info.value)
    again = pickle.loads(pickle.dumps(info.value))  # it travels from the worker to the submitter
    assert again.worker == info.value.worker and again.differences == info.value.differences


def test_recorded_changes_rebuild_the_database_elsewhere():
    inner = InMemoryExampleDatabase()
    inner.save(b"seeded", b"0")
    recording = RecordingDatabase(inner)
    recording.save(b"k", b"1")
    recording.save(b"k", b"2")
    recording.delete(b"k", b"1")
    recording.move(b"k", b"j", b"2")
    assert list(recording.fetch(b"seeded")) == [b"0"]
    copy = InMemoryExampleDatabase()
    replay_changes(copy, recording.changes)
    assert list(copy.fetch(b"k")) == [] and list(copy.fetch(b"j")) == [b"2"]
    assert list(copy.fetch(b"seeded")) == []  # only changes travel
    with pytest.raises(ValueError, match="'clear'"):
        replay_changes(copy, [("clear", ())])


def test_without_dask_the_option_says_what_to_install(monkeypatch):
    from fuzz.cluster import session

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(session.ClusterUnavailable, match=r"pip install 'moesort-verify\[cluster\]'"):
        session.connect("tcp://127.0.0.1:8786")


def test_no_scheduler_at_the_address_is_a_usage_error(monkeypatch):
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from fuzz.cluster import session
    from fuzz.errors import UsageError

    monkeypatch.setattr(session, "CONNECT_TIMEOUT_S", 2)
    with pytest.raises(UsageError, match=r"--scheduler 'tcp://127.0.0.1:9': cannot connect"):
        session.connect("tcp://127.0.0.1:9")


class _ClientOfAGoneScheduler:
    """A client whose scheduler answered the connection, then closed it."""

    status = "running"

    def __init__(self, *args, **kwargs):
        pass

    def wait_for_workers(self, n, timeout=None):
        pass

    def run(self, *args, **kwargs):
        return {}

    def nthreads(self):
        from distributed.comm.core import CommClosedError

        raise CommClosedError("in <TCP (closed) ConnectionPool.ncores>: Stream is closed")

    def close(self, timeout=None):
        pass


def test_a_scheduler_that_stops_answering_the_worker_count_is_a_lost_cluster():
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from fuzz.cluster.session import ClusterLost, ClusterSession

    session = ClusterSession(_ClientOfAGoneScheduler(), "tcp://127.0.0.1:1", {}, warn=print)
    with pytest.raises(ClusterLost, match=r"scheduler at tcp://127.0.0.1:1 went away; it did not say which "
                                          r"workers are alive \(CommClosedError: .*Stream is closed\)"):
        session.workers()
    with pytest.raises(ClusterLost, match="went away"):
        session.describe_workers()


def _gone_errors():
    from concurrent.futures import CancelledError

    from distributed.client import ClosedClientError
    from distributed.comm.core import CommClosedError

    return [CommClosedError("closed"), TimeoutError("timed out"), CancelledError("cancelled"),
            ClosedClientError("Client is closed")]


def test_every_error_of_a_gone_scheduler_becomes_a_lost_cluster_and_others_pass_through():
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from fuzz.cluster.session import ClusterLost, ClusterSession

    session = ClusterSession(_ClientOfAGoneScheduler(), "tcp://127.0.0.1:1", {}, warn=print)
    for error in _gone_errors():
        with pytest.raises(ClusterLost, match=rf"went away; the result was not fetched \({type(error).__name__}: "):
            with session.answering("the result was not fetched"):
                raise error
    with pytest.raises(ValueError, match="a task's own error"):
        with session.answering("the result was not fetched"):
            raise ValueError("a task's own error")


def test_a_scheduler_lost_while_the_workers_are_checked_is_a_usage_error(monkeypatch):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from fuzz.cluster import session
    from fuzz.errors import UsageError

    monkeypatch.setattr(distributed, "Client", _ClientOfAGoneScheduler)
    with pytest.raises(UsageError, match=r"--scheduler 'tcp://127.0.0.1:1': lost while checking the workers "
                                         r"\(ClusterLost: .*went away"):
        session.connect("tcp://127.0.0.1:1", expected={})


class _QueueLostAtSecondSubmit:
    """A task queue whose scheduler goes away when the second task is submitted."""

    def __init__(self):
        self.added, self.cancelled = [], False

    def add(self, tag, fn, *args):
        from fuzz.cluster.session import ClusterLost

        if self.added:
            raise ClusterLost("the scheduler at tcp://127.0.0.1:1 went away; task 1 was not submitted")
        self.added.append(tag)

    def __iter__(self):
        return iter(())

    def cancel(self):
        self.cancelled = True


class _SessionLostAtSecondSubmit:
    def __init__(self):
        self.queue = _QueueLostAtSecondSubmit()

    def tasks(self):
        return self.queue

    def lost(self):
        return True


def test_a_scheduler_lost_while_tasks_are_submitted_ends_the_runs_as_a_lost_cluster():
    from fuzz.cluster import compile_jobs, mutants
    from fuzz.cluster.session import ClusterLost

    session = _SessionLostAtSecondSubmit()
    with pytest.raises(ClusterLost, match="went away") as info:
        chosen = [SimpleNamespace(path="kernels/moesort/small.py") for _ in range(3)]
        mutants.run_all(session, chosen, 60, 0, "flydsl-own", False, on_done=print)
    assert info.value.partial == [] and session.queue.cancelled

    session = _SessionLostAtSecondSubmit()
    runner = compile_jobs.MatrixRunner(session)
    assert runner(["j0", "j1"], on_done=print) == []
    assert "went away" in str(runner.lost) and session.queue.cancelled
