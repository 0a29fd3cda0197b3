"""Which suite cases a mutant runs and in what order, and re-judged mutants folded into a report.

Without ``FLYDSL_ROOT``: the gating kernel's layouts each lead a round of the
case order, the roles of a run's backends, and :func:`fuzz.mutation.refigure.merge`.
With it: the premise of ``config.RUN_BY`` (which file's code each backend runs)
read from the two kernel files' imports.
"""
import ast
import os
from pathlib import Path

import pytest

from cases import LogitsCase
from fuzz.mutation import config, refigure
from fuzz.mutation.check_mutant import _role, round_robin
from fuzz.mutation.equivalents import Equivalent
from fuzz.mutation.operators import Mutant
from fuzz.mutation.runner import Judged


def test_each_gating_layout_leads_a_round_of_the_case_order():
    """On a one-path logits backend a wide-E case (its own layout) comes in the first round,
    not after every cheaper case of the common layout."""
    cheap = [LogitsCase(8, 2, t, dtype="bf16", seed=t) for t in range(1, 30)]
    wide = LogitsCase(1024, 8, 3, dtype="bf16", seed=41)
    plan = [("router", c, "gfx950", "torch-router-cpu") for c in cheap + [wide]]
    order = [it[1] for it in round_robin(plan, "flydsl-upstream-sanitized")]
    assert order.index(wide) <= 1, [c.name for c in order[:4]]
    f32 = LogitsCase(8, 2, 20, dtype="f32", seed=99)       # another element width: another layout
    order = [it[1] for it in round_robin(plan + [("router", f32, "gfx950", "torch-router-cpu")],
                                         "flydsl-upstream-sanitized")]
    assert order.index(f32) <= 2


def test_roles_of_a_runs_backends_and_the_files_they_run():
    sort = "flydsl-upstream-sanitized"
    fused, gating = config.ROUTER_BACKENDS[sort]
    assert [_role(b, sort) for b in (sort, fused, gating)] == ["sort", "fused", "gating"]
    assert config.run_by(config.UPSTREAM_SOURCE) == ("sort", "fused")
    assert config.run_by(config.UPSTREAM_GATING_SOURCE) == ("fused", "gating")
    assert config.run_by("kernels/moesort/small.py") == ()


@pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"), reason="FLYDSL_ROOT is not set: no FlyDSL checkout to read")
def test_the_sort_file_uses_of_the_gating_file_only_what_the_fused_kernel_calls():
    """RUN_BY's premise: the gating file imports nothing of the sort file, and the sort file
    imports only the gating layout and body, called only inside the fused entry's code."""
    root = Path(os.environ["FLYDSL_ROOT"])
    sort_src, gating_src = (root / s.split(":", 1)[1] for s in config.UPSTREAM_SOURCES)

    def imported(path):
        return {(n.module, a.name) for n in ast.walk(ast.parse(path.read_text()))
                if isinstance(n, ast.ImportFrom) for a in n.names}

    assert not any("moe_sorting" in (m or "") for m, _ in imported(gating_src))
    names = {a for m, a in imported(sort_src) if (m or "").endswith("topk_gating_softmax_kernel")}
    assert names == {"_compute_topk_gating_layout", "_emit_topk_gating_softmax_body",
                     "build_topk_gating_softmax_module"}
    functions = {f.name: {n.id for n in ast.walk(f) if isinstance(n, ast.Name)}
                 for f in ast.parse(sort_src.read_text()).body if isinstance(f, ast.FunctionDef)}
    reached, todo = set(), ["moe_sorting_flydsl"]        # what the sort entry calls, transitively
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += [n for n in functions.get(name, ()) if n in functions]
    assert len(reached) > 1 and not any(names & functions[f] for f in reached), reached
    assert any(names & uses for uses in functions.values())


def _mutant(name: str) -> Mutant:
    return Mutant("flydsl:k.py", "cmp", 1, 0, "<", "<=", "", function=name)


def _report(rows) -> dict:
    return {"mutants_judged": rows, "config": {"timeout_s": 100.0, "sample": 3}}


def _row(m, suite, baseline="survived", check=None):
    return {"id": m.id, "operator": m.operator, "function": m.function, "line": 1, "suite": suite,
            "killed_by": check, "case": None, "baseline": baseline, "seconds": 80.0}


def test_rejudged_rows_replace_the_old_ones_and_the_figures_follow():
    a, b, c = _mutant("a"), _mutant("b"), _mutant("c")
    report = _report([_row(a, "killed", "killed", "sanitizer"), _row(b, "survived"), _row(c, "survived")])
    equivalent = {c.id: Equivalent("the two forms compute the same value for every input here", {"code": "x"})}
    again = Judged(b, {"status": "killed", "check": "dispatch", "case": "E8"}, None, 42.0)
    results, merged, config = refigure.merge(report, [again], {m.id: m for m in (a, b, c)}, equivalent, 300,
                                             with_baseline=False, where="r.json")
    assert [r.mutant.id for r in results] == [a.id, b.id, c.id]
    assert merged["killed"] == 2 and merged["equivalent"] == 1 and merged["survivors"] == []
    assert merged["kill_rate_percent"] == 100.0 and merged["killed_of_all_percent"] == round(200 / 3, 1)
    row = merged["mutants_judged"][1]
    assert (row["suite"], row["killed_by"], row["baseline"], row["seconds"]) == ("killed", "dispatch", "survived", 42.0)
    assert merged["baseline"]["killed"] == 1                 # the earlier baseline verdicts stand
    assert b.id in config["refigured"] and "--timeout 300" in config["refigured"] and "(--timeout 100)" in \
        config["refigured"] and "suite only" in config["refigured"]


def test_a_rejudged_mutant_outside_the_report_is_refused():
    a, b = _mutant("a"), _mutant("b")
    with pytest.raises(ValueError, match=r"r\.json: --only .*not among"):
        refigure.merge(_report([_row(a, "killed")]), [Judged(b, {"status": "survived"}, None, 1.0)],
                       {a.id: a, b.id: b}, {}, 300, with_baseline=True, where="r.json")
    with pytest.raises(ValueError, match="mutants_judged is missing"):
        refigure.merge({"killed": 1}, [], {}, {}, 300, with_baseline=True, where="r.json")


def test_a_kernel_mutant_meets_first_the_cases_whose_path_launches_its_kernel(monkeypatch):
    from fuzz.mutation import check_mutant

    monkeypatch.setattr(check_mutant, "_launches", lambda item, function: item[1] in ("c", "e"))
    plan = [("b", x, "gfx950", "on") for x in "abcde"]
    assert [it[1] for it in check_mutant.function_first(plan, "k")] == list("ceabd")
    monkeypatch.setattr(check_mutant, "_launches", lambda item, function: False)
    assert check_mutant.function_first(plan, "k") == plan


def _verdicts(monkeypatch, runs, original_passes):
    """Run :func:`runner._suite_verdict` with the mutant's checks answering ``runs`` in turn and
    the unmutated kernel passing the keys in ``original_passes``; (verdict, screens each run got)."""
    from fuzz.mutation import runner

    answers, screens = iter(runs), []

    def check(where, mode, timeout, seed, backend, paths, screen, **kw):
        assert kw["past_screen"] is (screen is not None)
        screens.append(None if screen is None else __import__("json").loads(screen.read_text()))
        return next(answers)

    monkeypatch.setattr(runner, "_check", check)
    monkeypatch.setattr(runner, "_confirmed", lambda key, *a: key in original_passes)
    return screens


def test_a_kill_past_the_screen_counts_once_the_original_passes_that_case(tmp_path, monkeypatch):
    from fuzz.mutation import runner

    screen = tmp_path / "screen.json"
    screen.write_text('{"suite": ["old@gfx950"], "reached": {"suite": []}}')
    m = _mutant("f")
    kill = {"status": "killed", "check": "golden-model", "key": "A@gfx950", "unscreened": True}
    _verdicts(monkeypatch, [dict(kill)], {"A@gfx950"})
    out = runner._suite_verdict(m, tmp_path, tmp_path, 10, 0, "b", (), screen, 1)
    assert out["status"] == "killed" and out["confirmed_on_original"]
    # the original fails A too: A is left out and the mutant judged again
    screens = _verdicts(monkeypatch, [dict(kill), {"status": "survived"}], set())
    out = runner._suite_verdict(m, tmp_path, tmp_path, 10, 0, "b", (), screen, 1)
    assert out["status"] == "survived"
    assert screens[1]["suite"] == ["A@gfx950", "old@gfx950"]
    # every kill past the screen fails on the original as well: not judged
    _verdicts(monkeypatch, [dict(kill)] * (runner.MAX_CONFIRMATIONS + 1), set())
    assert runner._suite_verdict(m, tmp_path, tmp_path, 10, 0, "b", (), screen, 1)["status"] == "error"


def test_earlier_verdicts_are_read_only_for_the_same_source_text(tmp_path):
    import json

    a = _mutant("a")
    (tmp_path / "mutation.json").write_text(json.dumps({"config": {"sources": {"flydsl:k.py": "abc"},
                                                                   "timeout_s": 1200.0}}))
    (tmp_path / "mutation-details.json").write_text(json.dumps([{"id": a.id, "suite": {"status": "killed"},
                                                                 "baseline": None, "seconds": 9.0}]))
    (judged,), timeout = refigure.load_verdicts(tmp_path, [a], {"flydsl:k.py": "abc"})
    assert judged.suite == {"status": "killed"} and judged.baseline is None and timeout == 1200.0
    with pytest.raises(ValueError, match="other text"):
        refigure.load_verdicts(tmp_path, [a], {"flydsl:k.py": "abd"})
    with pytest.raises(ValueError, match="no verdict for"):
        refigure.load_verdicts(tmp_path, [a, _mutant("b")], {"flydsl:k.py": "abc"})
    with pytest.raises(ValueError, match="not the --out directory"):
        refigure.load_verdicts(tmp_path / "nowhere", [a], {})
