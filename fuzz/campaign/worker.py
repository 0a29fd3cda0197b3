"""A fuzz campaign: Hypothesis-driven workers that shrink and save every failure.

Each worker runs Hypothesis in chunks of ``CHUNK`` examples (a fresh seed per
chunk, the (backend, target) pairs taken in turn) until the deadline or case
budget is spent.  Examples are saved in the database under one key per
(backend, target).  Each minimal failure is also published as a JSON record
under :data:`SHARED_FAILURES_KEY` of the same database (local directory, plus
Redis when configured); every worker replays records it has not seen at start
and after every chunk, so a failure found on one machine becomes a fixture on
every machine.  Hypothesis's own reuse phase is off: it would delete saved
examples that now pass because their signature is known.  Every example is one
(case, backend, target) run judged by :func:`fuzz.judge.run_case`.  A failure
whose signature is new is saved at once, unshrunk, as a fixture (so an
interrupt loses nothing), then raised so Hypothesis shrinks it; the minimal
case replaces the unshrunk fixture.  An interrupt (SIGINT, or SIGTERM) ends
the search at the latest before the next case, also one that Python dropped
where it was raised (:mod:`fuzz.interrupts`).  Signatures already saved (by this
worker, another worker, or an earlier campaign — read from the fixture
directory) count as duplicates and do not stop the search.

Hostile-id cases (``hostile_cases``: ``off`` / ``on`` / ``only``, see
``fuzz.strategies.cases``) are drawn only for backends that declare the
``drop`` or ``unchecked`` policy; each case runs under the policy its ids
need (``fuzz.judge``), with ``case_seconds`` as the time limit of a launch
(a launch past it is a memory-safety failure: it did not terminate).

Workers report through ``emit(event: dict)``: ``{"type": "case", ...}``,
``{"type": "failure", ...}``, ``{"type": "warning", "message"}``,
``{"type": "done", "worker"}``.
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import signal
import time
from pathlib import Path
from typing import Callable, Optional

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import oracle
from cases import Case, case_from_dict
from kernels.moesort.paths import path_boundaries
from regressions import known_findings
from regressions.fixtures import Fixture, load_all, save
from regressions.logits_fixtures import LogitsFixture

from .. import interrupts
from ..judge import Outcome, run_case
from ..signature import Signature
from ..strategies import cases
from .buckets import shape_bucket
from .database import open_database

CHUNK = 25
#: Database key under which workers publish minimal failing cases (JSON) for
#: every other worker, here or on another machine, to replay.
SHARED_FAILURES_KEY = b"moesort-verify:failures:v1"


@dataclasses.dataclass
class CampaignConfig:
    """Everything a worker needs; picklable for worker processes."""

    pairs: list  # [(backend, target)] to fuzz
    seed: int
    deadline: Optional[float]  # time.time() when to stop, or None
    max_cases: Optional[int]  # per worker, or None
    max_tokens: int
    db_dir: str
    fixtures_dir: str
    redis_url: Optional[str] = None
    production_only: bool = False
    experts: Optional[int] = None
    topk: Optional[int] = None
    unit_size: Optional[int] = None
    max_examples_per_chunk: int = CHUNK
    known_findings: Optional[str] = None   # known-findings file (default: the committed list)
    hostile_cases: str = "off"             # off | on | only (fuzz.strategies.HOSTILE_MODES)
    case_seconds: Optional[float] = None   # time limit of one launch (None: none)


def hostile_mode(config: CampaignConfig, backend: str) -> str:
    """The hostile-cases mode the cases for ``backend`` are drawn with: the campaign's, for a
    backend that declares ``drop`` or ``unchecked``; ``off`` for any other."""
    from kernels.registry import get

    takes = {"drop", "unchecked"} & set(get(backend).invalid_ids)
    return config.hostile_cases if takes else "off"


class _NewFailure(Exception):
    """Raised inside the Hypothesis test so that it shrinks a new failure."""


def known_signatures(fixtures_dir) -> set:
    keys = set()
    for fixture in load_all(fixtures_dir, takes=None):
        if fixture.failure and fixture.failure.get("signature"):
            keys.add(Signature.from_dict(fixture.failure["signature"]).key)
    return keys


def _flydsl_version() -> Optional[str]:
    try:
        import flydsl
        return getattr(flydsl, "__version__", None)
    except ImportError:
        return None


def failure_fixture(outcome: Outcome, shrunk: bool, key: Optional[str] = None):
    """The fixture of ``outcome``'s failure with signature ``key`` (default: the first): a
    ``Fixture``, or a ``LogitsFixture`` for a case of logits."""
    case = outcome.case
    failure = outcome.failure(key) if key else outcome.failures[0]
    sig = failure.signature
    record = {"backend": outcome.backend, "target": outcome.target, "path": outcome.path,
              "signature": sig.to_dict(), "summary": failure.summary,
              "flydsl_version": _flydsl_version(), "shrunk": shrunk, "run_invalid_ids": outcome.invalid_ids}
    if failure.finding:
        record["finding"] = failure.finding
    if outcome.known_counts:
        record["known_findings_also_seen"] = sorted(outcome.known_counts)
    note = ("minimal case found by a fuzz campaign" if shrunk else
            "unshrunk: the campaign stopped before shrinking finished")
    if getattr(case, "kind", "ids") == "logits":
        return LogitsFixture(name=f"{case.name}-{sig.digest}", kind="failure", inputs=case.inputs(), note=note,
                             case=case.to_dict(), failure=record)
    ids, w, mask, local = case.materialize()
    return Fixture(
        name=f"{case.name}-{sig.digest}", kind="failure", topk_ids=ids, topk_weights=w,
        num_experts=case.num_experts, unit_size=case.unit_size, expert_mask=mask,
        num_local_tokens=local, local_tokens_on_device=case.local_tokens_on_device,
        note=note,
        case=case.to_dict(),
        failure=record,
        invalid_ids=oracle.needed_policy(oracle.census(ids, case.tokens if local is None else local,
                                                       case.num_experts)),
    )


def _reproducer(failure: dict, path: Path) -> str:
    target = f" --target {failure['target']}" if failure.get("target") else ""
    return f"python -m fuzz replay --fixture {path} --backend {failure['backend']}{target}"


def save_failure(outcome: Outcome, fixtures_dir, shrunk: bool, key: Optional[str] = None) -> Path:
    """Save ``outcome``'s failure of signature ``key`` (default: the first) as a fixture
    (:func:`store_failure`)."""
    return store_failure(failure_fixture(outcome, shrunk, key), fixtures_dir)


def store_failure(fixture: Fixture, fixtures_dir) -> Path:
    """Save a failure fixture (of :func:`failure_fixture`) unless one of its signature is
    already there; of two shrunk fixtures for one signature the smaller is kept.  A
    per-signature file lock serializes workers and campaigns.  Returns the path of the
    fixture kept."""
    shrunk = bool(fixture.failure.get("shrunk"))
    signature = Signature.from_dict(fixture.failure["signature"])
    fixtures_dir = Path(fixtures_dir)
    lock_dir = fixtures_dir / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{signature.digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for existing in load_all(fixtures_dir, takes=None):
            sig = (existing.failure or {}).get("signature")
            if not sig or Signature.from_dict(sig).key != signature.key:
                continue
            if existing.failure.get("shrunk") and (not shrunk or existing.size <= fixture.size):
                return existing.path
            existing.path.unlink(missing_ok=True)
            existing.path.with_suffix(".npz").unlink(missing_ok=True)
        target_path = fixtures_dir / fixture.filename
        return save(fixture, fixtures_dir, reproducer=_reproducer(fixture.failure, target_path))


def case_strategy(config: CampaignConfig, hostile: str = "off", pair=None):
    """The cases a chunk draws: the campaign's shape filter, ``hostile`` (a mode of
    ``fuzz.strategies.cases``) for invalid ids; for a (backend, target) ``pair`` whose
    backend takes logits, ``fuzz.strategies.logits_cases`` (:func:`logits_strategy`)."""
    if pair is not None:
        from kernels.registry import get

        if get(pair[0]).takes == "logits":
            return logits_strategy(config, *pair)
    if config.experts is None:
        return cases(max_tokens=config.max_tokens, production_only=config.production_only, hostile=hostile)
    from ..strategies import token_counts

    @st.composite
    def fixed_shape(draw):
        base = draw(cases(max_tokens=config.max_tokens, hostile=hostile))
        E = config.experts
        topk = config.topk or min(base.topk, E)
        unit = config.unit_size or base.unit_size
        T = draw(token_counts(E, topk, unit, config.max_tokens))
        local = None if base.num_local_tokens is None or T == 0 else min(base.num_local_tokens, T - 1)
        if base.hostile and T == 0:
            T = 1
        if base.hostile_ids == "repeat" and topk < 2:
            base = dataclasses.replace(base, hostile_ids="minus_one")
        return dataclasses.replace(base, num_experts=E, topk=topk, unit_size=unit, tokens=T,
                                   num_local_tokens=local)
    return fixed_shape()


def logits_strategy(config: CampaignConfig, backend: str, target):
    """The logits cases of ``backend`` on ``target``, T drawn near the backend's own path
    boundaries (a backend that takes no mask or M, the gating kernel, ignores them)."""
    import functools

    from kernels.registry import get

    from ..strategies import logits_cases

    b = get(backend)
    bounds = None
    if b.path_boundaries is not None:
        bounds = functools.lru_cache(maxsize=None)(lambda E, k, u: b.path_boundaries(E, k, u, target))
    return logits_cases(max_tokens=config.max_tokens, boundaries=bounds, min_tokens=b.min_tokens)


def boundary_label(case: Case) -> Optional[str]:
    """``E257-k9-u32@2048-1`` when T is within one of a path boundary, else None (a case of logits)."""
    if getattr(case, "kind", "ids") == "logits":
        return None
    for b in path_boundaries(case.num_experts, case.topk, case.unit_size):
        if abs(case.tokens - b) <= 1:
            delta = {-1: "-1", 0: "", 1: "+1"}[case.tokens - b]
            return f"E{case.num_experts}-k{case.topk}-u{case.unit_size}@{b}{delta}"
    return None


class CampaignWorker:
    """The search of one campaign worker: chunks of Hypothesis examples and replays of shared failures.

    State: ``known_keys`` (signatures that count as duplicates; a minimal failure adds its own),
    ``cases`` (cases run), ``unshrunk`` (signature -> fixture saved before shrinking, until the
    shrunk one replaces it), the shared records already replayed.  ``save(outcome, shrunk, key)
    -> path`` stores a failure (default: :func:`save_failure` into ``config.fixtures_dir``).
    ``stop_requested()`` is asked before every case; True ends the search as an interrupt does
    (KeyboardInterrupt), shrinking included.
    """

    def __init__(self, config: CampaignConfig, worker: int, emit: Callable[[dict], None], db, known_keys: set,
                 save: Optional[Callable] = None, stop_requested: Callable[[], bool] = lambda: False):
        self.config, self.worker, self.emit, self.db, self.known_keys = config, worker, emit, db, known_keys
        self.save = save or (lambda outcome, shrunk, key: save_failure(outcome, config.fixtures_dir, shrunk, key))
        self.stop_requested = stop_requested
        self.known_list = known_findings.cached(config.known_findings)
        self.cases = 0
        self.unshrunk: dict = {}
        self.seen_records: set = set()
        self._target_key: Optional[str] = None
        self._last: Optional[Outcome] = None

    def pair(self, chunk: int):
        """The (backend, target) pair of chunk ``chunk``: the pairs taken in turn."""
        return self.config.pairs[(self.worker + chunk) % len(self.config.pairs)]

    def out_of_budget(self) -> bool:
        if self.config.deadline is not None and time.time() >= self.config.deadline:
            return True
        return self.config.max_cases is not None and self.cases >= self.config.max_cases

    def check(self, case: Case, pair) -> None:
        interrupts.check()
        if self.stop_requested():
            raise KeyboardInterrupt
        if self.out_of_budget() and self._target_key is None:
            return
        outcome = run_case(case, *pair, known_list=self.known_list, seconds=self.config.case_seconds)
        self.cases += 1
        keys = [s.key for s in outcome.signatures]
        self.emit({"type": "case", "worker": self.worker, "backend": outcome.backend, "target": outcome.target,
                   "path": outcome.path, "bucket": shape_bucket(case.num_experts, case.tokens),
                   "experts": case.num_experts, "tokens": case.tokens, "ok": outcome.ok,
                   "boundary": boundary_label(case), "judged": outcome.judged, "known": sorted(outcome.known_counts),
                   "seconds": outcome.seconds, "signature": keys[0] if keys else None, "signatures": keys,
                   "hostile": case.hostile_ids if case.hostile else None, "invalid_ids": outcome.invalid_ids,
                   "tolerated": outcome.tolerated, "dispatch_source": outcome.dispatch_source,
                   "text_changed": sorted(outcome.text_changed)})
        new = [k for k in keys if k not in self.known_keys]
        if not new:
            return
        for key in new:
            if key not in self.unshrunk:
                self.unshrunk[key] = self.save(outcome, False, key)
        if self._target_key is None:
            self._target_key = new[0]
        if self._target_key in new:
            self._last = outcome
            raise _NewFailure(self._target_key)

    def run_chunk(self, pair, chunk: int, phases=(Phase.explicit, Phase.generate, Phase.shrink)) -> bool:
        """One Hypothesis run on ``pair``; True when it found a new signature."""
        self._target_key, self._last = None, None
        check = self.check

        def body(case: Case) -> None:
            check(case, pair)

        # One database key per (backend, target) and hostile-cases mode, so that a saved
        # example replays on the backend that failed it, drawn by the strategy that drew it.
        mode = hostile_mode(self.config, pair[0])
        body._hypothesis_internal_add_digest = (f"{pair[0]}@{pair[1]}" + ("" if mode == "off" else
                                                                          f"#hostile-{mode}")).encode()
        test = settings(
            database=self.db, max_examples=self.config.max_examples_per_chunk, deadline=None,
            suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
            phases=list(phases), print_blob=False, verbosity=settings.default.verbosity,
        )(hypothesis_seed(self.config.seed * 1_000_003 + self.worker * 10_007 + chunk)(
            given(case_strategy(self.config, mode, pair))(body)))
        try:
            test()
        except Exception as exc:  # _NewFailure, or Hypothesis's Flaky wrapping one
            outcome: Optional[Outcome] = self._last
            if outcome is None and "run no examples" in str(exc):
                return False  # a replay-only run with nothing saved for this pair
            if outcome is None:
                self.emit({"type": "warning", "worker": self.worker,
                           "message": f"chunk {chunk} ended with {type(exc).__name__}: {exc}"})
                return False
            key = self._target_key
            path = self.save(outcome, True, key)
            self.unshrunk.pop(key, None)
            self.known_keys.add(key)
            self.publish(outcome, key)
            self.emit({"type": "failure", "worker": self.worker, "signature": key, "case": outcome.case.name,
                       "summary": outcome.failure(key).summary, "fixture": str(path)})
            return True
        return False

    def replay_shared(self) -> None:
        """Replay every failure any worker published that this one has not seen."""
        for raw in list(self.db.fetch(SHARED_FAILURES_KEY)):
            if raw in self.seen_records:
                continue
            self.seen_records.add(raw)
            try:
                record = json.loads(raw)
                case, pair = case_from_dict(record["case"]), (record["backend"], record["target"])
            except (ValueError, KeyError, TypeError) as exc:
                self.emit({"type": "warning", "worker": self.worker, "message": f"bad shared failure record: {exc}"})
                continue
            if record.get("signature") in self.known_keys or pair not in self.config.pairs:
                continue
            outcome = run_case(case, *pair, known_list=self.known_list, seconds=self.config.case_seconds)
            self.cases += 1
            for failure in outcome.failures:
                key = failure.signature.key
                if key in self.known_keys:
                    continue
                path = self.save(outcome, True, key)
                self.known_keys.add(key)
                self.emit({"type": "failure", "worker": self.worker, "signature": key,
                           "case": case.name, "summary": failure.summary, "fixture": str(path)})

    def publish(self, outcome: Outcome, key: str) -> None:
        record = {"case": outcome.case.to_dict(), "backend": outcome.backend, "target": outcome.target,
                  "signature": key}
        raw = json.dumps(record, sort_keys=True).encode()
        self.seen_records.add(raw)
        self.db.save(SHARED_FAILURES_KEY, raw)

    def report_unshrunk(self) -> None:
        """A failure event for every failure still saved unshrunk (the search stopped before shrinking it)."""
        for key, raw in self.unshrunk.items():
            self.emit({"type": "failure", "worker": self.worker, "signature": key, "case": Path(raw).stem,
                       "summary": "saved unshrunk (interrupted)", "fixture": str(raw)})


def run_worker(config: CampaignConfig, worker: int, emit: Callable[[dict], None]) -> None:
    """Fuzz until the deadline / case budget; report through ``emit``."""
    db = open_database(config.db_dir, config.redis_url,
                       on_warning=lambda m: emit({"type": "warning", "worker": worker, "message": m}))
    search = CampaignWorker(config, worker, emit, db, known_signatures(config.fixtures_dir))
    try:
        with interrupts.latched(signal.SIGINT, signal.SIGTERM):
            chunk = 0
            search.replay_shared()
            while not search.out_of_budget():
                search.run_chunk(search.pair(chunk), chunk)
                search.replay_shared()
                chunk += 1
    except KeyboardInterrupt:
        pass
    finally:
        search.report_unshrunk()
        emit({"type": "done", "worker": worker, "pid": os.getpid()})
