"""Fold re-judged mutants into a committed figures-only report (``fuzz mutate --rejudge-into``).

A figures-only report (``reports/STEM.json``, written by ``--figures-as``) holds
one row per judged mutant and no source text.  :func:`merge` replaces the rows
of the mutants a later ``--only`` run judged by that run's verdicts, keeps every
other row as it was, recomputes the figures from the rows
(:func:`fuzz.mutation.runner.summarize`) and appends to the config's
``refigured`` note what was re-judged, when, with which time limit, and
whether the baseline verdicts are new or the earlier run's.  Rows keep the
report's order.  A re-judged mutant the report does not hold is an error: the
sample of a report is fixed.  :func:`load_verdicts` reads the verdicts of an earlier
``--only`` run's output directory instead (``--verdicts-from``).
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from .runner import Judged, figures, summarize


def _judged(row: dict, mutant) -> Judged:
    """A :class:`Judged` rebuilt from a figures row (verdicts only, as the row holds them)."""
    suite = {"status": row["suite"], "check": row.get("killed_by"), "case": row.get("case")}
    baseline = None if row.get("baseline") is None else {"status": row["baseline"]}
    return Judged(mutant, suite, baseline, row.get("seconds") or 0.0)


def _how(suite: dict) -> str:
    """`` (check, by case@target, ...)`` of a verdict, or nothing."""
    parts = [suite.get("check"), suite.get("key") and f"by {suite['key']}",
             suite.get("confirmed_on_original") and "which the unmutated kernel passes",
             suite.get("budget_exhausted") and "budget exhausted"]
    parts = [p for p in parts if p]
    return f" ({', '.join(parts)})" if parts else ""


def merge(report: dict, rejudged: list, mutants: dict, equivalent: dict, timeout: float,
          with_baseline: bool, where: str) -> tuple[list, dict, dict]:
    """``(results, summary, config)`` of ``report`` with the rows of ``rejudged``
    (:class:`Judged`) replaced; ``mutants``: id -> :class:`~fuzz.mutation.operators.Mutant`
    of every mutant of the sources; ``where`` names the report in errors."""
    rows = report.get("mutants_judged")
    if not isinstance(rows, list):
        raise ValueError(f"{where}: mutants_judged is missing: not a figures-only report")
    ids = [r["id"] for r in rows]
    new = {j.mutant.id: j for j in rejudged}
    unknown = sorted(set(new) - set(ids))
    if unknown:
        raise ValueError(f"{where}: --only {unknown}: not among the report's mutants ({len(ids)} rows)")
    gone = sorted(i for i in ids if i not in mutants)
    if gone:
        raise ValueError(f"{where}: mutants {gone} are no longer generated from these sources")
    results = []
    for row in rows:
        j = new.get(row["id"])
        if j is None:
            results.append(_judged(row, mutants[row["id"]]))
            continue
        if not with_baseline:            # the run judged the suite only: the earlier baseline stands
            j = Judged(j.mutant, j.suite, _judged(row, j.mutant).baseline, j.seconds)
        results.append(j)
    summary = summarize(results, equivalent)
    config = dict(report.get("config", {}))
    verdicts = ", ".join(f"{i} {new[i].suite.get('status')}" + _how(new[i].suite) for i in new)
    basis = ("suite and baseline" if with_baseline
             else "suite only; their baseline verdicts are the earlier run's")
    note = (f"re-judged {datetime.date.today().isoformat()} at --timeout {timeout:g} with today's checks and "
            f"cases ({basis}): {verdicts}; the other {len(rows) - len(new)} verdicts are the earlier run's "
            f"(--timeout {config.get('timeout_s', '?'):g})")
    config["refigured"] = "; ".join(n for n in (config.get("refigured"), note) if n)
    return results, dict(figures(results, summary), config=config), config


def load_verdicts(run_dir: Path, chosen: list, digests: dict) -> tuple[list, float]:
    """The verdicts of ``chosen`` (mutants) from an earlier run's ``--out`` directory
    (``mutation-details.json``, ``mutation.json``), and that run's ``--timeout``.  ValueError
    when the directory lacks a chosen mutant or its run mutated other source text than
    ``digests`` ({source: :func:`~fuzz.mutation.runner.source_digest`}) names."""
    details, summary = run_dir / "mutation-details.json", run_dir / "mutation.json"
    for f in (details, summary):
        if not f.is_file():
            raise ValueError(f"{f}: no such file: not the --out directory of a fuzz mutate run")
    config = json.loads(summary.read_text()).get("config", {})
    ran = config.get("sources", {})
    other = sorted(s for s in ran if digests.get(s) != ran[s])
    if other:
        raise ValueError(f"{summary}: the run mutated other text of {other} than the sources have now")
    rows = {r["id"]: r for r in json.loads(details.read_text())}
    missing = sorted(m.id for m in chosen if m.id not in rows)
    if missing:
        raise ValueError(f"{details}: no verdict for {missing}")
    return ([Judged(m, rows[m.id]["suite"], rows[m.id].get("baseline"), rows[m.id].get("seconds") or 0.0)
             for m in chosen], float(config.get("timeout_s", 0)))
