"""The gate one FlyDSL revision is judged by, in a process of its own.

    FLYDSL_ROOT=<revision's tree> python -m fuzz.revisions.gate --json OUT [options]

Run with ``FLYDSL_ROOT`` at the revision's tree (FlyDSL's ``kernels``
package joins this process's: README, "Importing FlyDSL's own kernels"), so
each revision needs a fresh process.  Missing ``flydsl.expr`` modules of an
older revision are provided first (:mod:`kernels.backends.flydsl_vintage`;
``--successor`` names the newer ``buffer_ops`` file to load for it).

The runs, each judged by :func:`fuzz.judge.judge_inputs` on the backend
(``flydsl-upstream-sanitized`` by default) for every ``--target``:

1. the boundary cases of every path of the revision's own dispatch: for each
   production shape (``--shape``: those whose label holds a pattern), T = 0, 1 and T on both sides of each of the backend's
   ``path_boundaries`` (what the revision declares, via the Backend API);
2. the committed regression fixtures (``regressions/fixtures``), on every
   target of the backend (some findings show on one target only);
3. one graph capture of the entry point with M in a device tensor, replayed
   for several M (:func:`kernels.graph_replay.check_capture_replay`): a host
   read of M raised during the capture is judged as a finding, each replay
   against the golden model;
4. the mutation checks' deterministic suite cases
   (:func:`fuzz.mutation.suite_cases.boundary_cases`), at most ``--max-cases``
   of them per target, taken in turn from every (path, input mode) group.

It writes one JSON object (:func:`gate`): whether the revision runs here and
why not (one line), the paths its launches took, the runs, the runs whose
outputs were compared with the golden model and agreed, the known findings
matched (entry id -> runs), the new failures (signature -> first summary,
case and count), and the in-scope known-findings entries no run matched,
split into ``absent`` (their code is not in this revision) and ``stale``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Optional

from cases import Case
from regressions.known_findings import absence

DEFAULT_BACKEND = "flydsl-upstream-sanitized"
DEFAULT_TARGETS = ("gfx950",)
#: Suite cases (beyond the dispatch boundaries and the fixtures) per target, by default.
DEFAULT_MAX_CASES = 40
#: The largest T of a boundary case (as the mutation checks).
MAX_TOKENS = 4096
#: The graph-capture run: its case (T is the capacity) and the M values captured (the first) and replayed.
CAPTURE_M = (23, 1, 40, 7)
CAPTURE_CASE = Case(16, 2, 40, seed=1)


def one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 240 else text[:237] + "..."


def dispatch_boundary_cases(backend, target, shapes=()) -> list:
    """For each production shape (those whose label contains one of ``shapes``; all when empty):
    T = 0, 1 and T - 1, T, T + 1 of every boundary of the backend's declared dispatch on
    ``target`` (seeded as the mutation checks seed them)."""
    from cases import PRODUCTION_SHAPES, filter_shapes
    from fuzz.mutation.suite_cases import case_seed

    out = []
    for shape in sorted(filter_shapes(PRODUCTION_SHAPES, shapes), key=lambda s: s.num_experts):
        E, k, u = shape.num_experts, shape.topk, shape.unit_size
        tokens = {0, 1}
        if backend.path_boundaries is not None:
            for b in backend.path_boundaries(E, k, u, target):
                tokens.update(t for t in (b - 1, b, b + 1) if 0 <= t <= MAX_TOKENS)
        out += [Case(E, k, T, u, seed=case_seed(E, k, u, T)) for T in sorted(tokens)]
    return out


def used_by_sort_kernel(provided) -> list:
    """The names of ``provided`` (``flydsl.expr`` modules loaded for an old revision) that the
    imported sort kernel module holds: what its revision needed, not merely what was offered."""
    from kernels.backends.flydsl_upstream import sorting_module_name

    sorting = sys.modules.get(sorting_module_name())
    held = {id(v) for v in vars(sorting).values()} if sorting is not None else set()
    return [name for name in provided
            if f"flydsl.expr.{name}" in sys.modules and id(sys.modules[f"flydsl.expr.{name}"]) in held]


class Tally:
    """What the runs of a gate told, as the row needs it."""

    def __init__(self):
        self.runs = self.judged = self.agreeing = 0
        self.paths: set = set()
        self.known_counts: Counter = Counter()
        self.new: dict = {}
        self.by_kind: Counter = Counter()

    def add(self, kind: str, name: str, target, j) -> None:
        from fuzz.dispatch import launched_kernels

        self.runs += 1
        self.by_kind[kind] += 1
        if j.path:
            self.paths.add("+".join(launched_kernels(j.path)))
        if j.judged:
            self.judged += 1
            self.agreeing += not j.unexplained and j.crash is None
        for ident in j.known_counts:
            self.known_counts[ident] += 1
        for failure in j.failures():
            seen = self.new.setdefault(failure.signature.key, {"summary": failure.summary[:400], "first": f"{kind} "
                                       f"{name}@{target}", "runs": 0})
            seen["runs"] += 1


def capture_run(backend, target, tally: "Tally", known_list) -> None:
    """Capture the entry point once on :data:`CAPTURE_CASE`, M = :data:`CAPTURE_M` [0] handed to it
    in a device tensor, and replay it for each M; a raise during the capture (a host read of M) is
    judged as a finding of the kernel's host code, each replay against the golden model."""
    from kernels.backends.flydsl_upstream import device_m_launcher
    from kernels.emu.findings import finding_from_exception
    from kernels.graph_replay import check_capture_replay

    ids, w, mask, _ = CAPTURE_CASE.materialize()
    tally.runs += 1
    tally.by_kind["capture"] += 1
    try:
        # the backend does not declare capture_safe: whether the revision is, is what this run finds
        capturable = dataclasses.replace(backend, capture_safe=True, launch=device_m_launcher())
        replays = check_capture_replay(capturable, ids, w, CAPTURE_CASE.num_experts, CAPTURE_CASE.unit_size, mask,
                                       m_values=CAPTURE_M, target=target)
    except Exception as exc:  # noqa: BLE001 - judged: a finding of the host code, or a new failure
        finding = finding_from_exception(exc, backend.sources())
        entry = None if finding is None else known_list.match(finding, backend.name)
        if entry is not None:
            tally.known_counts[entry.id] += 1
        else:
            what = finding.describe() if finding is not None else one_line(exc)
            seen = tally.new.setdefault(f"{backend.name}/{target}/capture/{type(exc).__name__}",
                                        {"summary": f"graph capture: {what}"[:400],
                                         "first": f"capture {CAPTURE_CASE.name}@{target}", "runs": 0})
            seen["runs"] += 1
        return
    for replay in replays:
        tally.judged += 1
        tally.agreeing += replay.verdict.ok
        if not replay.verdict.ok:
            seen = tally.new.setdefault(f"{backend.name}/{target}/capture/replay",
                                        {"summary": f"replay with M={replay.m}: {replay.verdict.summary}"[:400],
                                         "first": f"capture {CAPTURE_CASE.name}@{target}", "runs": 0})
            seen["runs"] += 1


def gate(root: Path, backend_name: str, targets, max_cases: int, fixtures: bool, successor: Optional[str],
         case_timeout: Optional[float], shapes=(), progress=None, fixed=()) -> dict:
    """Judge the checkout at ``root`` (``$FLYDSL_ROOT``); the row's figures as a dict.  The
    entries in ``fixed`` (their fixes applied to the tree) are left out of the known list: a
    finding of theirs is new."""
    from kernels.backends.flydsl_vintage import provide_expr_modules, sorting_module

    warnings.simplefilter("ignore")
    provided = provide_expr_modules(root, successors={"buffer_ops": successor} if successor else None)
    layout = sorting_module(root)
    out = {"runs_here": False, "why": "", "provided": [], "kernel_file": layout[1] if layout else None}
    try:
        from kernels.registry import get

        backend = get(backend_name)
        reason = backend.probe()
    except Exception as exc:  # noqa: BLE001 - the revision cannot even be looked at: say why
        reason = one_line(exc)
    if reason is not None:
        out["why"] = reason.replace(str(root), "<tree>")     # the scratch folder means nothing once removed
        return out
    out["provided"] = used_by_sort_kernel(provided)
    try:
        plan = _plan(backend, targets, max_cases, fixtures, shapes)
    except Exception as exc:  # noqa: BLE001 - its dispatch cannot be asked: it does not run here
        out["why"] = f"its dispatch does not answer: {one_line(exc)}"
        return out
    out["runs_here"] = True
    tally = Tally()
    from fuzz.judge import judge_inputs
    from regressions import known_findings

    known_list = known_findings.default().without(fixed)
    start = time.monotonic()
    for i, (kind, name, target, kwargs) in enumerate(plan):
        if kind == "capture":
            capture_run(backend, target, tally, known_list)
            continue
        j = judge_inputs(backend_name, kwargs(), target, seconds=case_timeout, known_list=known_list)
        if j is not None:
            tally.add(kind, name, target, j)
        if progress and (i + 1) % 25 == 0:
            progress(f"gate: {i + 1}/{len(plan)} runs, {time.monotonic() - start:.0f} s")
    out.update(paths=sorted(tally.paths), runs=tally.runs, judged=tally.judged, agreeing=tally.agreeing,
               by_kind=dict(tally.by_kind), known=dict(sorted(tally.known_counts.items())),
               new={k: dict(v, summary=v["summary"].replace(str(root), "<tree>")) for k, v in tally.new.items()})
    out.update(_unmatched(backend_name, set(tally.known_counts), root, known_list))
    return out


def _plan(backend, targets, max_cases: int, fixtures: bool, shapes=()) -> list:
    """(kind, name, target, kwargs thunk) of every run, dispatch boundaries first; ``shapes``
    (label patterns) narrows the boundary and suite cases."""
    import regressions
    from fuzz.judge import case_kwargs
    from fuzz.mutation.check_mutant import round_robin
    from fuzz.mutation.suite_cases import boundary_cases

    plan, seen = [], set()

    def add_case(kind, case, target):
        key = (case.name, case.seed, target)
        if key not in seen:
            seen.add(key)
            plan.append((kind, case.name, target, lambda c=case: case_kwargs(c)))

    for target in targets:
        for case in dispatch_boundary_cases(backend, target, shapes):
            add_case("dispatch-boundary", case, target)
    if fixtures:
        for fx in regressions.load_all():
            for target in backend.targets:
                plan.append(("fixture", fx.name, target, lambda f=fx: dict(f.run_args(), moe_buf=f.moe_buf())))
    plan += [("capture", CAPTURE_CASE.name, target, None) for target in targets]
    chosen = [c for c in boundary_cases(backend=backend)
              if not shapes or any(p.lower() in f"E{c.num_experts}-k{c.topk}-u{c.unit_size}".lower() for p in shapes)]
    suite = round_robin([("suite", c, t, backend.name) for c in chosen for t in targets], backend.name)
    taken: Counter = Counter()
    for _, case, target, _backend in suite:
        if taken[target] < max_cases and (case.name, case.seed, target) not in seen:
            taken[target] += 1
            add_case("suite", case, target)
    return plan


def _unmatched(backend_name: str, matched: set, root: Path, known_list) -> dict:
    """The entries of ``known_list`` for ``backend_name`` no run matched: ``absent`` (code gone) and ``stale``."""
    absent, stale = [], []
    for entry in known_list.entries:
        if backend_name not in entry.backends or entry.id in matched:
            continue
        (stale if absence(entry, [root]) is None else absent).append(entry.id)
    return {"absent": absent, "stale": stale}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fuzz.revisions.gate", description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="file to write the result to")
    ap.add_argument("--backend", default=DEFAULT_BACKEND)
    ap.add_argument("--target", action="append", default=[], help=f"(repeatable; default {DEFAULT_TARGETS})")
    ap.add_argument("--max-cases", type=int, default=DEFAULT_MAX_CASES)
    ap.add_argument("--no-fixtures", action="store_true")
    ap.add_argument("--successor", default=None, help="a newer FlyDSL's kernels/common/buffer_ops.py")
    ap.add_argument("--case-timeout", type=float, default=None)
    ap.add_argument("--shape", action="append", default=[], help="only shapes whose label holds this (repeatable)")
    ap.add_argument("--fixed", action="append", default=[],
                    help="a known-finding id whose fix the tree carries: left out of the known list (repeatable)")
    args = ap.parse_args(argv)
    root = os.environ.get("FLYDSL_ROOT")
    if not root:
        ap.error("FLYDSL_ROOT must name the revision's tree")
    start = time.monotonic()
    result = gate(Path(root), args.backend, tuple(args.target) or DEFAULT_TARGETS, args.max_cases,
                  not args.no_fixtures, args.successor, args.case_timeout, tuple(args.shape),
                  progress=lambda line: print(line, file=sys.stderr, flush=True), fixed=tuple(args.fixed))
    result["seconds"] = round(time.monotonic() - start, 1)
    Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
