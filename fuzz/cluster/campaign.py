"""Fuzz campaigns on a Dask cluster: campaign chunks as tasks, for the budget.

The submitting machine keeps ``slots`` chunks running (default: one per
accepted worker, following the cluster as it grows).  Slot ``s`` runs chunks
0, 1, 2, ... with the seeds and (backend, target) pairs that local worker
``s`` of ``fuzz run --workers`` would use, until the time budget (the seconds
left when a chunk is submitted) or its case budget (``--cases`` per slot) is
spent.

:func:`chunk_task` runs on a worker: after the environment check it runs
the shared-failure replay and one chunk of a
:class:`~fuzz.campaign.worker.CampaignWorker`, with the submitter's known
signatures and shared failure records, and returns a :class:`ChunkResult`:
the events, the failure fixtures (in memory), the example-database changes
and the case count.  Redis, when configured, is written by the worker as in
a local run.  Campaign chunks keep process-wide state (the interpreter,
Hypothesis), so a worker process runs one chunk at a time whatever its
thread count.

:func:`run_campaign` is the submitting side: every result is absorbed at
once -- database changes applied to the local example database, fixtures
saved into the local fixture directory (:func:`~fuzz.campaign.worker.store_failure`:
one per signature, the smaller of two shrunk ones), events passed on with
their fixture paths made local.  An interrupt asks the running chunks to stop
(a ``distributed.Event`` they poll), keeps what they hand back within
:data:`STOP_GRACE_S`, and re-raises; a lost cluster raises
:class:`~fuzz.cluster.session.ClusterLost` after the same bookkeeping.
Failures still unshrunk at the end are reported as a local run reports them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from hypothesis.database import InMemoryExampleDatabase, MultiplexedDatabase

from ..campaign.database import RecordingDatabase, open_database, redis_database, replay_changes
from ..campaign.worker import (
    SHARED_FAILURES_KEY,
    CampaignConfig,
    CampaignWorker,
    failure_fixture,
    known_signatures,
    store_failure,
)
from .environment import verify
from .session import ClusterSession

#: Seconds an interrupted run waits for the running chunks to hand back what they found.
STOP_GRACE_S = 60
#: How often a chunk asks whether the submitter wants it to stop.
STOP_POLL_S = 2.0
_CHUNK_LOCK = threading.Lock()


@dataclasses.dataclass
class ChunkResult:
    """What one chunk hands back: ``fixtures`` {signature: Fixture} (a shrunk one replaces the
    unshrunk one), ``known_keys`` the signatures it shrank or replayed, ``replayed`` the shared
    failure records it has seen, ``changes`` of the example database, ``cases`` run."""

    events: list
    fixtures: dict
    known_keys: list
    replayed: list
    changes: list
    cases: int


def _known_findings_file(text: str) -> str:
    """A file holding ``text``, named by its digest, so the list is parsed once per worker process."""
    folder = Path(tempfile.gettempdir()) / f"moesort-known-findings-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    path = folder / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.toml"
    if not path.exists():
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return str(path)


def _stop_poller(name: Optional[str]) -> Callable[[], bool]:
    if name is None:
        return lambda: False
    from distributed import Event

    event = Event(name)
    state = {"asked": 0.0, "stop": False}

    def stop_requested() -> bool:
        now = time.monotonic()
        if not state["stop"] and now - state["asked"] >= STOP_POLL_S:
            state["asked"] = now
            try:
                state["stop"] = event.is_set()
            except Exception:  # noqa: BLE001 - no scheduler to hand a result to: stop
                state["stop"] = True
        return state["stop"]
    return stop_requested


def chunk_task(expected: dict, config: CampaignConfig, slot: int, chunk: int, seconds_left: Optional[float],
               max_cases: Optional[int], known_keys: list, shared_records: list, known_findings_text: str,
               stop_name: Optional[str]) -> ChunkResult:
    """Replay shared failures, then run chunk ``chunk`` of slot ``slot`` on this worker."""
    verify(expected)
    with _CHUNK_LOCK:
        events: list = []
        config = dataclasses.replace(
            config, deadline=None if seconds_left is None else time.time() + seconds_left, max_cases=max_cases,
            known_findings=_known_findings_file(known_findings_text))
        memory = InMemoryExampleDatabase()
        for raw in shared_records:
            memory.save(SHARED_FAILURES_KEY, raw)
        recording = RecordingDatabase(memory)
        redis = redis_database(config.redis_url, on_warning=lambda m: events.append(
            {"type": "warning", "worker": slot, "message": m}))
        db = recording if redis is None else MultiplexedDatabase(recording, redis)
        fixtures: dict = {}

        def save(outcome, shrunk: bool, key: str) -> str:
            fixture = failure_fixture(outcome, shrunk, key)
            if shrunk or key not in fixtures:  # a chunk shrinks a signature once at most
                fixtures[key] = fixture
            return fixture.filename

        start_known = set(known_keys)
        search = CampaignWorker(config, slot, events.append, db, set(known_keys), save=save,
                                stop_requested=_stop_poller(stop_name))
        try:
            search.replay_shared()
            if not search.out_of_budget():
                search.run_chunk(search.pair(chunk), chunk)
        except KeyboardInterrupt:
            pass  # the submitter asked to stop: hand back what was found
        return ChunkResult(events=events, fixtures=fixtures, known_keys=sorted(search.known_keys - start_known),
                           replayed=sorted(search.seen_records), changes=recording.changes, cases=search.cases)


class _Submitter:
    """The submitting side's state (see :func:`run_campaign`)."""

    def __init__(self, session: ClusterSession, config: CampaignConfig, slots: Optional[int],
                 on_event: Callable[[dict], None]):
        self.session, self.config, self.slots, self.on_event = session, config, slots, on_event
        self.db = open_database(config.db_dir)
        self.known_keys = known_signatures(config.fixtures_dir)
        self.unshrunk: dict = {}  # signature -> local path of its unshrunk fixture
        self.replayed: set = set()  # shared failure records some chunk has replayed
        self.known_findings_text = Path(config.known_findings).read_text()
        self.cases: dict = {}  # slot -> cases run
        self.next_chunk: dict = {}  # slot -> its next chunk
        self.retired: set = set()
        self.queue = session.tasks()
        self.stop = session.stop_flag()
        self.workers = 0

    def _report_workers(self) -> None:
        """Tell ``on_event`` how many workers can be running chunks, when that changes."""
        count = len(self.session.workers())
        if count != self.workers:
            self.workers = count
            searching = min(count, self.slots) if self.slots else count
            self.on_event({"type": "workers", "count": searching, "where": self.session.address})

    def _budget(self, slot: int):
        """(seconds left, cases left) for ``slot``'s next chunk, or None when it is spent."""
        seconds = None if self.config.deadline is None else self.config.deadline - time.time()
        cases = None if self.config.max_cases is None else self.config.max_cases - self.cases.get(slot, 0)
        if (seconds is not None and seconds <= 0) or (cases is not None and cases <= 0):
            return None
        return seconds, cases

    def submit(self, slot: int) -> None:
        budget = self._budget(slot)
        if budget is None:
            self.retired.add(slot)
            self.next_chunk.setdefault(slot, 0)
            return
        chunk = self.next_chunk.get(slot, 0)
        self.next_chunk[slot] = chunk + 1
        shared = [r for r in self.db.fetch(SHARED_FAILURES_KEY) if r not in self.replayed]
        self.queue.add(slot, chunk_task, self.config, slot, chunk, budget[0], budget[1], sorted(self.known_keys),
                       shared, self.known_findings_text, self.stop.name)

    def top_up(self) -> None:
        """Start new slots until as many run as wanted (the cluster's worker count by default)."""
        self._report_workers()
        want = self.slots or max(self.workers, 1)
        while len(self.next_chunk) < want:
            self.submit(len(self.next_chunk))

    def absorb(self, slot: int, result: ChunkResult) -> None:
        replay_changes(self.db, result.changes)
        self.known_keys.update(result.known_keys)
        self.replayed.update(result.replayed)
        paths = {}
        for key, fixture in result.fixtures.items():
            paths[key] = store_failure(fixture, self.config.fixtures_dir)
            if key in self.known_keys:
                self.unshrunk.pop(key, None)
            else:
                self.unshrunk[key] = paths[key]
        for event in result.events:
            if event["type"] == "failure" and event["signature"] in paths:
                event = dict(event, fixture=str(paths[event["signature"]]))
            self.on_event(event)
        self.cases[slot] = self.cases.get(slot, 0) + result.cases

    def report_unshrunk(self) -> None:
        for key, path in self.unshrunk.items():
            self.on_event({"type": "failure", "worker": None, "signature": key, "case": Path(path).stem,
                           "summary": "saved unshrunk (interrupted)", "fixture": str(path)})

    def run(self) -> None:
        try:
            self.top_up()
            for slot, result in self.queue:
                self.absorb(slot, result)
                self.submit(slot)
                self.top_up()
        except KeyboardInterrupt:
            try:
                self.stop.set()
            except Exception:  # noqa: BLE001 - no scheduler: nothing more will come back anyway
                raise KeyboardInterrupt from None
            self.on_event({"type": "warning", "message": f"interrupted: asking the running chunks to stop "
                                                         f"(waiting up to {STOP_GRACE_S} s for what they found)"})
            for slot, result in self.queue.drain(STOP_GRACE_S):
                self.absorb(slot, result)
            raise
        finally:
            self.queue.cancel()
            self.report_unshrunk()


def run_campaign(session: ClusterSession, config: CampaignConfig, on_event: Callable[[dict], None],
                 slots: Optional[int] = None) -> None:
    """Run the campaign of ``config`` on the cluster of ``session`` (see the module doc).

    ``slots``: chunks running at once (default: one per accepted worker).  Events go to
    ``on_event`` as in a local run, plus ``{"type": "workers", "count", "where"}`` when the
    number of accepted workers changes (``count``: how many can be running chunks)."""
    _Submitter(session, config, slots, on_event).run()
