"""Judge one mutant: run the suite's checks until one fails (the mutant is killed).

Run in a copy of the repo whose kernel file holds the mutant::

    python -m fuzz.mutation.check_mutant --mode suite|baseline --backend flydsl-own

Prints one JSON line: ``{"status": "killed"|"survived"|"compile_failed",
"check": ..., "case": ..., "detail": ...}``.  Checks, cheapest first:

``suite`` mode: the regression fixtures and the deterministic boundary cases
(:mod:`fuzz.mutation.suite_cases`) on both targets, and Hypothesis cases in
the ``ci`` profile, interleaved so that every (kernel path, target, input
mode) group gets its cheapest case first; every launch with the
interpreter's sanitizer on and the workgroup schedule shuffled.  ``check`` names what killed the mutant:
``golden-model`` (a mismatch with the oracle), ``sanitizer`` (out of bounds,
uninitialized read, race, divergent barrier), ``determinism`` (result depends
on the schedule), ``dispatch`` (the launch ran other kernels than the
backend's declared dispatch gives its M: :mod:`fuzz.dispatch`), ``crash``
(the launch raised).

A mutant of the suite's own kernels (``flydsl-own``) that survives every
case is then compiled for gfx942 and gfx950 (the paths of the mutated file, a
few production shapes with and without the mask) and checked against the
compile matrix's limits (scratch, LDS size, workgroups per CU): a failure
there is ``compile-limits``.  The stage is skipped, saying so in the result,
where the ROCm toolchain is missing.

With a sort backend of FlyDSL's checkout that has router twins
(:data:`fuzz.mutation.config.ROUTER_BACKENDS`), the suite mode also runs the
router's logits cases (:func:`fuzz.mutation.router_cases.router_cases`) on the
fused entry and gating backends, judged by the gating contract
(:func:`fuzz.judge_logits.judge_router`); their ``case@target`` keys end in
``#<backend>``.  ``--on`` restricts the suite's cases to the backends that run the
mutated file (``sort``, ``fused``, ``gating``: :data:`fuzz.mutation.config.RUN_BY`);
``--function`` names the mutated function: the cases whose kernel path launches a
kernel of that name run first.  ``--past-screen`` also runs the cases the screen
did not reach; a kill by one of them says so (``"unscreened": true``), for the
caller to confirm on the unmutated kernel (:func:`fuzz.mutation.runner.judge`).

``baseline`` mode: the fixed FlyDSL test-shape list, compared per block,
sanitizer off — what FlyDSL's own test file would see — and, with router twins,
FlyDSL's fused test list on the unsanitized fused backend, outputs judged by
the gating contract, findings ignored.

A mutant whose kernel fails to compile (FlyDSL or MLIR raises while tracing
or lowering) is ``compile_failed``, counted apart.  ``--paths`` restricts the
suite's cases to the kernel paths the mutated file implements; ``--budget``
bounds the time (a mutant still alive then is reported ``survived`` with
``budget_exhausted``, never counted as killed).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
import traceback
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hseed

import oracle
import regressions
from cases import DEFAULT_MOE_BUF, Case, shape_from_label
from kernels import emu
from kernels import run as kernels_run
from kernels.compilecheck import compile_jobs, rows_from_outcome, run_jobs
from kernels.compilecheck.toolchain import ensure_toolchain, missing_reason
from kernels.moesort import choose_path
from kernels.registry import get
from kernels.targets import TARGET_NAMES

from ..judge import case_kwargs, judge_inputs
from ..judge_logits import judge_router
from ..signature import MEMORY_SAFETY
from ..strategies import cases as case_strategy
from .baseline import baseline_cases
from .config import ROUTER_BACKENDS
from .router_cases import fused_baseline_cases, router_cases
from .suite_cases import boundary_cases


def is_compile_error(exc: BaseException) -> bool:
    """An exception raised inside the flydsl package (tracing, lowering) or MLIR, not in
    kernel host code (a FlyDSL checkout's ``kernels/`` is host code, not the compiler)."""
    import flydsl

    if isinstance(exc, emu.EmuError):
        return isinstance(exc, emu.UnsupportedOpError)
    package = os.path.dirname(os.path.abspath(flydsl.__file__)) + os.sep
    frames = traceback.extract_tb(exc.__traceback__)
    return any(os.path.abspath(f.filename).startswith(package) or "_mlir" in f.filename for f in frames)


def _classify(failure) -> str:
    """What killed a mutant, from the first failure of its judgement."""
    finding = failure.finding
    if finding is None:
        if failure.signature.output == "dispatch":
            return "dispatch"
        if failure.signature.output == MEMORY_SAFETY:
            return "memory-safety"
        return "crash" if failure.signature.output == "launch" else "golden-model"
    if finding["check"] == "schedule-dependence":
        return "determinism"
    return "crash" if finding["check"] == "host-exception" else "sanitizer"


def _baseline_verdict(case, backend, target):
    """What FlyDSL's own test file checks: outputs per block, findings ignored."""
    ids, w, mask, local = case.materialize()
    expected = oracle.moe_sorting(ids, w, case.num_experts, case.unit_size, mask, local)
    result = kernels_run(backend, ids, w, case.num_experts, case.unit_size, mask, local,
                         target=target, moe_buf=case.moe_buf_array())
    return oracle.compare(expected, result, "per_block")


def _suite_judgement(case, backend, target):
    """The suite's judgement: outputs (strict, canaries) and findings against the known list; a
    case with invalid ids under the policy they need (memory safety alone under ``unchecked``)."""
    return judge_inputs(backend, case_kwargs(case), target)


def _cases(mode: str, backend: str):
    """``(kind, case, backend name)`` of ``mode``'s checks (module docstring)."""
    router = ROUTER_BACKENDS.get(backend)
    if mode == "baseline":
        yield from (("baseline", c, backend) for c in baseline_cases())
        if router:
            fused = router[0].removesuffix("-sanitized")
            yield from (("baseline", c, fused) for c in fused_baseline_cases())
        return
    for fx in regressions.load_all():
        if fx.case and fx.case.get("kind", "ids") != "logits":
            yield "fixture", Case.from_dict(fx.case), backend
    yield from (("boundary", c, backend) for c in boundary_cases(backend=get(backend)))
    if router:
        yield from (("router", c, name) for name, c in router_cases(get(router[0]), get(router[1])))


def _key(case, target, backend: str, on: str) -> str:
    """A check's ``case@target`` key; ``#<backend>`` added for a case run on another backend."""
    return f"{case.name}-s{case.seed}@{target}" + ("" if on == backend else f"#{on}")


def _is_logits(case) -> bool:
    return getattr(case, "kind", "ids") == "logits"


def _hypothesis_cases(seed: int, count: int):
    drawn = []

    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @hseed(seed)
    @given(case_strategy(max_tokens=2048))
    def collect(case):
        drawn.append(case)
    collect()
    return drawn


def _case_paths(case, target, backend="flydsl-own") -> str:
    """The kernel path ``case`` takes on ``target``: the suite's own kernels' path
    names, else the index of the backend's path (``path0``, ``path1``...)."""
    m = case.tokens if case.num_local_tokens is None else case.num_local_tokens
    if backend == "flydsl-own":          # the suite's kernels pick their path by the capacity T
        return choose_path(case.tokens, case.num_experts, case.topk, case.unit_size, target)
    bounds = _boundaries(backend, case.num_experts, case.topk, case.unit_size, target)
    return f"path{sum(m >= t for t in bounds)}"


@functools.lru_cache(maxsize=None)
def _boundaries(backend: str, num_experts: int, topk: int, unit_size: int, target) -> tuple:
    """The backend's path boundaries for a shape (none: one path), asked once per shape."""
    b = get(backend)
    return () if b.path_boundaries is None else tuple(b.path_boundaries(num_experts, topk, unit_size, target))


@functools.lru_cache(maxsize=None)
def _single_path(backend: str) -> bool:
    """The backend declares no path boundaries: one kernel path for every M."""
    return get(backend).path_boundaries is None


def _role(on: str, backend: str) -> str:
    """What the backend ``on`` is to a run of ``backend``: ``sort`` (itself), ``fused`` or ``gating``."""
    router = ROUTER_BACKENDS.get(backend, ())
    return "sort" if on == backend else ("fused", "gating")[router.index(on)]


def _launches(item, function: str) -> bool:
    """The kernel path ``item``'s case takes on its backend launches a kernel named ``function``."""
    _, case, target, on = item
    b = get(on)
    kernels = b.declared_kernels(case.num_experts, case.topk, case.unit_size, target) if b.path_kernels else None
    path = _case_paths(case, target, on)
    if not kernels or not path.startswith("path"):
        return False
    index = int(path[4:])
    return index < len(kernels) and function in kernels[index]


def function_first(plan, function: str) -> list:
    """``plan`` with the items whose kernel path launches ``function`` moved to the front
    (each part in its order): a mutant of a kernel meets the cases that run it first."""
    first = [it for it in plan if _launches(it, function)]
    return first + [it for it in plan if not _launches(it, function)] if first else plan


def round_robin(plan, backend="flydsl-own"):
    """``plan`` reordered so that every (path, target, variant) group gets its cheapest
    case first, then its second cheapest, and so on: a bug on any path and in any input
    mode shows within the first round, not after every cheaper case of other paths.  On a
    backend of one path that takes logits (the gating kernel) each layout, which the kernel
    picks from E and the logits' element width, counts as a path of its own."""
    def variant(case, on):
        layout = ()
        if _is_logits(case) and _single_path(on):
            layout = (case.num_experts, 32 if case.dtype == "f32" else 16)
        return (case.mask_mode != "none", case.num_local_tokens is not None,
                getattr(case, "moe_buf", DEFAULT_MOE_BUF) != DEFAULT_MOE_BUF) + layout

    groups = defaultdict(list)
    for item in plan:
        _, case, target, on = item
        groups[(on, _case_paths(case, target, on), target, variant(case, on))].append(item)
    ranked = []
    for items in groups.values():
        items.sort(key=lambda it: it[1].tokens * it[1].topk + it[1].num_experts)
        ranked += [(rank, it[1].tokens * it[1].topk + it[1].num_experts, it) for rank, it in enumerate(items)]
    ranked.sort(key=lambda r: r[:2])
    return [it for _, _, it in ranked]


def check(mode: str, backend: str, targets, seed: int, hypothesis_examples: int,
          paths=None, budget: float = float("inf"), exclude=frozenset(), collect: bool = False,
          reached=None, roles=(), function: str = "", past_screen: bool = False) -> dict:
    """Run the checks of ``mode``; stop at the first failure or after ``budget`` seconds.

    ``paths`` (suite mode): only cases that take one of these kernel paths
    (the mutated file implements only those), judged by ``kernels.moesort.choose_path``.
    ``exclude``: ``<case name>-s<seed>@<target>`` keys to skip (the unmutated kernel fails them).
    ``collect``: run every case (within ``budget``) and return ``{"status": "screened",
    "failing": [keys], "reached": [keys run]}``.
    ``reached``: when given, only these keys run; a case a budget-bound screen did not
    reach has an unknown outcome on the unmutated kernel, so it cannot judge a mutant (the
    result counts those it skipped under ``not_screened``).
    The budget counts from the first case: building the plan (case generation) is not judging.
    ``roles``: only cases on the backends of these roles (:func:`_role`); empty: all.
    ``function``: the mutated function; cases whose path launches it first (:func:`function_first`).
    ``past_screen``: cases outside ``reached`` run too; a kill by one is marked ``unscreened``.
    """
    suite = mode == "suite"
    options = dict(sanitize=suite, shuffle_schedule=suite)

    def attempt(kind, case, target, on):
        if _is_logits(case):
            return _router_attempt(kind, case, target, on, suite, options)
        if suite:
            with emu.interpreter_options(**options):
                j = _suite_judgement(case, backend, target)
            if j is None:                 # invalid ids the backend declares no policy for
                return None
            if j.raised is not None and is_compile_error(j.raised):
                return {"status": "compile_failed", "check": "compile", "case": case.name, "target": target,
                        "detail": f"{type(j.raised).__name__}: {j.raised}"[:500]}
            if j.ok:
                return None
            failure = j.failures()[0]
            return {"status": "killed", "check": _classify(failure), "by": kind, "case": case.name,
                    "target": target, "detail": failure.summary[:500]}
        try:
            with emu.interpreter_options(**options):
                verdict = _baseline_verdict(case, backend, target)
        except Exception as exc:  # noqa: BLE001 - any failure of the mutant is a finding
            if is_compile_error(exc):
                return {"status": "compile_failed", "check": "compile", "case": case.name,
                        "target": target, "detail": f"{type(exc).__name__}: {exc}"[:500]}
            return {"status": "killed", "check": "crash", "by": kind, "case": case.name,
                    "target": target, "detail": f"{type(exc).__name__}: {exc}"[:500]}
        if not verdict.ok:
            return {"status": "killed", "check": "golden-model", "by": kind, "case": case.name,
                    "target": target, "detail": verdict.summary[:500]}
        return None

    def wanted(case, target, on) -> bool:
        return ((not paths or _case_paths(case, target, on) in paths)
                and (not roles or _role(on, backend) in roles))

    runs = 0
    plan = [(kind, case, target, on) for kind, case, on in _cases(mode, backend) for target in targets]
    if suite:
        plan += [("hypothesis", case, targets[i % len(targets)], backend)
                 for i, case in enumerate(_hypothesis_cases(seed, hypothesis_examples))]
        plan = round_robin(plan, backend)
        if function:
            plan = function_first(plan, function)
    failing, ran = [], []
    extra = {}
    unscreened = 0
    deadline = time.monotonic() + budget
    for kind, case, target, on in plan:
        key = _key(case, target, backend, on)
        if not wanted(case, target, on) or key in exclude:
            continue
        outside = reached is not None and key not in reached
        if outside and not past_screen:
            unscreened += 1
            continue
        if time.monotonic() > deadline:
            extra["budget_exhausted"] = True
            break
        runs += 1
        ran.append(key)
        found = attempt(kind, case, target, on)
        if found and collect:
            failing.append(key)
        elif found:
            return dict(found, runs=runs, key=key, **({"unscreened": True} if outside else {}))
    if unscreened and not extra.get("budget_exhausted"):
        extra["not_screened"] = unscreened
    if collect:
        return dict({"status": "screened", "failing": failing, "reached": ran, "runs": runs}, **extra)
    if suite and backend == "flydsl-own":     # its own budget: a few dozen compiles
        limits = compile_limits(targets, paths)
        if limits.get("status") == "killed":
            return dict(limits, runs=runs)
        extra["compile_limits"] = limits["note"]
    return dict({"status": "survived", "check": None, "runs": runs}, **extra)


def _router_attempt(kind, case, target, on, suite, options):
    """Judge the logits ``case`` on the backend ``on``: the gating contract and, in suite
    mode, the findings against the known list; in baseline mode the outputs alone."""
    with emu.interpreter_options(**options):
        j = judge_router(on, case.inputs(), target)
    if j.raised is not None and is_compile_error(j.raised):
        return {"status": "compile_failed", "check": "compile", "case": case.name, "target": target,
                "detail": f"{type(j.raised).__name__}: {j.raised}"[:500]}
    if suite:
        if j.ok:
            return None
        failure = j.failures()[0]
        return {"status": "killed", "check": _classify(failure), "by": kind, "case": case.name, "backend": on,
                "target": target, "detail": failure.summary[:500]}
    if j.crash is not None or j.raised is not None:
        exc = j.crash or j.raised
        return {"status": "killed", "check": "crash", "by": kind, "case": case.name, "backend": on,
                "target": target, "detail": f"{type(exc).__name__}: {exc}"[:500]}
    if j.verdict is not None and not j.verdict.ok:
        return {"status": "killed", "check": "golden-model", "by": kind, "case": case.name, "backend": on,
                "target": target, "detail": j.verdict.summary[:500]}
    return None


#: Production shapes whose kernels the compile-limits stage builds: the largest
#: LDS users of each target and the smallest expert count.
LIMIT_SHAPES = ("E513-k9-u32", "E257-k9-u32", "E8-k2-u32")


def compile_limits(targets, paths=()) -> dict:
    """Compile the own kernels of ``paths`` (all when empty) for :data:`LIMIT_SHAPES` on
    ``targets``; ``{"status": "killed", "check": "compile-limits", ...}`` when one breaks
    a limit of the compile matrix, else ``{"note": ...}``."""
    reason = missing_reason()
    if reason:
        return {"note": f"skipped: {reason}"}
    ensure_toolchain()
    jobs = [j for j in compile_jobs("flydsl-own", targets, [shape_from_label(s) for s in LIMIT_SHAPES])
            if not paths or j.path in paths]
    for outcome in run_jobs(jobs, workers=1):
        for row in rows_from_outcome(outcome):
            if not row.ok:
                return {"status": "killed", "check": "compile-limits", "by": "compile", "case": row.shape,
                        "target": row.target, "detail": f"{row.kernel} ({row.path}): {row.reason}"[:500]}
    return {"note": f"{len(jobs)} kernels within limits"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("suite", "baseline"), default="suite")
    p.add_argument("--backend", default="flydsl-own")
    p.add_argument("--target", action="append", default=[])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hypothesis-examples", type=int, default=30)
    p.add_argument("--paths", default="", help="comma-separated kernel paths the mutated file implements")
    p.add_argument("--function", default="", help="the mutated function: cases whose path launches it run first")
    p.add_argument("--past-screen", action="store_true",
                   help="also run the cases the screen did not reach (a kill by one is marked unscreened)")
    p.add_argument("--on", default="", help="comma-separated roles (sort, fused, gating) of the backends that run "
                                            "the mutated file: only their cases run")
    p.add_argument("--budget", type=float, default=float("inf"), help="seconds before giving up (survived)")
    p.add_argument("--exclude", default=None,
                   help="JSON written by the screen: per mode, case@target keys that fail on the unmutated "
                        "kernel (skipped) and, under 'reached', the keys the screen ran (only those run)")
    p.add_argument("--collect", action="store_true", help="run every case; list those that fail")
    p.add_argument("--lines-of", action="append", default=[], metavar="FILE",
                   help="record which lines of this Python file run (the kernel's source: its host code and "
                        "the kernel bodies FlyDSL traces) and add them to the result as 'lines', one list per "
                        "file in the order given (repeatable)")
    args = p.parse_args(argv)
    lines = _trace_lines(args.lines_of) if args.lines_of else None
    paths = tuple(p for p in args.paths.split(",") if p)
    exclude, reached = frozenset(), None
    if args.exclude:
        with open(args.exclude) as f:
            screened = json.load(f)
        exclude = frozenset(screened.get(args.mode, []))
        if args.mode in screened.get("reached", {}):
            reached = frozenset(screened["reached"][args.mode])
    try:
        result = check(args.mode, args.backend, args.target or list(TARGET_NAMES), args.seed,
                       args.hypothesis_examples, paths, args.budget, exclude, args.collect, reached,
                       tuple(r for r in args.on.split(",") if r), args.function, args.past_screen)
    except Exception as exc:  # noqa: BLE001 - the checks ran the mutant: whatever escapes them is its crash
        result = {"status": "killed", "check": "crash", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    if lines is not None:
        sys.settrace(None)
        result["lines"] = [sorted(seen) for seen in lines]
    print(json.dumps(result), flush=True)
    return 0


def _trace_lines(paths) -> list:
    """Start recording the line numbers executed in each of ``paths`` (this thread);
    returns the live sets, one per path."""
    targets = {os.path.realpath(p): i for i, p in enumerate(paths)}
    seen = [set() for _ in paths]
    files: dict = {}

    def tracer(frame, event, arg):
        name = frame.f_code.co_filename
        index = files.get(name, -1)
        if index == -1:
            index = files[name] = targets.get(os.path.realpath(name))
        if index is None:
            return None
        hits = seen[index]
        hits.add(frame.f_lineno)

        def local(frame, event, arg):
            if event == "line":
                hits.add(frame.f_lineno)
            return local
        return local

    sys.settrace(tracer)
    return seen


if __name__ == "__main__":
    sys.exit(main())
