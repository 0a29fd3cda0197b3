"""``fuzz explain``: where a fixture's finding triggers, around its minimal case.

Re-runs the fixture's case with one thing changed at a time (T around every
path boundary, mask off/on, ``num_local_tokens < T``, every target, E and
topk around the case's; for a case with invalid ids, each kind of id and the
rows they are in) and prints, per axis, where the finding shows.
``--write`` stores the region in the fixture (``region``), from where
``fuzz findings --write`` puts it into FINDINGS.md.

``--witness`` instead runs the fixture's case with the interpreter's waves
interleaved under up to ``--schedules N`` schedules (:mod:`fuzz.witness`) and
prints the first schedule whose outputs differ from the golden model (beyond
the lockstep run's own differences, if it has any), with the differing output
elements, or "no witness in N schedules"; ``--replay
SCHEDULE`` reruns one schedule (as the witness line prints it).
"""
from __future__ import annotations

from pathlib import Path

from fuzz.errors import UsageError

NAME = "explain"
HELP = "map where a fixture's finding triggers (T, mask, M<T, target, E, topk; invalid ids: kind, rows)"


def add_arguments(p) -> None:
    p.add_argument("fixture", help="fixture file, or a name under regressions/fixtures (with or without .json)")
    p.add_argument("--backend", default=None, help="backend to run (default: the one the fixture's failure names)")
    p.add_argument("--finding", default=None,
                   help="known-finding id or signature key to track (default: the fixture's own)")
    p.add_argument("--write", action="store_true", help="store the region in the fixture file")
    w = p.add_argument_group("race witness (interleaved waves)")
    w.add_argument("--witness", action="store_true",
                   help="search interleaved schedules for one whose outputs differ from the golden model")
    w.add_argument("--schedules", type=_positive, default=100, metavar="N",
                   help="schedules to try: round robin, then PCT (default 100)")
    w.add_argument("--seed", type=int, default=0, metavar="S", help="first PCT seed (default 0)")
    w.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="stop searching after this many seconds (default: no limit)")
    w.add_argument("--replay", default=None, metavar="SCHEDULE", type=_schedule,
                   help="run this one schedule (e.g. pct:seed=17:depth=3:steps=120) and show its differences")
    w.add_argument("--target", default=None, help="target to run on (default: the backend's first)")


def _positive(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer")
    return n


def _schedule(text: str):
    import argparse

    from kernels.emu.schedule import Schedule

    try:
        return Schedule.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _load(spec: str):
    from regressions.fixtures import FIXTURE_DIR, FixtureError, load

    path = Path(spec)
    if not path.is_file():
        path = FIXTURE_DIR / (spec if spec.endswith(".json") else f"{spec}.json")
    if not path.is_file():
        raise UsageError(f"fixture {spec!r}: no such file (looked for {path})")
    try:
        return load(path)
    except FixtureError as exc:
        raise UsageError(str(exc)) from None


def _defaults(fixture, args):
    from regressions import known_findings

    failure = fixture.failure or {}
    finding = args.finding or failure.get("known_finding")
    if finding is None and failure.get("signature"):
        from fuzz.signature import Signature

        finding = Signature.from_dict(failure["signature"]).key
    if finding is None:
        raise UsageError(f"{fixture.name}: the fixture records no finding; name one with --finding")
    backend = args.backend or failure.get("backend")
    if backend is None and "/" not in finding:
        backend = known_findings.default().by_id(finding).backends[0]
    if backend is None:
        raise UsageError(f"{fixture.name}: name the backend with --backend")
    return finding, backend


def main(args) -> int:
    from cases import Case
    from fuzz.explain import explore
    from kernels.registry import available
    from regressions.fixtures import rewrite

    fixture = _load(args.fixture)
    if args.witness or args.replay is not None:
        return _witness(fixture, args)
    if fixture.takes == "logits":
        raise UsageError(f"{fixture.name}: a fixture of router logits; the region map varies cases of ids only "
                         "(--witness runs logits fixtures, and so does fuzz replay)")
    if not fixture.case:
        raise UsageError(f"{fixture.name}: the fixture holds no case description to vary")
    finding, backend = _defaults(fixture, args)
    reason = available().get(backend, f"backend {backend!r} is not declared")
    if reason is not None:
        raise UsageError(f"--backend {backend}: unavailable here: {reason}")

    def progress(i, n, axis, value, target, hit):
        print(f"  [{i}/{n}] {axis}={value} @{target}: {'triggers' if hit else '-'}", flush=True)

    print(f"{fixture.name}: where {finding} triggers on {backend}")
    region = explore(Case.from_dict(fixture.case), finding, backend, progress=progress)
    for axis, values in region.by_axis().items():
        cells = ", ".join(f"{v} " + "/".join(f"{t}:{'Y' if hit else 'n'}" for t, hit in hits.items())
                          for v, hits in values.items())
        print(f"{axis:>5}: {cells}")
    print(f"region: {region.summary()}")
    if args.write:
        fixture.region = region.to_dict()
        print(f"written to {rewrite(fixture)}")
    return 0


def _witness(fixture, args) -> int:
    from fuzz.witness import fixture_runner, search
    from kernels.registry import available

    failure = fixture.failure or {}
    finding = args.finding or failure.get("known_finding") or "a race"
    backend = args.backend or _defaults(fixture, args)[1] if not args.backend and failure else args.backend
    if backend is None:
        raise UsageError(f"{fixture.name}: the fixture names no backend; name one with --backend")
    reason = available().get(backend, f"backend {backend!r} is not declared")
    if reason is not None:
        raise UsageError(f"--backend {backend}: unavailable here: {reason}")

    run = fixture_runner(fixture, backend, args.target)
    if args.replay is not None:
        diff = run(args.replay)
        print(f"{fixture.name} on {backend} under {args.replay}: "
              + (f"{len(diff)} difference(s) from the golden model" if diff else "outputs as the golden model's"))
        for d in diff:
            print(f"  {d}")
        return 1 if diff else 0
    print(f"{fixture.name}: searching a witness of {finding} on {backend} "
          f"({args.schedules} schedules, PCT seeds from {args.seed})", flush=True)
    found = search(run, args.schedules, args.seed, args.budget)
    if found.lockstep:
        print(f"the lockstep run already differs from the golden model ({len(found.lockstep)}; a witness must "
              f"differ otherwise):")
        for d in found.lockstep:
            print(f"  {d}")
    print(found.summary())
    for d in found.differences:
        print(f"  {d}")
    if found.witness is not None:
        print(f"replay: python -m fuzz explain {fixture.path.stem if fixture.path else fixture.name} "
              f"--backend {backend} --replay {found.witness}")
    else:
        print(f"PCT horizon: {found.steps} steps (the most scheduler steps one batch of workgroups took under round robin)")
    return 1 if found.witness is not None else 0
