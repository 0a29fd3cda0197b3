"""``fuzz mutate``: mutation testing of FlyDSL kernel sources.

Generates mutants of the given kernel files, judges each with the suite's ci
checks and with FlyDSL's own test-shape list (the baseline), and writes
``mutation.json`` (keys mutants, killed, equivalent, hardware_only,
compile_failed, survivors, kill_rate_percent, killed_of_all_percent, plus the
baseline's numbers) and ``mutation.md`` into ``--out`` (default: ``reports/``;
with ``--upstream``, ``out/mutation-upstream``, whose diffs hold FlyDSL's source;
``--figures-as STEM`` writes ``reports/STEM.json`` / ``.md``, figures only;
``--rejudge-into STEM`` folds an ``--only`` run's verdicts into such a report, or
with ``--verdicts-from DIR`` those of an earlier ``--only`` run's ``--out``:
:mod:`fuzz.mutation.refigure`).
Surviving mutants judged equivalent are listed, with the reason and what it
assumes, in ``fuzz/mutation/equivalent.json`` (FlyDSL's kernel:
``equivalent-upstream.json``; :mod:`fuzz.mutation.equivalents`).
``--recheck-equivalents`` judges only the listed mutants of the sources, writes
``equivalents-recheck.json`` into ``--out`` and exits 1 naming every one the
checks now kill (or the tool no longer generates).  With ``--scheduler ADDRESS`` each mutant is
a task on a Dask cluster (:mod:`fuzz.cluster.mutants`); the outputs are those
of a local run.  Exit status 0: no survivor; 1: survivors; 2: usage error (a
cluster that cannot start the run included); 3: the cluster went away before
every mutant was judged (the outputs then hold the mutants judged so far); 4:
the checks could not run for some mutant (nothing judged it; counted as neither
killed nor survived, and listed under ``unjudged``).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fuzz.cluster.options import add_scheduler_argument, open_cluster
from fuzz.errors import UsageError
from fuzz.mutation import equivalents
from fuzz.mutation.config import OWN_SOURCES, UPSTREAM_SOURCES, paths_of

EXIT_UNJUDGED = 4
#: Where the reports go by default, and where ``--figures-as`` writes.
REPORTS = Path(__file__).resolve().parents[2] / "reports"
NAME = "mutate"
HELP = "mutation testing: how many planted kernel bugs the suite kills"


def add_arguments(p) -> None:
    p.add_argument("--source", action="append", default=[], metavar="PATH",
                   help="kernel file to mutate, relative to the repo (repeatable); default: the suite's own kernels")
    p.add_argument("--operator", action="append", default=[], help="only these operators (repeatable)")
    p.add_argument("--only", action="append", default=[], metavar="ID",
                   help="judge only the mutants with these ids (repeatable), e.g. a previous run's survivors")
    p.add_argument("--sample", type=int, default=None, help="judge a deterministic sample of this many mutants")
    p.add_argument("--stratify", action="store_true",
                   help="spread the sample over (operator, function) groups instead of drawing it uniformly")
    p.add_argument("--const-per-file", type=int, default=None, help="at most this many const mutants per file")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="mutants judged at once (with --scheduler: one per cluster worker thread instead)")
    add_scheduler_argument(p, "judge each mutant as a task on the Dask cluster of this scheduler")
    p.add_argument("--timeout", type=float, default=600,
                   help="seconds per mutant and check set; a mutant alive then counts as survived (default 600)")
    p.add_argument("--hang-grace", type=float, default=None, metavar="SECONDS",
                   help="seconds past --timeout before a mutant's check counts as a hang (default "
                        "300); survivors compile for the limits stage in it: raise it on a loaded machine "
                        "(local runs only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None,
                   help="backend that runs the mutants (default: flydsl-own; with --upstream, "
                        "flydsl-upstream-sanitized)")
    p.add_argument("--upstream", action="store_true",
                   help="mutate FlyDSL's own kernels (" + ", ".join(s.split(':', 1)[1] for s in UPSTREAM_SOURCES)
                        + " under FLYDSL_ROOT) instead of the suite's, also judged with logits cases on the fused "
                          "and gating backends; cases the unmutated kernel fails are screened out first")
    p.add_argument("--screen", action="store_true",
                   help="screen out the cases the unmutated kernel fails (always on with --upstream)")
    p.add_argument("--screen-seconds", type=float, default=None, metavar="SECONDS",
                   help="seconds the screen of the unmutated kernel runs per check set (default: twice --timeout); "
                        "a mutant's kill by a case past it is confirmed on the unmutated kernel")
    p.add_argument("--no-baseline", action="store_true", help="skip the FlyDSL test-shape baseline")
    p.add_argument("--list", action="store_true", help="only list the mutants and their diffs")
    p.add_argument("--recheck-equivalents", action="store_true",
                   help="judge only the mutants listed as equivalent (equivalent.json; with --upstream, "
                        "equivalent-upstream.json) against today's checks; exit 1 naming any they kill")
    p.add_argument("--out", default=None, help="directory for mutation.json and mutation.md (default: reports/; "
                                                "with --upstream, out/mutation-upstream)")
    p.add_argument("--figures-as", default=None, metavar="STEM",
                   help="also write reports/STEM.json / STEM.md holding figures only (no source text or diffs): "
                        "what may be committed for a kernel of another project, e.g. mutation-upstream")
    p.add_argument("--rejudge-into", default=None, metavar="STEM",
                   help="with --only: replace those mutants' rows of reports/STEM.json (an earlier --figures-as "
                        "report of the same sources) by this run's verdicts, recompute its figures and note in "
                        "its config what was re-judged")
    p.add_argument("--verdicts-from", default=None, metavar="DIR",
                   help="with --rejudge-into: take the --only mutants' verdicts from the --out directory DIR of an "
                        "earlier run of the same sources instead of judging them again")


def main(args) -> int:
    from fuzz.mutation import runner
    from fuzz.mutation.operators import OPERATORS

    root = runner.ROOT
    if args.upstream:
        if not os.environ.get("FLYDSL_ROOT"):
            raise UsageError("--upstream needs FLYDSL_ROOT set to a FlyDSL checkout")
        if args.source:
            raise UsageError("--upstream and --source exclude each other")
        sources = list(UPSTREAM_SOURCES)
    else:
        sources = args.source or list(OWN_SOURCES)
    backend = args.backend or ("flydsl-upstream-sanitized" if args.upstream else "flydsl-own")
    out = Path(args.out or (root / "out" / "mutation-upstream" if args.upstream else REPORTS))
    for s in sources:
        if not runner.source_file(s).is_file():
            raise UsageError(f"--source {s!r}: no such file ({runner.source_file(s)})")
    if args.hang_grace is not None and (args.scheduler or args.hang_grace <= 0):
        raise UsageError(f"--hang-grace {args.hang_grace}: must be > 0, and applies to local runs only")
    if args.rejudge_into and (not args.only or args.figures_as or args.recheck_equivalents):
        raise UsageError(f"--rejudge-into {args.rejudge_into}: needs --only, and excludes --figures-as and "
                         "--recheck-equivalents")
    if args.verdicts_from and not args.rejudge_into:
        raise UsageError(f"--verdicts-from {args.verdicts_from}: needs --rejudge-into")
    if args.rejudge_into and not (REPORTS / f"{args.rejudge_into}.json").is_file():
        raise UsageError(f"--rejudge-into {args.rejudge_into}: no such report ({REPORTS / args.rejudge_into}.json)")
    bad = set(args.operator) - set(OPERATORS)
    if bad:
        raise UsageError(f"--operator {sorted(bad)}: known operators are {sorted(OPERATORS)}")
    session = None
    if not args.list and not args.verdicts_from:
        from kernels.registry import all_backends

        needs_checkout = args.upstream or "FLYDSL_ROOT" in getattr(all_backends().get(backend), "needs", ())
        session = open_cluster(args.scheduler, checkout=needs_checkout, fixtures=True)
    try:
        return _mutate(args, sources, backend, out, session)
    finally:
        if session is not None:
            session.close()


def _judge_all(args, chosen, backend, exclude, session, on_done):
    """Every mutant judged, here or on the cluster; (results, why the run stopped early or None)."""
    from fuzz.mutation import runner

    if session is None:
        grace = runner.HANG_GRACE_S if args.hang_grace is None else args.hang_grace
        return runner.run_all(chosen, args.jobs, args.timeout, args.seed, backend, not args.no_baseline,
                              on_done, paths_of, exclude, grace), None
    from fuzz.cluster import mutants as cluster_mutants
    from fuzz.cluster.session import ClusterLost

    try:
        return cluster_mutants.run_all(session, chosen, args.timeout, args.seed, backend, not args.no_baseline,
                                       on_done, paths_of, exclude), None
    except ClusterLost as exc:
        return exc.partial, str(exc)


def _mutate(args, sources, backend, out, session) -> int:
    from fuzz.mutation import runner

    out = out.resolve()              # the checks run in private copies: every path they get is absolute
    out.mkdir(parents=True, exist_ok=True)
    exclude, lines = None, None
    if args.recheck_equivalents:
        args.no_baseline = True         # the verdict under re-check is the suite's, not the baseline's
    if (args.upstream or args.screen) and not args.list and not args.verdicts_from:
        exclude = out / "screened-cases.json"
        modes = ("suite",) if args.no_baseline else ("suite", "baseline")
        print(f"screening: every {'/'.join(modes)} check on the unmutated {backend} "
              f"(cases it fails are left out)", flush=True)
        failing = runner.screen(args.seed, backend, args.timeout, exclude, lines_of=tuple(sources), modes=modes,
                                budget=args.screen_seconds)
        lines = failing.get("lines")
        print(f"screened out {len(failing['suite'])} suite and {len(failing.get('baseline', []))} baseline "
              f"case(s) the unmutated kernel fails ({exclude})", flush=True)
    every = runner.select(sources, OWN_SOURCES, set(args.operator) or None, None, args.const_per_file, args.seed)
    chosen = runner.select(sources, OWN_SOURCES, set(args.operator) or None, args.sample,
                           args.const_per_file, args.seed, args.stratify, lines)
    unreached = len(every) - len(runner.select(sources, OWN_SOURCES, set(args.operator) or None, None,
                                               args.const_per_file, args.seed, lines=lines))
    if lines is not None:
        print(f"{unreached} of {len(every)} mutants lie on lines the checks never run (left out)", flush=True)
    stale = []
    if args.recheck_equivalents:
        listed = equivalents.load(equivalents.UPSTREAM_FILE if args.upstream else equivalents.OWN_FILE)
        generated = runner.select(sources, OWN_SOURCES)     # every mutant: no operator, sample or const limit
        stale = sorted(set(listed) - {m.id for m in generated})
        chosen = [m for m in generated if m.id in listed]
    if args.only:
        if not args.recheck_equivalents:     # named mutants: neither the sample nor the screen's lines apply
            chosen = every
        unknown = set(args.only) - {m.id for m in chosen}
        if unknown:
            raise UsageError(f"--only {sorted(unknown)}: no such mutant among the selected ones")
        chosen = [m for m in chosen if m.id in set(args.only)]
    originals = {s: runner.source_file(s).read_text() for s in sources}
    if args.list:
        for m in chosen:
            print(f"== {m.id}  {m.path}:{m.line}  {m.before!r} -> {m.after!r}")
        print(f"{len(chosen)} mutants")
        return 0
    title = "FlyDSL's own moe_sorting and top-k gating kernels" if args.upstream else "the suite's own FlyDSL kernels"
    if args.verdicts_from:
        return _fold_earlier_verdicts(args, chosen, sources, originals, title)
    total = len(chosen)
    done = [0]

    def on_done(j):
        done[0] += 1
        base = (j.baseline or {}).get("status", "-")
        print(f"[{done[0]}/{total}] {j.mutant.id:<28} suite={j.suite['status']:<14} "
              f"({j.suite.get('check') or '-'}) baseline={base:<14} {j.seconds:6.1f}s", flush=True)

    results, lost = _judge_all(args, chosen, backend, exclude, session, on_done)
    equivalent = equivalents.load()
    if args.recheck_equivalents:
        return _report_recheck(results, stale, equivalent, out, lost)
    summary = runner.summarize(results, equivalent)
    config = {"sources": {src: runner.source_digest(originals[src]) for src in sources},
              "operators": args.operator or "all", "sample": args.sample,
              "const_per_file": args.const_per_file, "seed": args.seed, "backend": backend,
              "timeout_s": args.timeout, "screened": exclude is not None, "only": args.only or None,
              "stratified": args.stratify, "mutants_in_file": len(every),
              "unreached_mutants": unreached if lines is not None else None,
              "kernel_commit": {src: runner.source_commit(src) for src in sources}}
    if lost:
        config["stopped_early"] = f"{len(results)} of {total} mutants judged: {lost}"
    (out / "mutation.json").write_text(json.dumps(dict(summary, config=config), indent=1) + "\n")
    (out / "mutation.md").write_text(runner.markdown(results, summary, equivalent, originals, config, title))
    (out / "mutation-details.json").write_text(json.dumps([r.to_dict(originals[r.mutant.path]) for r in results],
                                                          indent=1) + "\n")
    if args.figures_as:
        REPORTS.mkdir(exist_ok=True)
        stem = REPORTS / args.figures_as
        stem.with_suffix(".json").write_text(json.dumps(dict(runner.figures(results, summary), config=config),
                                                        indent=1) + "\n")
        stem.with_suffix(".md").write_text(runner.markdown(results, summary, equivalent, originals, config, title,
                                                           with_source=False))
        print(f"figures: {stem.with_suffix('.json')}, {stem.with_suffix('.md')}")
    if args.rejudge_into:
        summary = _rejudge_into(args, results, sources, equivalent, originals, title)
    b = summary.get("baseline")
    print(f"suite kill rate {summary['kill_rate_percent']}% of non-equivalent, {summary['killed_of_all_percent']}% "
          f"of all ({summary['killed']} killed, {summary['equivalent']} equivalent of which "
          f"{summary['hardware_only']} only hardware could tell, {summary['compile_failed']} compile-failed, "
          f"{len(summary['survivors'])} survivors of {summary['mutants']})"
          + (f"; baseline kill rate {b['kill_rate_percent']}%" if b else ""))
    if lost:
        from fuzz.cluster.session import EXIT_CLUSTER_LOST

        judged = {r.mutant.id for r in results}
        rest = " ".join(f"--only {m.id}" for m in chosen if m.id not in judged)
        print(f"fuzz mutate: stopped early, the cluster could not finish the run: {lost}\n"
              f"{len(results)} of {total} mutants judged (written to {out}); the rest: {rest}", file=sys.stderr)
        return EXIT_CLUSTER_LOST
    if summary["unjudged"]:
        print(f"fuzz mutate: {len(summary['unjudged'])} mutant(s) could not be judged (the checks did not run; "
              f"see 'detail' in {out / 'mutation-details.json'}): {' '.join(summary['unjudged'])}", file=sys.stderr)
        return EXIT_UNJUDGED
    return 1 if summary["survivors"] else 0


def _fold_earlier_verdicts(args, chosen, sources, originals, title) -> int:
    """``--verdicts-from``: fold the verdicts of an earlier ``--only`` run into ``--rejudge-into``."""
    from fuzz.mutation import refigure, runner

    try:
        results, args.timeout = refigure.load_verdicts(
            Path(args.verdicts_from), chosen, {s: runner.source_digest(originals[s]) for s in sources})
    except ValueError as exc:
        raise UsageError(f"--verdicts-from: {exc}") from None
    args.no_baseline = all(r.baseline is None for r in results)
    summary = _rejudge_into(args, results, sources, equivalents.load(), originals, title)
    print(f"kill rate {summary['kill_rate_percent']}% of non-equivalent, {summary['killed_of_all_percent']}% of all "
          f"({summary['killed']} killed, {summary['equivalent']} equivalent of which {summary['hardware_only']} only "
          f"hardware could tell, {summary['compile_failed']} compile-failed, survivors: "
          f"{' '.join(summary['survivors']) or 'none'})")
    return 1 if summary["survivors"] else 0


def _rejudge_into(args, results, sources, equivalent, originals, title) -> dict:
    """Fold ``results`` into ``reports/<--rejudge-into>.json`` / ``.md``; the merged summary."""
    from fuzz.mutation import refigure, runner

    stem = REPORTS / args.rejudge_into
    every = {m.id: m for m in runner.select(sources, OWN_SOURCES)}
    try:
        merged, report, config = refigure.merge(json.loads(stem.with_suffix(".json").read_text()), results, every,
                                                equivalent, args.timeout, not args.no_baseline, stem.name + ".json")
    except ValueError as exc:
        raise UsageError(f"--rejudge-into: {exc}") from None
    summary = {k: v for k, v in report.items() if k not in ("mutants_judged", "config")}
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    stem.with_suffix(".md").write_text(runner.markdown(merged, summary, equivalent, originals, config, title,
                                                       with_source=False))
    print(f"re-judged into {stem.with_suffix('.json')}, {stem.with_suffix('.md')}")
    return summary


def _report_recheck(results, stale, equivalent, out, lost) -> int:
    """Write ``equivalents-recheck.json`` (one row per listed mutant: its verdict today) and
    say which listed mutants no longer hold: killed now, no longer generated, not judged."""
    rows = [{"id": r.mutant.id, "function": r.mutant.function, "line": r.mutant.line,
             "suite": r.suite.get("status"), "killed_by": r.suite.get("check"), "case": r.suite.get("case"),
             "budget_exhausted": bool(r.suite.get("budget_exhausted")), "cases_run": r.suite.get("runs"),
             "hardware_only": equivalent[r.mutant.id].hardware_only, "seconds": round(r.seconds, 1)}
            for r in results]
    killed = [r for r in rows if r["suite"] == "killed"]
    # a survivor that ran no case was never judged
    unjudged = [r["id"] for r in rows if r["suite"] not in ("killed", "survived") or r["cases_run"] == 0]
    partial = [r["id"] for r in rows if r["suite"] == "survived" and r["budget_exhausted"] and r["id"] not in unjudged]
    (out / "equivalents-recheck.json").write_text(json.dumps(
        {"listed": len(rows) + len(stale), "rechecked": len(rows), "still_survive": len(rows) - len(killed)
         - len(unjudged), "killed_now": [r["id"] for r in killed], "no_longer_generated": stale,
         "not_judged": unjudged, "budget_exhausted": partial, "stopped_early": lost, "mutants": rows},
        indent=1) + "\n")
    print(f"equivalents re-checked: {len(rows)} judged, {len(rows) - len(killed) - len(unjudged)} still survive "
          f"({out / 'equivalents-recheck.json'})")
    for r in partial:
        print(f"fuzz mutate: equivalent {r} survived only because the --timeout ran out: raise it to re-check "
              "it fully", file=sys.stderr)
    for r in killed:
        hint = (" -- by the hang guard, which a loaded machine also trips: confirm on an idle one"
                if r["killed_by"] == "hang" else "")
        print(f"fuzz mutate: listed as equivalent but killed now: {r['id']} (check {r['killed_by']}, case "
              f"{r['case']}){hint}: remove it from the list or answer it", file=sys.stderr)
    for m in stale:
        print(f"fuzz mutate: listed as equivalent but no longer generated: {m}", file=sys.stderr)
    for m in unjudged:
        print(f"fuzz mutate: listed as equivalent but not judged (compile failed or the checks did not run): {m}",
              file=sys.stderr)
    if lost:
        return _exit_cluster_lost()
    return 1 if killed or stale or unjudged else 0


def _exit_cluster_lost() -> int:
    from fuzz.cluster.session import EXIT_CLUSTER_LOST

    return EXIT_CLUSTER_LOST
