"""Mutation runs of another project's kernel: stratified samples, reached lines, figures without source."""
import json
import random
import subprocess
import sys
import textwrap

from fuzz.mutation import runner
from fuzz.mutation.operators import mutants

SOURCE = textwrap.dedent('''
    def kernel_a(a, b):
        if a < b:
            a = a + 1
        return c.select(a, b)


    def kernel_b(a, b):
        gpu.barrier()
        return (a + 31) // 32 if a >= 2 else b


    def host(n):
        return n * 4
''')


def _found():
    return list(mutants(SOURCE, "k.py", {}))


def test_stratified_sample_spreads_over_operator_and_function_groups():
    found = _found()
    groups = {(m.operator, m.function) for m in found}
    pick = runner.stratified(found, len(groups), random.Random(0))
    assert {(m.operator, m.function) for m in pick} == groups        # one from every group first
    again = runner.stratified(found, len(groups), random.Random(0))
    assert [m.id for m in pick] == [m.id for m in again]               # deterministic for a seed
    assert len(runner.stratified(found, len(found) + 5, random.Random(1))) == len(found)


def test_select_keeps_only_mutants_on_lines_the_checks_ran(tmp_path, monkeypatch):
    (tmp_path / "k.py").write_text(SOURCE)
    monkeypatch.setattr(runner, "ROOT", tmp_path)
    every = runner.select(["k.py"], {})
    lines_b = {m.line for m in every if m.function == "kernel_b"}
    kept = runner.select(["k.py"], {}, lines={"k.py": sorted(lines_b)})
    assert kept and {m.function for m in kept} == {"kernel_b"}
    assert len(kept) == len([m for m in every if m.line in lines_b])


def test_line_trace_records_the_lines_a_file_runs(tmp_path):
    mod = tmp_path / "traced_mod.py"
    mod.write_text("def f(x):\n    if x:\n        return 1\n    return 2\n")
    code = textwrap.dedent(f'''
        import json, sys
        sys.path.insert(0, {str(tmp_path)!r})
        from fuzz.mutation.check_mutant import _trace_lines
        seen, = _trace_lines([{str(mod)!r}])
        import traced_mod
        traced_mod.f(0)
        sys.settrace(None)
        print(json.dumps(sorted(seen)))
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=runner.ROOT, check=True)
    seen = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {2, 4} <= seen and 3 not in seen            # the branch not taken is not recorded


def test_figures_and_source_free_report_hold_no_source_text():
    found = _found()
    results = [runner.Judged(m, {"status": "killed" if i % 2 else "survived", "check": "sanitizer"},
                             {"status": "survived"}, 1.0) for i, m in enumerate(found)]
    summary = runner.summarize(results, {})
    figures = json.dumps(runner.figures(results, summary))
    report = runner.markdown(results, summary, {}, {"k.py": SOURCE}, {"seed": 0}, "a kernel", with_source=False)
    for text in (figures, report):
        assert "c.select" not in text and "gpu.barrier" not in text and "```diff" not in text
    assert all(m.id in report for m in found)
    full = runner.markdown(results, summary, {}, {"k.py": SOURCE}, {"seed": 0}, "a kernel")
    assert "```diff" in full                                  # the own kernels' report keeps its diffs
