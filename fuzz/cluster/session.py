"""A connection to a Dask scheduler: workers checked, tasks submitted, faults turned into clear outcomes.

:func:`connect` opens a :class:`ClusterSession` on ``tcp://HOST:PORT`` (any
address ``distributed.Client`` takes), waits for a first worker, and checks
every worker's environment against this machine's
(:mod:`fuzz.cluster.environment`): a worker that differs is refused (a
warning names it and every difference) and gets no task of this run; when
none is left the session is not opened.  Errors that stop a run before it
starts (Dask not installed, no scheduler, no acceptable worker) are
:class:`ClusterUnavailable`, a :class:`~fuzz.errors.UsageError` (exit
status 2).

:meth:`ClusterSession.tasks` gives a :class:`TaskQueue`: ``add(tag, fn,
*args)`` submits ``fn(expected_environment, *args)`` (each task function
calls :func:`fuzz.cluster.environment.verify` first); iterating yields
``(tag, result)`` as tasks finish, each task's result once.  Faults:

* a worker that dies mid-task: Dask's scheduler reruns the task on another
  worker; only the rerun's result arrives;
* a worker refused by its task (:class:`EnvironmentMismatch`, e.g. one that
  joined after the check): it is refused from then on and the task is
  submitted again to the accepted workers (resubmitted again should they all
  leave);
* the scheduler going away (while a task runs, or at any call the session
  makes to it: the worker count, a submission, a result fetch), a task that
  killed ``allowed-failures`` workers in a row, or a task that raised:
  :class:`ClusterLost`, whose message says which.  The command keeps
  everything it already received and exits with status 3.

Iterating also raises ``KeyboardInterrupt`` for an interrupt latched by
:mod:`fuzz.interrupts` that was dropped where it was raised.
"""
from __future__ import annotations

import contextlib
import logging
import traceback
import uuid
from concurrent.futures import CancelledError
from typing import Callable, Iterator, Optional

from .. import interrupts
from ..errors import UsageError
from .environment import EnvironmentMismatch, describe, differences

#: Seconds to wait for the scheduler to answer, and then for a first worker.
CONNECT_TIMEOUT_S = 30
FIRST_WORKER_TIMEOUT_S = 120
#: How often a queue waiting on restricted tasks checks that an allowed worker is alive.
GUARD_INTERVAL_S = 5
#: Exit status of a run the cluster could not finish.
EXIT_CLUSTER_LOST = 3


class ClusterUnavailable(UsageError):
    """The run cannot start on the cluster: Dask missing, no scheduler, no acceptable worker."""


class ClusterLost(Exception):
    """The cluster could not finish the run (the message says why); what arrived is kept."""


def _quiet_distributed(level: int) -> None:
    """Raise the level of Dask's loggers (each has its own): the session reports what matters."""
    names = [n for n in logging.root.manager.loggerDict if n == "distributed" or n.startswith("distributed.")]
    for name in names + ["distributed"]:
        logging.getLogger(name).setLevel(level)


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ClusterUnavailable(
            f"--scheduler needs Dask's distributed scheduler ({exc}); install it with "
            "pip install 'moesort-verify[cluster]' (or pip install 'dask[distributed]')") from None
    return distributed


class ClusterSession:
    """A connected client, the environment every task must match, and the workers refused."""

    def __init__(self, client, address: str, expected: dict, warn: Callable[[str], None]):
        self.client, self.address, self.expected, self.warn = client, address, expected, warn
        self.refused: dict = {}  # worker address -> why

    def refuse(self, worker: str, why: str) -> None:
        if worker not in self.refused:
            self.refused[worker] = why
            self.warn(f"worker {worker} refused: {why}")

    def check_workers(self) -> None:
        """Run :func:`describe` on every worker now; refuse those that differ or cannot run it."""
        checkout, fixtures = "flydsl_checkout" in self.expected, "fixtures" in self.expected
        found = self.client.run(describe, checkout, fixtures, on_error="return")
        for worker, env in found.items():
            if isinstance(env, BaseException):
                self.refuse(worker, f"cannot run the suite's code there ({type(env).__name__}: {env}); "
                                    "install moesort-verify on every worker")
            else:
                diffs = differences(self.expected, env)
                if diffs:
                    self.refuse(worker, "; ".join(diffs))

    def workers(self) -> dict:
        """{address: threads} of the live workers not refused; :class:`ClusterLost` when the
        scheduler does not answer (its connection closed or timed out)."""
        with self.answering("it did not say which workers are alive"):
            threads = self.client.nthreads()
        return {w: n for w, n in threads.items() if w not in self.refused}

    def went_away(self, detail: str) -> ClusterLost:
        """The :class:`ClusterLost` of a scheduler that stopped answering; ``detail`` says what was lost."""
        return ClusterLost(f"the scheduler at {self.address} went away; {detail}")

    @contextlib.contextmanager
    def answering(self, detail: str):
        """Turn what a call to a gone scheduler raises into :meth:`went_away` (``detail``: what was lost).

        Those are distributed's ``CommClosedError`` and timeouts (both ``OSError``), the
        cancellation of a result being fetched, and the ``ClosedClientError`` of a client
        that gave up reconnecting."""
        from distributed.client import ClosedClientError

        try:
            yield
        except (OSError, CancelledError, ClosedClientError) as exc:
            raise self.went_away(f"{detail} ({type(exc).__name__}: {exc})") from None

    def describe_workers(self) -> str:
        live = self.workers()
        return (f"{len(live)} worker{'s' if len(live) != 1 else ''} ({sum(live.values())} threads) "
                f"at {self.address}")

    def tasks(self) -> "TaskQueue":
        return TaskQueue(self)

    def stop_flag(self):
        """A fresh ``distributed.Event`` (tasks poll it by name; :meth:`set` asks them to stop)."""
        from distributed import Event

        return Event(f"moesort-stop-{uuid.uuid4().hex}", client=self.client)

    def lost(self) -> bool:
        return self.client.status not in ("running", "newly-created")

    def close(self) -> None:
        if self.lost():
            # The client's reconnection attempts would log their cancellation.
            _quiet_distributed(logging.CRITICAL + 1)
        try:
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001 - closing a client whose scheduler is gone
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def connect(address: str, expected: Optional[dict] = None, warn: Callable[[str], None] = print) -> ClusterSession:
    """Connect to the scheduler at ``address``; check and refuse workers (see the module doc).

    ``expected``: the environment tasks must match (default :func:`describe` of this process)."""
    distributed = _import_distributed()
    _quiet_distributed(logging.ERROR)
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ClusterUnavailable(f"--scheduler {address!r}: cannot connect ({type(exc).__name__}: {exc})") from None
    session = ClusterSession(client, address, expected if expected is not None else describe(), warn)
    try:
        client.wait_for_workers(1, timeout=FIRST_WORKER_TIMEOUT_S)
        session.check_workers()
        if not session.workers():
            raise ClusterUnavailable(f"--scheduler {address!r}: no worker with this machine's environment "
                                     f"({len(session.refused)} refused, see above)")
    except TimeoutError:
        session.close()
        raise ClusterUnavailable(f"--scheduler {address!r}: no worker joined within "
                                 f"{FIRST_WORKER_TIMEOUT_S} s") from None
    except (ClusterLost, OSError) as exc:
        session.close()
        raise ClusterUnavailable(f"--scheduler {address!r}: lost while checking the workers "
                                 f"({type(exc).__name__}: {exc})") from None
    except BaseException:
        session.close()
        raise
    return session


def _remote_error(exc: BaseException) -> str:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    return tb[-2000:]


class TaskQueue:
    """Tasks on the cluster, yielded as ``(tag, result)`` when each finishes (see the module doc)."""

    def __init__(self, session: ClusterSession):
        self.session = session
        self._pending: dict = {}  # future -> (tag, fn, args, allowed workers or None)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, tag, fn, *args) -> None:
        s = self.session
        allowed = None
        options = {}
        if s.refused:
            allowed = sorted(s.workers())
            if not allowed:
                raise ClusterLost(f"no worker with this machine's environment is left at {s.address} "
                                  f"({len(s.refused)} refused)")
            options = {"workers": allowed, "allow_other_workers": False}
        name = getattr(fn, "__name__", "task").replace("_", "-")
        with s.answering(f"task {tag!r} was not submitted"):
            future = s.client.submit(fn, s.expected, *args, key=f"{name}-{uuid.uuid4().hex}", pure=False,
                                     **options)
        self._pending[future] = (tag, fn, args, allowed)

    def _rescue_stranded(self) -> None:
        """Resubmit restricted tasks none of whose allowed workers is still alive."""
        live = set(self.session.workers())
        for future, (tag, fn, args, allowed) in list(self._pending.items()):
            if allowed is not None and not live.intersection(allowed) and not future.done():
                del self._pending[future]
                future.cancel()
                self.add(tag, fn, *args)

    def _outcome(self, future):
        """``(tag, result)``, or None when the task was submitted again; raises ClusterLost."""
        from distributed.scheduler import KilledWorker

        tag, fn, args, _ = self._pending.pop(future)
        s = self.session
        if future.status == "finished":
            with s.answering(f"the result of task {tag!r} was not fetched"):
                return tag, future.result()
        if future.cancelled() or s.lost():
            raise self._went_away()
        exc = future.exception()
        if isinstance(exc, EnvironmentMismatch):
            s.refuse(exc.worker, "; ".join(exc.differences))
            self.add(tag, fn, *args)
            return None
        if isinstance(exc, KilledWorker):
            raise ClusterLost(f"task {tag!r} was running on every worker that died under it ({exc}); "
                              "see the workers' logs")
        raise ClusterLost(f"task {tag!r} failed on the cluster:\n{_remote_error(exc)}")

    def _went_away(self) -> ClusterLost:
        return self.session.went_away(f"{len(self._pending)} task(s) were not finished")

    def __iter__(self) -> Iterator:
        from distributed import wait

        while self._pending:
            interrupts.check()  # an interrupt dropped where it was raised (see fuzz.interrupts)
            try:
                done, _ = wait(list(self._pending), timeout=GUARD_INTERVAL_S, return_when="FIRST_COMPLETED")
            except CancelledError:  # wait() raises for futures cancelled by a lost connection
                raise self._went_away() from None
            except TimeoutError:
                if self.session.lost():
                    raise self._went_away() from None
                self._rescue_stranded()
                continue
            for future in done:
                if future not in self._pending:
                    continue
                outcome = self._outcome(future)
                if outcome is not None:
                    yield outcome

    def drain(self, timeout: float) -> list:
        """Results of the tasks that finish within ``timeout`` s; the rest are cancelled.

        A scheduler that goes away while the results are fetched ends the fetching; the
        results fetched before are kept."""
        from distributed import wait

        if not self._pending:
            return []
        try:
            wait(list(self._pending), timeout=timeout)
        except (TimeoutError, CancelledError):
            pass
        out = []
        try:
            for future in list(self._pending):
                if future.status == "finished":
                    tag = self._pending.pop(future)[0]
                    with self.session.answering(f"the result of task {tag!r} was not fetched"):
                        out.append((tag, future.result()))
        except ClusterLost:
            pass  # keep the results fetched before the scheduler went away
        self.cancel()
        return out

    def cancel(self) -> None:
        futures = list(self._pending)
        self._pending.clear()
        if futures and not self.session.lost():
            try:
                self.session.client.cancel(futures)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
