"""One fixture's verdict on the FlyDSL checkout at ``FLYDSL_ROOT``: the test of a bisection.

    FLYDSL_ROOT=<tree> python -P -m fuzz.revisions.verdict FIXTURE [--target T] [--successor FILE]

Exit status as ``git bisect run`` reads it: 0 good (the fixture's failure
does not show), 1 bad (it shows), 125 skip (the revision cannot run the
fixture here: its kernel does not import under the installed flydsl, the
backend refuses its ids, or the launch crashed outside the kernel's code),
128 a fault of this tool (the bisection stops).  Prints one line saying
which and why.

What "shows" means depends on what the fixture records (``failure``):

* a known finding (``known_finding``): the judge matches that entry -- or a
  new finding that the entry would match but for the kernel file's place
  (FlyDSL moved ``kernels/moe_sorting_kernel.py`` to ``kernels/moe/``);
* a failure signature: a failure of the same output and kind, line numbers
  after ``@`` aside (they move with every edit above the site);
* nothing (an edge case): any failure of the judgement.

Old revisions get their missing ``flydsl.expr`` modules as in the gate
(:mod:`kernels.backends.flydsl_vintage`).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings
from pathlib import Path

GOOD, BAD, SKIP, ABORT = 0, 1, 125, 128


def signature_class(output: str, kind: str) -> tuple:
    """What of a signature survives edits elsewhere in the file: its output and its kind up to ``@``."""
    return output, kind.split("@", 1)[0]


def shows(fixture, j, backend: str) -> tuple[bool, str]:
    """``(bad, why)``: does judgement ``j`` of ``fixture`` show the fixture's failure?"""
    from regressions import known_findings

    failure = fixture.failure or {}
    if failure.get("known_finding"):
        ident = failure["known_finding"]
        if ident in j.known_counts:
            return True, f"known finding {ident} matched"
        entry = known_findings.default().by_id(ident)
        moved = dataclasses.replace(entry, file=Path(entry.file).name) if entry.file else entry
        hit = next((f for f in j.new if moved.matches(f, backend)), None)
        if hit is not None:
            return True, f"{ident} matched with the kernel file elsewhere: {hit.describe()[:160]}"
        return False, f"{ident} not seen ({j.summary[:160]})"
    failures = j.failures()
    if failure.get("signature"):
        want = signature_class(failure["signature"]["output"], failure["signature"]["kind"])
        hit = next((f for f in failures if signature_class(f.signature.output, f.signature.kind) == want), None)
        if hit is not None:
            return True, hit.summary[:200]
        return False, f"no {want[0]}/{want[1]} failure ({j.summary[:160]})"
    return (True, failures[0].summary[:200]) if failures else (False, j.summary[:200])


def verdict(fixture_path: Path, backend: str, target, successor) -> tuple[int, str]:
    """``(exit status, why)`` of the fixture at ``fixture_path`` on ``$FLYDSL_ROOT``."""
    from kernels.backends.flydsl_vintage import provide_expr_modules

    warnings.simplefilter("ignore")
    root = os.environ.get("FLYDSL_ROOT", "")
    provide_expr_modules(root, successors={"buffer_ops": successor} if successor else None)
    from regressions.fixtures import load

    fixture = load(fixture_path)
    from kernels.registry import get

    from ..judge import judge_inputs
    from .gate import one_line

    try:
        reason = get(backend).probe()
    except Exception as exc:  # noqa: BLE001 - the revision cannot be looked at
        reason = one_line(exc)
    if reason is not None:
        return SKIP, f"cannot run here: {reason}"
    target = target or (fixture.failure or {}).get("target") or "gfx950"
    j = judge_inputs(backend, dict(fixture.run_args(), moe_buf=fixture.moe_buf()), target)
    if j is None:
        return SKIP, f"{backend} declares no policy for this fixture's ids"
    if j.crash is not None:
        return SKIP, f"the launch crashed outside the kernel's code: {one_line(j.crash)}"
    bad, why = shows(fixture, j, backend)
    return (BAD if bad else GOOD), why


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fuzz.revisions.verdict", description=__doc__.splitlines()[0])
    ap.add_argument("fixture", type=Path)
    ap.add_argument("--backend", default="flydsl-upstream-sanitized")
    ap.add_argument("--target", default=None, help="default: the fixture's recorded target, else gfx950")
    ap.add_argument("--successor", default=None, help="a newer FlyDSL's kernels/common/buffer_ops.py")
    args = ap.parse_args(argv)
    try:
        status, why = verdict(args.fixture, args.backend, args.target, args.successor)
    except Exception as exc:  # noqa: BLE001 - a fault of this tool must stop the bisection, not mark a commit
        print(f"verdict: abort: {type(exc).__name__}: {exc}", flush=True)
        return ABORT
    print(f"verdict: {({GOOD: 'good', BAD: 'bad', SKIP: 'skip'})[status]}: {why}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
