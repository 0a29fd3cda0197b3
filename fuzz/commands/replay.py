"""``fuzz replay``: run saved fixtures against chosen backends and print a table.

Each (fixture, backend, target) run is judged as a campaign judges a case
(:func:`fuzz.judge.judge_inputs`): outputs against the golden model, findings
against ``regressions/known_findings.toml``; a fixture with invalid ids runs
under the policy they need (only memory safety under ``unchecked``), and is
skipped on a backend that declares none that fits.  A row is ``pass``
(nothing found), ``known`` (only known findings, named), ``skip`` or
``FAIL`` (a new finding, an unexplained mismatch, a memory-safety failure or
a crash).  A fixture of logits runs on every selected backend that takes
logits (:func:`fuzz.judge_logits.judge_router`), one of ids on those that take
ids.  Exit status 0 when no row fails, 1 otherwise, 2 on a usage error.
"""
from __future__ import annotations

from pathlib import Path

from fuzz.errors import UsageError

NAME = "replay"
HELP = "replay regression fixtures against backends"


def add_arguments(p) -> None:
    p.add_argument("--backend", action="append", default=[], metavar="NAME",
                   help="backend (repeatable); default: every available non-test backend")
    p.add_argument("--target", action="append", default=[], help="restrict FlyDSL targets (repeatable)")
    p.add_argument("--fixture", action="append", default=[], metavar="PATH", help="fixture file(s)")
    p.add_argument("--name", default="", help="only fixtures whose file name contains this")
    p.add_argument("--dir", default=None, help="fixture directory (default regressions/fixtures)")
    p.add_argument("--known-findings", default=None, metavar="TOML",
                   help="known-findings list to judge against (default regressions/known_findings.toml)")


def _fixtures(args):
    from regressions.fixtures import FIXTURE_DIR, FixtureError, load, load_all

    try:
        if args.fixture:
            return [load(Path(p)) for p in args.fixture]
        return load_all(args.dir or FIXTURE_DIR, args.name, takes=None)
    except FixtureError as exc:
        raise UsageError(str(exc)) from None


def _row(name, backend, target, j) -> tuple:
    if not j.ok:
        return (name, backend, target, "FAIL", j.summary)
    if j.known_counts:
        changed = "".join(f"; {k} (line text changed): entry `{old}`, now `{now}`"
                          for k, (old, now) in sorted(j.text_changed.items()))
        return (name, backend, target, "known", ", ".join(sorted(j.known_counts)) + changed)
    return (name, backend, target, "pass", "")


def main(args) -> int:
    from fuzz.judge import judge_inputs
    from fuzz.judge_logits import judge_router
    from kernels.registry import all_backends, available
    from regressions import known_findings

    status = available()
    names = args.backend or [n for n, b in all_backends().items() if not b.test_only and status[n] is None]
    for n in names:
        if n not in status:
            raise UsageError(f"--backend {n!r} is not declared; known: {sorted(status)}")
        if status[n] is not None:
            raise UsageError(f"--backend {n!r} is unavailable here: {status[n]}")
    fixtures = _fixtures(args)
    if not fixtures:
        raise UsageError("no fixture matched")
    try:
        known_list = known_findings.cached(args.known_findings)
    except known_findings.KnownFindingsError as exc:
        raise UsageError(f"--known-findings: {exc}") from None
    rows, failed = [], 0
    for fx in fixtures:
        for n in names:
            b = all_backends()[n]
            if b.takes != fx.takes:
                if args.backend:
                    rows.append((fx.name, n, None, "skip", f"the fixture holds {fx.takes}; the backend takes {b.takes}"))
                continue
            targets = [t for t in b.targets if not args.target or t in args.target] or list(b.targets)
            for t in targets:
                if fx.takes == "logits":
                    if fx.inputs.tokens < b.min_tokens:
                        rows.append((fx.name, n, t, "skip", f"T={fx.inputs.tokens} is below min_tokens={b.min_tokens}"))
                        continue
                    j = judge_router(n, fx.inputs, t, known_list=known_list)
                    failed += not j.ok
                    rows.append(_row(fx.name, n, t, j))
                    continue
                if b.max_tokens is not None and fx.topk_ids.shape[0] > b.max_tokens:
                    rows.append((fx.name, n, t, "skip", f"T exceeds max_tokens={b.max_tokens}"))
                    continue
                j = judge_inputs(n, dict(fx.run_args(), moe_buf=fx.moe_buf()), t, known_list=known_list)
                if j is None:
                    rows.append((fx.name, n, t, "skip", f"its ids need invalid_ids={fx.invalid_ids!r}; the "
                                                        f"backend supports {b.invalid_ids}"))
                    continue
                failed += not j.ok
                rows.append(_row(fx.name, n, t, j))
    if not rows:
        raise UsageError("no backend takes the matched fixtures' input")
    width = max(len(r[0]) for r in rows)
    for fx_name, n, t, verdict, detail in rows:
        print(f"{fx_name:<{width}}  {n}@{t or '-':<8} {verdict:<5} {detail}")
    print(f"{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0
