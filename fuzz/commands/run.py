"""``fuzz run``: a campaign against one or more backends, with a live display.

Failures are shrunk and saved as fixtures (deduplicated by signature) in
``--fixtures``; the Hypothesis database in ``--db`` (plus Redis with
``--redis``) lets a later run resume where this one stopped.  The run ends
with a summary including ``N cases/s``; ``campaign.json`` in ``--out`` is
written at the start and kept current as the run goes (:mod:`fuzz.campaign.record`),
so a run killed outright leaves its counts up to the last refresh.  With ``--scheduler ADDRESS`` the chunks run as tasks on a Dask
cluster (:mod:`fuzz.cluster.campaign`); fixtures and examples still land
here.  Exit status 0: no new failure; 1: at least one; 2: usage error (a
cluster that cannot start the run included); 3: the cluster went away before
the budget was spent (what was found is saved and listed).

``--hostile-cases on`` draws about one case in ten with invalid expert ids
(``only``: every case) for the backends that declare the ``drop`` or
``unchecked`` policy; the default ``off`` draws none, so hostile input
reaches a kernel only when asked for.  ``--case-timeout`` bounds each
launch: one that runs past it did not terminate (a memory-safety failure).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import queue
import re
import signal
import sys
import time
from pathlib import Path

from fuzz import interrupts
from fuzz.cluster.options import add_scheduler_argument, open_cluster
from fuzz.errors import UsageError
from kernels.targets import TARGET_NAMES

NAME = "run"
HELP = "run a fuzz campaign and print a summary"
#: Seconds one launch may take before the case counts as not terminating.
DEFAULT_CASE_TIMEOUT = 600.0


def add_arguments(p) -> None:
    p.add_argument("--backend", action="append", default=[], metavar="NAME",
                   help="backend to fuzz (repeatable); default: the best one available here")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--budget", default="30s", help="time budget: 30s, 10m, 8h, 1h30m (default 30s)")
    g.add_argument("--cases", type=int, help="stop after this many cases per worker instead")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: all cores); with --scheduler, chunks running at once "
                        "(default: one per cluster worker)")
    add_scheduler_argument(p, "run the campaign's chunks as tasks on the Dask cluster of this scheduler")
    p.add_argument("--profile", choices=("ci", "dev", "overnight"), default=None,
                   help="Hypothesis profile: sets examples per chunk (ci 10, dev 25, overnight 100)")
    p.add_argument("--target", action="append", default=[], metavar="|".join(TARGET_NAMES + ("native",)),
                   help="target(s) for FlyDSL backends (repeatable); default: every target the backend has")
    p.add_argument("--shape", default=None,
                   help="shape filter: 'production', or E<n>[-k<n>][-u<n>] such as E513-k9")
    p.add_argument("--max-tokens", type=int, default=4096, help="largest T to draw (default 4096)")
    p.add_argument("--db", default=".hypothesis/fuzz", help="local Hypothesis example database directory")
    p.add_argument("--redis", default=None, metavar="URL", help="also share the database through Redis at URL")
    p.add_argument("--fixtures", default=None, help="where failures are saved (default regressions/fixtures)")
    p.add_argument("--known-findings", default=None, metavar="TOML",
                   help="known-findings list to judge against (default regressions/known_findings.toml)")
    p.add_argument("--hostile-cases", choices=("off", "on", "only"), default="off",
                   help="invalid expert ids for backends that declare drop or unchecked: off (default), "
                        "on (about 1 case in 10) or only (every case)")
    p.add_argument("--case-timeout", type=float, default=DEFAULT_CASE_TIMEOUT, metavar="SECONDS",
                   help=f"time limit of one launch; past it the case fails as not terminating "
                        f"(default {DEFAULT_CASE_TIMEOUT:g}; 0: none)")
    p.add_argument("--out", default="campaigns/default", help="campaign record directory (campaign.json)")
    p.add_argument("--fresh", action="store_true", help="do not add to an existing campaign.json in --out")
    p.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")


_SHAPE = re.compile(r"E(\d+)(?:-k(\d+))?(?:-u(\d+))?")


def _shape_filter(text):
    if text is None:
        return {}
    if text == "production":
        return {"production_only": True}
    m = _SHAPE.fullmatch(text)
    if not m:
        raise UsageError(f"--shape {text!r}: expected 'production' or E<n>[-k<n>][-u<n>], e.g. E513-k9")
    E, k, u = (int(x) if x else None for x in m.groups())
    if not 1 <= E <= 4096 or (k is not None and not 1 <= k <= min(E, 255)) or (u is not None and u & (u - 1)):
        raise UsageError(f"--shape {text!r}: E in [1, 4096], k in [1, min(E, 255)], u a power of two")
    return {"experts": E, "topk": k, "unit_size": u}


def _pairs(args):
    from kernels.registry import all_backends, available, default_backend

    status = available()
    names = args.backend or [default_backend()]
    pairs = []
    for name in names:
        if name not in all_backends():
            raise UsageError(f"--backend {name!r} is not declared; known: {sorted(all_backends())}")
        if status[name] is not None:
            raise UsageError(f"--backend {name!r} is unavailable here: {status[name]}")
        targets = all_backends()[name].targets
        chosen = targets
        if args.target:
            wanted = [None if t == "native" else t for t in args.target]
            chosen = tuple(t for t in targets if t in wanted) or ((None,) if targets == (None,) else ())
            if not chosen:
                raise UsageError(f"--target {args.target}: backend {name!r} supports {targets}")
        pairs.extend((name, t) for t in chosen)
    return pairs


def _config(args):
    from fuzz.campaign.budget import parse_duration
    from fuzz.campaign.worker import CHUNK, CampaignConfig
    from regressions.fixtures import FIXTURE_DIR

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: must be >= 1")
    if args.cases is not None and args.cases < 1:
        raise UsageError(f"--cases {args.cases}: must be >= 1")
    if not 0 <= args.max_tokens < (1 << 24):
        raise UsageError(f"--max-tokens {args.max_tokens}: must be in [0, 2^24)")
    if args.case_timeout < 0:
        raise UsageError(f"--case-timeout {args.case_timeout}: must be >= 0")
    pairs = _pairs(args)
    _check_hostile(args.hostile_cases, pairs)
    seconds = None if args.cases is not None else parse_duration(args.budget)
    known_path = _known_findings_path(args.known_findings)
    chunk = {"ci": 10, "dev": CHUNK, "overnight": 100, None: CHUNK}[args.profile]
    return CampaignConfig(
        pairs=pairs, seed=args.seed,
        deadline=None if seconds is None else time.time() + seconds,
        max_cases=args.cases, max_tokens=args.max_tokens,
        db_dir=args.db, fixtures_dir=str(args.fixtures or FIXTURE_DIR), redis_url=args.redis,
        max_examples_per_chunk=chunk, known_findings=known_path, hostile_cases=args.hostile_cases,
        case_seconds=args.case_timeout or None, **_shape_filter(args.shape),
    )


def _check_hostile(mode: str, pairs) -> None:
    """``--hostile-cases only`` needs every backend to take invalid ids."""
    from kernels.registry import get

    if mode != "only":
        return
    refuse = sorted({b for b, _ in pairs if not {"drop", "unchecked"} & set(get(b).invalid_ids)})
    if refuse:
        raise UsageError(f"--hostile-cases only: backend(s) {refuse} declare only invalid_ids='reject'; "
                         f"no hostile case can run there")


def _known_findings_path(path):
    """The known-findings file, checked now (a bad file is a usage error, not a crash in every worker)."""
    from regressions import known_findings

    try:
        return str(known_findings.cached(path).path or known_findings.KNOWN_FINDINGS_FILE)
    except known_findings.KnownFindingsError as exc:
        raise UsageError(f"--known-findings: {exc}") from None


def _worker_entry(config, worker, events):
    from fuzz.campaign.worker import run_worker

    signal.signal(signal.SIGINT, signal.default_int_handler)
    run_worker(config, worker, events.put)


def _run_workers(config, workers, on_event):
    if workers == 1:
        from fuzz.campaign.worker import run_worker

        run_worker(config, 0, on_event)
        return
    ctx = multiprocessing.get_context("spawn")
    events = ctx.Queue()
    procs = [ctx.Process(target=_worker_entry, args=(config, i, events), daemon=True) for i in range(workers)]
    for p in procs:
        p.start()
    done = 0
    interrupted = False
    while done < workers:
        if interrupts.requested() and not interrupted:  # raised below, or dropped where it was raised
            interrupted = True
            for p in procs:
                if p.is_alive():
                    os.kill(p.pid, signal.SIGTERM)
        try:
            event = events.get(timeout=0.5)
            on_event(event)
            done += event["type"] == "done"
        except queue.Empty:
            if not any(p.is_alive() for p in procs):
                break
        except KeyboardInterrupt:
            if not interrupts.requested():
                raise
            # a latched signal: the workers are asked to stop at the top of the loop
    for p in procs:
        p.join(timeout=10 if not interrupted else 30)


def _needs_checkout(config) -> bool:
    from kernels.registry import all_backends

    return any("FLYDSL_ROOT" in all_backends()[b].needs for b, _ in config.pairs)


def main(args) -> int:
    config = _config(args)
    session = open_cluster(args.scheduler, checkout=_needs_checkout(config))
    try:
        return _campaign(args, config, session)
    finally:
        if session is not None:
            session.close()


def _search(config, args, session, on_event) -> None:
    """Run the workers: local processes, or chunks on the cluster of ``session``."""
    if session is None:
        workers = args.workers or os.cpu_count() or 1
        on_event({"type": "workers", "count": workers})
        _run_workers(config, workers, on_event)
    else:
        from fuzz.cluster.campaign import run_campaign

        run_campaign(session, config, on_event, slots=args.workers)


def _campaign(args, config, session) -> int:
    from fuzz.campaign.progress import make_progress
    from fuzz.campaign.record import RunningRecord
    from fuzz.campaign.stats import CampaignStats
    from fuzz.campaign.summary import print_summary
    from fuzz.cluster.session import EXIT_CLUSTER_LOST, ClusterLost
    from kernels.registry import all_backends

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = out / "campaign.json"
    stats = CampaignStats()
    if record.exists() and not args.fresh:
        stats.merge(json.loads(record.read_text()).get("stats", {}))
    previous_failures = set(stats.failures)
    budget = args.budget if args.cases is None else f"{args.cases} cases/worker"
    lost = None
    backends = all_backends()
    executed = {f"{b}@{t}" if t else b: backends[b].executes_on(t) for b, t in config.pairs}

    def build():
        return {"config": {"pairs": config.pairs, "seed": config.seed, "budget": budget,
                           "workers": stats.workers, "scheduler": args.scheduler, "max_tokens": config.max_tokens,
                           "shape": args.shape, "db": config.db_dir, "redis": config.redis_url,
                           "known_findings": config.known_findings, "hostile_cases": config.hostile_cases,
                           "case_timeout": config.case_seconds},
                "executed_on": executed, "stats": stats.to_dict(),
                "new_failures": sorted(set(stats.failures) - previous_failures)}

    running = RunningRecord(record, build)
    running.start()
    with make_progress(stats, budget, plain=args.plain) as progress:
        def on_event(event):
            stats.consume(event)
            progress.event(event)
            running.event(event)
        try:
            with interrupts.latched(signal.SIGINT, signal.SIGTERM):
                _search(config, args, session, on_event)
        except KeyboardInterrupt:
            progress.event({"type": "warning", "message": "interrupted: every failure found so far is saved"})
        except ClusterLost as exc:
            lost = str(exc)
            progress.event({"type": "warning", "message": f"the cluster could not finish the run ({exc}); "
                                                          "every failure found so far is saved"})
    data = running.finish(lost)
    print_summary(data, record)
    if lost:
        print(f"fuzz run: stopped early, the cluster could not finish the run: {lost}", file=sys.stderr)
        return EXIT_CLUSTER_LOST
    return 1 if data["new_failures"] else 0
