"""A fuzz campaign: Hypothesis-driven workers that shrink and save every failure.

Each worker runs Hypothesis in chunks of ``CHUNK`` examples (a fresh seed per
chunk) until the deadline or case budget is spent.  Every example is one
(case, backend, target) run judged by :func:`fuzz.check.run_case`.  A failure
whose signature is new is saved at once, unshrunk, as a fixture (so an
interrupt loses nothing), then raised so Hypothesis shrinks it; the minimal
case replaces the unshrunk fixture.  Signatures already saved (by this
worker, another worker, or an earlier campaign — read from the fixture
directory) count as duplicates and do not stop the search.

Workers report through ``emit(event: dict)``: ``{"type": "case", ...}``,
``{"type": "failure", ...}``, ``{"type": "warning", "message"}``,
``{"type": "done", "worker"}``.
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import signal
import time
from pathlib import Path
from typing import Callable, Optional

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from regressions.fixtures import Fixture, load_all, save

from .buckets import shape_bucket
from .cases import Case
from .check import Outcome, run_case
from .database import open_database
from .signature import Signature
from .strategies import cases

CHUNK = 25


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


class _NewFailure(Exception):
    """Raised inside the Hypothesis test so that it shrinks a new failure."""


def known_signatures(fixtures_dir) -> set:
    keys = set()
    for fixture in load_all(fixtures_dir):
        if fixture.failure and fixture.failure.get("signature"):
            keys.add(Signature.from_dict(fixture.failure["signature"]).key)
    return keys


def _flydsl_version() -> Optional[str]:
    try:
        import flydsl
        return getattr(flydsl, "__version__", None)
    except ImportError:
        return None


def failure_fixture(outcome: Outcome, shrunk: bool) -> Fixture:
    case = outcome.case
    ids, w, mask, local = case.materialize()
    sig = outcome.signature
    return Fixture(
        name=f"{case.name}-{sig.digest}", kind="failure", topk_ids=ids, topk_weights=w,
        num_experts=case.num_experts, unit_size=case.unit_size, expert_mask=mask,
        num_local_tokens=local,
        note=("minimal case found by a fuzz campaign" if shrunk else
              "unshrunk: the campaign stopped before shrinking finished"),
        case=case.to_dict(),
        failure={"backend": outcome.backend, "target": outcome.target, "path": outcome.path,
                 "signature": sig.to_dict(), "summary": outcome.summary,
                 "flydsl_version": _flydsl_version(), "shrunk": shrunk},
    )


def _reproducer(outcome: Outcome, path: Path) -> str:
    target = f" --target {outcome.target}" if outcome.target else ""
    return f"python -m fuzz replay --fixture {path} --backend {outcome.backend}{target}"


def _size(fixture) -> tuple:
    return (fixture.topk_ids.size, fixture.num_experts, fixture.unit_size)


def save_failure(outcome: Outcome, fixtures_dir, shrunk: bool) -> Path:
    """Save ``outcome`` as a fixture unless one of its signature is already
    there; of two shrunk fixtures for one signature the smaller is kept.
    A per-signature file lock serializes workers and campaigns."""
    fixture = failure_fixture(outcome, shrunk)
    fixtures_dir = Path(fixtures_dir)
    lock_dir = fixtures_dir / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{outcome.signature.digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for existing in load_all(fixtures_dir):
            sig = (existing.failure or {}).get("signature")
            if not sig or Signature.from_dict(sig).key != outcome.signature.key:
                continue
            if existing.failure.get("shrunk") and (not shrunk or _size(existing) <= _size(fixture)):
                return existing.path
            existing.path.unlink(missing_ok=True)
            existing.path.with_suffix(".npz").unlink(missing_ok=True)
        target_path = fixtures_dir / fixture.filename
        return save(fixture, fixtures_dir, reproducer=_reproducer(outcome, target_path))


def case_strategy(config: CampaignConfig):
    if config.experts is None:
        return cases(max_tokens=config.max_tokens, production_only=config.production_only)
    from .strategies import token_counts

    @st.composite
    def fixed_shape(draw):
        base = draw(cases(max_tokens=config.max_tokens))
        E = config.experts
        topk = config.topk or min(base.topk, E)
        unit = config.unit_size or base.unit_size
        T = draw(token_counts(E, topk, unit, config.max_tokens))
        local = None if base.num_local_tokens is None or T == 0 else min(base.num_local_tokens, T - 1)
        return dataclasses.replace(base, num_experts=E, topk=topk, unit_size=unit, tokens=T,
                                   num_local_tokens=local)
    return fixed_shape()


def run_worker(config: CampaignConfig, worker: int, emit: Callable[[dict], None]) -> None:
    """Fuzz until the deadline / case budget; report through ``emit``."""
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    db = open_database(config.db_dir, config.redis_url,
                       on_warning=lambda m: emit({"type": "warning", "worker": worker, "message": m}))
    known = known_signatures(config.fixtures_dir)
    state = {"cases": 0, "target_key": None, "last": None, "unshrunk": {}}

    def out_of_budget() -> bool:
        if config.deadline is not None and time.time() >= config.deadline:
            return True
        return config.max_cases is not None and state["cases"] >= config.max_cases

    def body(case: Case, pair) -> None:
        if out_of_budget() and state["target_key"] is None:
            return
        outcome = run_case(case, *pair)
        state["cases"] += 1
        emit({"type": "case", "worker": worker, "backend": outcome.backend, "target": outcome.target,
              "path": outcome.path, "bucket": shape_bucket(case.num_experts, case.tokens),
              "experts": case.num_experts, "tokens": case.tokens, "ok": outcome.ok,
              "seconds": outcome.seconds, "signature": outcome.signature.key if outcome.signature else None})
        if outcome.ok:
            return
        key = outcome.signature.key
        if key in known:
            return
        if key not in state["unshrunk"]:
            state["unshrunk"][key] = save_failure(outcome, config.fixtures_dir, shrunk=False)
        if state["target_key"] in (None, key):
            state["target_key"] = key
            state["last"] = outcome
            raise _NewFailure(key)

    chunk = 0
    try:
        while not out_of_budget():
            state["target_key"], state["last"] = None, None
            test = settings(
                database=db, max_examples=config.max_examples_per_chunk, deadline=None,
                suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                print_blob=False, verbosity=settings.default.verbosity,
            )(hypothesis_seed(config.seed * 1_000_003 + worker * 10_007 + chunk)(
                given(case_strategy(config), st.sampled_from(config.pairs))(body)))
            try:
                test()
            except Exception as exc:  # _NewFailure, or Hypothesis's Flaky wrapping one
                outcome: Optional[Outcome] = state["last"]
                if outcome is None:
                    emit({"type": "warning", "worker": worker,
                          "message": f"chunk {chunk} ended with {type(exc).__name__}: {exc}"})
                    chunk += 1
                    continue
                key = outcome.signature.key
                path = save_failure(outcome, config.fixtures_dir, shrunk=True)
                state["unshrunk"].pop(key, None)
                known.add(key)
                emit({"type": "failure", "worker": worker, "signature": key, "case": outcome.case.name,
                      "summary": outcome.summary, "fixture": str(path)})
            chunk += 1
    except KeyboardInterrupt:
        pass
    finally:
        for key, raw in state["unshrunk"].items():
            emit({"type": "failure", "worker": worker, "signature": key, "case": raw.stem,
                  "summary": "saved unshrunk (interrupted)", "fixture": str(raw)})
        emit({"type": "done", "worker": worker, "pid": os.getpid()})
