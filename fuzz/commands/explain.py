"""``fuzz explain``: where a fixture's finding triggers, around its minimal case.

Re-runs the fixture's case with one thing changed at a time (T around every
path boundary, mask off/on, ``num_local_tokens < T``, every target, E and
topk around the case's; for a case with invalid ids, each kind of id and the
rows they are in) and prints, per axis, where the finding shows.
``--write`` stores the region in the fixture (``region``), from where
``fuzz findings --write`` puts it into FINDINGS.md.
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
