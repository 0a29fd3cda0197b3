"""Mutation operators: each models its bug as one small edit, with stable ids."""
import textwrap

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


def test_summary_counts_equivalent_and_compile_failures_apart():
    results = [
        Judged(_M(0), {"status": "killed", "check": "golden-model"}, {"status": "survived"}, 1),
        Judged(_M(1), {"status": "survived"}, {"status": "survived"}, 1),
        Judged(_M(2), {"status": "survived"}, {"status": "survived"}, 1),
        Judged(_M(3), {"status": "compile_failed"}, {"status": "compile_failed"}, 1),
        Judged(_M(4), {"status": "survived", "budget_exhausted": True}, {"status": "killed"}, 1),
    ]
    s = summarize(results, {"m1": "same output"})
    assert (s["mutants"], s["killed"], s["equivalent"], s["compile_failed"]) == (5, 1, 1, 1)
    assert s["survivors"] == ["m2", "m4"]
    assert s["kill_rate_percent"] == round(100 / 3, 1)
    assert s["baseline"]["killed"] == 1 and s["baseline"]["survivors"] == ["m0", "m2"]
