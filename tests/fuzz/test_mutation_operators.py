"""Mutation operators: each models its bug as one small edit, with stable ids."""
import re
import textwrap

import pytest

from fuzz.mutation.equivalents import Equivalent
from fuzz.mutation.operators import mutants
from fuzz.mutation.runner import Judged, summarize

SOURCE = textwrap.dedent('''
    """Docstring: x < 3 is not code."""
    LIMIT = 7


    def scan_block(v, w):
        assert v < 100
        total = v + w
        return total


    def kernel(a, m, n_in, topk, grid):
        if a < m:
            a = a << 24
        ok = (mask == 0)
        s = SENTINEL | m
        x = c.select(a, m)
        rows = (a + u - 1) // u
        b = -(-a // u)
        gpu.barrier()
        k.launch(grid=(grid, 1, 1))
        return x
''')


def by_operator(source=SOURCE):
    found = {}
    for m in mutants(source, "k.py", {"m": "(n_in // topk)"}):
        found.setdefault(m.operator, []).append((m.before, m.after))
    return found


def test_each_operator_makes_its_edit():
    ops = by_operator()
    assert ("a < m", "a <= m") in ops["cmp"]
    assert ("0", "1") in ops["const"] and ("1", "0") in ops["const"]
    assert ("24", "25") not in ops["const"]  # the same text as the shift mutant: kept once
    assert ("a << 24", "a << 25") in ops["shift"]
    assert ops["barrier"] == [("gpu.barrier()", "pass")]
    assert ops["select_swap"] == [("c.select(a, m)", "c.select(m, a)")]
    assert ("v + w", "v") in ops["scan"]
    assert ops["mask_invert"] == [("mask == 0", "mask != 0")]
    assert ("(a + u - 1) // u", "(a) // u") in ops["round_down"]
    assert ("-(-a // u)", "(a) // u") in ops["round_down"]
    assert ops["sentinel_t"] == [("m", "(n_in // topk)")]
    assert ("grid", "(grid + 1)") in ops["grid"] and ("grid", "(grid - 1)") in ops["grid"]


def test_docstrings_asserts_and_module_constants_are_not_mutated():
    everything = [m for m in mutants(SOURCE, "k.py")]
    assert not any(m.line == 2 for m in everything)  # the module docstring
    assert not any("100" in m.before for m in everything)  # inside the assert
    assert not any(m.before == "7" for m in everything)  # module-level constant


def test_each_mutant_changes_exactly_one_place_and_parses():
    import ast

    for m in mutants(SOURCE, "k.py"):
        ast.parse(m.source)
        diff = [l for l in m.diff(SOURCE).splitlines() if l.startswith(("+", "-")) and not l.startswith(("+++", "---"))]
        assert len(diff) == 2, m.id


def test_ids_survive_edits_elsewhere_in_the_file():
    before = {m.id for m in mutants(SOURCE, "k.py")}
    shifted = SOURCE.replace("LIMIT = 7\n", "LIMIT = 7\nOTHER = 8\n\n\n")
    after = {m.id for m in mutants(shifted, "k.py")}
    assert before <= after


class _M:
    def __init__(self, i):
        self.id, self.path = f"m{i}", "k.py"
        self.operator, self.function, self.line = "cmp", "f", i


def test_summary_counts_equivalent_and_compile_failures_apart():
    results = [
        Judged(_M(0), {"status": "killed", "check": "golden-model"}, {"status": "survived"}, 1),
        Judged(_M(1), {"status": "survived"}, {"status": "survived"}, 1),
        Judged(_M(2), {"status": "survived"}, {"status": "survived"}, 1),
        Judged(_M(3), {"status": "compile_failed"}, {"status": "compile_failed"}, 1),
        Judged(_M(4), {"status": "survived", "budget_exhausted": True}, {"status": "killed"}, 1),
    ]
    s = summarize(results, {"m1": Equivalent("same output", {"code": "x"})})
    assert (s["mutants"], s["killed"], s["equivalent"], s["compile_failed"]) == (5, 1, 1, 1)
    assert s["survivors"] == ["m2", "m4"]
    assert s["kill_rate_percent"] == round(100 / 3, 1)      # m0 of m0, m2, m4
    assert s["killed_of_all_percent"] == 25.0               # m0 of m0, m1, m2, m4
    assert s["hardware_only"] == 0
    assert s["baseline"]["killed"] == 1 and s["baseline"]["survivors"] == ["m0", "m2"]


def test_hardware_only_equivalents_are_counted_apart_and_shown_in_the_report():
    from fuzz.mutation.runner import markdown

    results = [Judged(_M(i), {"status": "survived"}, None, 1) for i in range(3)]
    listed = {"m0": Equivalent("descriptor field the interpreter ignores", {"hardware_only": "NUM_FORMAT"}),
              "m1": Equivalent("same value either way", {"code": "select of equal arms"})}
    s = summarize(results, listed)
    assert (s["equivalent"], s["hardware_only"], s["survivors"]) == (2, 1, ["m2"])
    report = markdown(results, s, listed, {"k.py": ""}, {}, with_source=False)
    assert "| 3 | 0 | 2 (1) |" in report and "only hardware could tell: descriptor field" in report
    assert "Assumes: hardware_only: NUM_FORMAT" in report


def test_a_mutant_the_checks_could_not_run_counts_as_neither_killed_nor_survived():
    results = [
        Judged(_M(0), {"status": "killed", "check": "golden-model"}, {"status": "killed"}, 1),
        Judged(_M(1), {"status": "error", "check": None, "detail": "FileNotFoundError"}, {"status": "survived"}, 1),
        Judged(_M(2), {"status": "survived"}, {"status": "error", "check": None}, 1),
    ]
    s = summarize(results, {})
    assert (s["killed"], s["survivors"], s["unjudged"], s["kill_rate_percent"]) == (1, ["m2"], ["m1"], 50.0)
    assert s["baseline"]["unjudged"] == ["m2"] and s["baseline"]["survivors"] == ["m1"]


def test_a_check_that_cannot_start_is_an_error_not_a_kill(tmp_path):
    """An exit of check_mutant's own (here: a screen file that is not there) judged nothing."""
    from fuzz.mutation import runner

    where = runner.workspace(None, tmp_path)
    verdict = runner._check(where, "suite", 30, 0, "flydsl-own", exclude=tmp_path / "missing.json")
    assert verdict["status"] == "error" and "missing.json" in verdict["detail"]


def test_upstream_mutants_live_in_a_private_copy_of_the_checkout(tmp_path, monkeypatch):
    from fuzz.mutation import runner

    checkout = tmp_path / "flydsl"
    (checkout / "kernels" / "moe").mkdir(parents=True)
    original = "def launch(n):\n    return n < 4\n"
    (checkout / "kernels" / "moe" / "moe_sorting_kernel.py").write_text(original)
    monkeypatch.setenv("FLYDSL_ROOT", str(checkout))
    rel = "flydsl:kernels/moe/moe_sorting_kernel.py"
    assert runner.source_file(rel) == checkout / "kernels" / "moe" / "moe_sorting_kernel.py"
    (m,) = [m for m in runner.select([rel], {}, {"cmp"})]
    where = runner.workspace(m, tmp_path)
    assert (where / "flydsl" / "kernels" / "moe" / "moe_sorting_kernel.py").read_text() == m.source != original
    assert (checkout / "kernels" / "moe" / "moe_sorting_kernel.py").read_text() == original
    assert (where / "kernels" / "registry.py").is_file()          # the suite's own packages beside it


def test_screened_cases_are_skipped_and_collect_lists_every_failure(monkeypatch):
    from cases import Case
    from fuzz.judge import Failure
    from fuzz.mutation import check_mutant
    from fuzz.signature import Signature

    good, bad = Case(8, 2, 3, seed=1), Case(8, 2, 5, seed=2)
    monkeypatch.setattr(check_mutant, "_cases", lambda mode, backend: iter([("boundary", good, backend),
                                                                           ("boundary", bad, backend)]))
    monkeypatch.setattr(check_mutant, "_hypothesis_cases", lambda seed, n: [])

    class Judgement:
        def __init__(self, ok):
            self.ok, self.raised = ok, None

        def failures(self):
            return [Failure(Signature("torch-cpu", "gfx942", None, "sorted_ids", "value"), "planted")]

    monkeypatch.setattr(check_mutant, "_suite_judgement", lambda case, *a, **k: Judgement(case is good))
    first = check_mutant.check("suite", "torch-cpu", ["gfx942"], 0, 0)
    assert first["status"] == "killed" and first["case"] == bad.name
    screened = check_mutant.check("suite", "torch-cpu", ["gfx942"], 0, 0, collect=True)
    assert screened == {"status": "screened", "failing": [f"{bad.name}-s2@gfx942"],
                        "reached": [f"{good.name}-s1@gfx942", f"{bad.name}-s2@gfx942"], "runs": 2}
    again = check_mutant.check("suite", "torch-cpu", ["gfx942"], 0, 0, exclude=frozenset(screened["failing"]))
    assert again["status"] == "survived" and again["runs"] == 1
    # a case the (budget-bound) screen did not reach is not run: its outcome on the original is unknown
    unreached = check_mutant.check("suite", "torch-cpu", ["gfx942"], 0, 0, reached=frozenset({f"{good.name}-s1@gfx942"}))
    assert unreached["status"] == "survived" and unreached["runs"] == 1


def test_host_code_errors_of_a_flydsl_checkout_are_not_compile_errors(tmp_path):
    from fuzz.mutation.check_mutant import is_compile_error

    host = tmp_path / "flydsl" / "kernels" / "moe" / "moe_sorting_kernel.py"   # a checkout, not the package
    host.parent.mkdir(parents=True)
    host.write_text("def launch(buf):\n    raise RuntimeError('must be divisible by 4')\n")
    namespace = {}
    exec(compile(host.read_text(), str(host), "exec"), namespace)
    with pytest.raises(RuntimeError) as info:
        namespace["launch"](None)
    assert not is_compile_error(info.value)


@pytest.mark.compile
def test_compile_limits_stage_builds_the_mutated_paths_kernels():
    from fuzz.mutation.check_mutant import LIMIT_SHAPES, compile_limits
    from kernels.compilecheck.toolchain import missing_reason

    if missing_reason():
        pytest.skip(f"ROCm toolchain missing: {missing_reason()}")
    result = compile_limits(["gfx942"], ("small",))
    # one small-path kernel per shape, with and without the mask
    assert result == {"note": f"{2 * len(LIMIT_SHAPES)} kernels within limits"}


def test_every_listed_equivalent_names_a_mutant_of_the_own_kernels_with_a_reason():
    from fuzz.mutation import equivalents, runner
    from fuzz.mutation.config import OWN_SOURCES

    ids = {m.id for m in runner.select(list(OWN_SOURCES), OWN_SOURCES)}
    listed = equivalents.load(equivalents.OWN_FILE)     # raises on an entry without reason or assumptions
    assert listed, "fuzz/mutation/equivalent.json is empty"
    stale = sorted(set(listed) - ids)
    assert not stale, f"equivalent.json names mutants the tool no longer generates: {stale}"


def test_every_listed_upstream_equivalent_names_a_mutant_of_flydsls_kernels_with_a_reason():
    import os

    from fuzz.mutation import runner
    from fuzz.mutation.config import OWN_SOURCES, UPSTREAM_SOURCES

    if not os.environ.get("FLYDSL_ROOT"):
        pytest.skip("needs a FlyDSL checkout: FLYDSL_ROOT is not set")
    from fuzz.mutation import equivalents

    ids = {m.id for m in runner.select(list(UPSTREAM_SOURCES), OWN_SOURCES)}
    listed = equivalents.load(equivalents.UPSTREAM_FILE)
    stale = sorted(set(listed) - ids)
    assert not stale, f"equivalent-upstream.json names mutants the tool no longer generates: {stale}"


@pytest.mark.parametrize("entry, fault", [
    ("same output", "an entry is"),
    ({"reason": "too short", "assumes": {"code": "x"}}, "reason="),
    ({"reason": "the two arms of the select are equal here", "assumes": {}}, "assumes={}"),
    ({"reason": "the two arms of the select are equal here", "assumes": {"gut": "x"}}, "assumes has ['gut']"),
    ({"reason": "the two arms of the select are equal here", "assumes": {"code": " "}}, "assumes ['code']"),
])
def test_an_equivalent_entry_without_a_checkable_reason_and_assumptions_is_refused(entry, fault):
    from fuzz.mutation.equivalents import parse

    with pytest.raises(ValueError, match=re.escape(fault)):
        parse("cmp-x-123456", entry, "equivalent.json")


@pytest.mark.nightly
def test_committed_nightly_summary_is_of_the_current_kernels():
    """``reports/mutation.json`` must be refreshed when a kernel file changes: the nightly
    job reports it (a kernel edit need not wait for the mutation run to pass the default tests)."""
    import json

    from fuzz.commands.mutate import REPORTS
    from fuzz.mutation import runner
    from fuzz.mutation.config import OWN_SOURCES

    summary = json.loads((REPORTS / "mutation.json").read_text())
    assert {"mutants", "killed", "equivalent", "compile_failed", "survivors"} <= set(summary)
    assert (REPORTS / "mutation.md").is_file()
    recorded = summary["config"]["sources"]
    current = {src: runner.source_digest(runner.source_file(src).read_text()) for src in OWN_SOURCES}
    stale = sorted(src for src in current if recorded.get(src) != current[src])
    assert not stale, f"reports/mutation.json predates changes to {stale}: rerun the command in README 'Mutation testing'"


def test_committed_figures_live_in_reports_with_the_three_rates_side_by_side():
    import json

    from fuzz.commands.mutate import REPORTS
    from fuzz.mutation import runner

    assert not list(runner.ROOT.glob("mutation*.json")) and not list(runner.ROOT.glob("mutation*.md"))
    for stem in ("mutation", "mutation-upstream"):
        figures = json.loads((REPORTS / f"{stem}.json").read_text())
        live = figures["mutants"] - figures["compile_failed"] - len(figures["unjudged"])
        assert figures["killed_of_all_percent"] == round(100 * figures["killed"] / live, 1)
        assert figures["kill_rate_percent"] == round(100 * figures["killed"] / (live - figures["equivalent"]), 1)
        assert 0 <= figures["hardware_only"] <= figures["equivalent"]
        assert "killed of all | killed of non-equivalent" in (REPORTS / f"{stem}.md").read_text()


def test_errors_raised_inside_the_flydsl_package_are_compile_errors():
    import os

    import flydsl

    from fuzz.mutation.check_mutant import is_compile_error

    inside = os.path.join(os.path.dirname(flydsl.__file__), "tracing_stand_in.py")   # never written
    namespace = {}
    exec(compile("def trace():\n    raise TypeError('bad operand')\n", inside, "exec"), namespace)
    with pytest.raises(TypeError) as info:
        namespace["trace"]()
    assert is_compile_error(info.value)


def test_every_path_meets_a_case_in_the_first_round_fixtures_included(monkeypatch):
    """Fixtures are interleaved with the other cases by (path, target, input mode): an
    expensive fixture on one path does not hold back the first case of another."""
    from cases import Case
    from fuzz.mutation import check_mutant
    from kernels.registry import Backend, register

    register(Backend(name="two-paths-for-test", description="paths split at M = 100", needs=(),
                     probe=lambda: None, launch=lambda *a: None, test_only=True,
                     path_boundaries=lambda E, k, u, target: (100,)))
    fixtures = [Case(8, 2, T, seed=T) for T in (90, 60, 30)]
    large = Case(8, 2, 3000, seed=1)
    monkeypatch.setattr(check_mutant, "_cases", lambda mode, backend: iter(
        [("fixture", c, backend) for c in fixtures] + [("boundary", large, backend)]))
    monkeypatch.setattr(check_mutant, "_hypothesis_cases", lambda seed, n: [])
    ran = []

    class Passed:
        ok, raised = True, None

    monkeypatch.setattr(check_mutant, "_suite_judgement", lambda case, *a, **k: ran.append(case.tokens) or Passed())
    assert check_mutant.check("suite", "two-paths-for-test", ["gfx942"], 0, 0)["status"] == "survived"
    assert ran == [30, 3000, 60, 90]       # the cheapest case of each path first


def test_boundary_cases_keep_their_seeds_when_a_backend_moves_its_boundaries():
    """A mutant that moves a path boundary still meets, at every T it shares with the
    unmutated kernel's list, the very case the screen ran (same name and seed)."""
    from fuzz.mutation.suite_cases import boundary_cases
    from kernels.registry import Backend

    def listed(bound):
        backend = Backend(name=f"bound-{bound}", description="", needs=(), probe=lambda: None,
                          launch=lambda *a: None, targets=("gfx942",),
                          path_boundaries=lambda E, k, u, target: (bound,) if E == 257 else ())
        return {(c.name, c.seed) for c in boundary_cases(backend=backend)}

    before, after = listed(17), listed(16)
    moved = {name for name, _ in before ^ after}
    assert moved and all("E257-k9-T15-" in n or "E257-k9-T18-" in n for n in moved), sorted(moved)


def test_recheck_fails_naming_every_listed_equivalent_that_is_killed_gone_or_unjudged(tmp_path, capsys):
    import json

    from fuzz.commands.mutate import _report_recheck

    listed = {f"m{i}": Equivalent("the select's two arms are equal here", {"code": "x"}) for i in range(4)}
    listed["m3"] = Equivalent("a descriptor field the interpreter does not decode", {"hardware_only": "NUM_FORMAT"})
    still = [Judged(_M(0), {"status": "survived"}, None, 1), Judged(_M(3), {"status": "survived"}, None, 1)]
    assert _report_recheck(still, [], listed, tmp_path, None) == 0
    written = json.loads((tmp_path / "equivalents-recheck.json").read_text())
    assert (written["still_survive"], written["killed_now"]) == (2, [])
    assert [r["hardware_only"] for r in written["mutants"]] == [False, True]

    results = still + [Judged(_M(1), {"status": "killed", "check": "golden-model", "case": "E8-k2-T5"}, None, 1),
                       Judged(_M(2), {"status": "compile_failed", "check": "compile"}, None, 1)]
    assert _report_recheck(results, ["cmp-gone-000000"], listed, tmp_path, None) == 1
    err = capsys.readouterr().err
    assert "killed now: m1 (check golden-model, case E8-k2-T5)" in err
    assert "no longer generated: cmp-gone-000000" in err and "not judged" in err and ": m2" in err
    written = json.loads((tmp_path / "equivalents-recheck.json").read_text())
    assert (written["listed"], written["killed_now"], written["not_judged"]) == (5, ["m1"], ["m2"])


def test_the_suite_cases_hand_an_id_equal_to_e_to_a_drop_backend_on_every_path():
    """A kernel that counts an id of E (``e <= E``) must meet one with the outputs judged
    (``drop``), not memory safety alone (``unchecked``), on every path of the shape."""
    import oracle
    from fuzz.judge import choose_policy
    from fuzz.mutation.suite_cases import hostile_cases
    from kernels.moesort import choose_path
    from kernels.registry import get

    own = get("flydsl-own")
    reached = set()
    for case in hostile_cases():
        ids, _, _, _ = case.materialize()
        m = case.tokens if case.num_local_tokens is None else case.num_local_tokens
        if (ids[:m] == case.num_experts).any():
            policy = choose_policy(oracle.invalid_ids.census(ids, m, case.num_experts), own)
            if policy == "drop":
                reached |= {choose_path(case.tokens, case.num_experts, case.topk, case.unit_size, t)
                            for t in own.targets}
    assert reached == {"small", "medium", "large"}


def test_a_listed_equivalent_that_ran_no_case_is_not_judged(tmp_path, capsys):
    """A survivor whose check ran out of time before its first case proves nothing."""
    import json

    from fuzz.commands.mutate import _report_recheck

    listed = {f"m{i}": Equivalent("the select's two arms are equal here", {"code": "x"}) for i in range(2)}
    results = [Judged(_M(0), {"status": "survived", "runs": 3}, None, 1),
               Judged(_M(1), {"status": "survived", "runs": 0, "budget_exhausted": True}, None, 1)]
    assert _report_recheck(results, [], listed, tmp_path, None) != 0
    written = json.loads((tmp_path / "equivalents-recheck.json").read_text())
    assert (written["still_survive"], written["not_judged"], written["budget_exhausted"]) == (1, ["m1"], [])
    assert [r["cases_run"] for r in written["mutants"]] == [3, 0]


def test_the_budget_counts_from_the_first_case_not_from_building_the_plan(monkeypatch):
    import time

    from cases import Case
    from fuzz.mutation import check_mutant

    def slow_cases(mode, backend):
        time.sleep(0.5)                        # case generation slower than the whole budget
        return iter([("boundary", Case(8, 2, 3, seed=1), backend)])

    class Passing:
        ok, raised = True, None

    monkeypatch.setattr(check_mutant, "_cases", slow_cases)
    monkeypatch.setattr(check_mutant, "_hypothesis_cases", lambda seed, n: [])
    monkeypatch.setattr(check_mutant, "_suite_judgement", lambda case, *a, **k: Passing())
    result = check_mutant.check("suite", "torch-cpu", ["gfx942"], 0, 0, budget=0.2, collect=True)
    assert result["runs"] == 1 and len(result["reached"]) == 1


def test_a_screen_that_reached_no_case_is_an_error(monkeypatch, tmp_path):
    from fuzz.mutation import runner

    monkeypatch.setattr(runner, "_check", lambda *a, **k: {"status": "screened", "failing": [], "reached": []})
    with pytest.raises(RuntimeError, match="no case ran within the screen's 20 s"):
        runner.screen(0, "torch-cpu", 10.0, tmp_path / "screened.json", modes=("suite",))
