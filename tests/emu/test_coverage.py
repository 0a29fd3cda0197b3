"""The coverage report (``python -m kernels.emu coverage``): rows for files that import or not,
launchers built from module-level ``@flyc.jit`` functions, and the op kinds the interpreter lacks."""
import os
import textwrap

import pytest

from kernels.emu import coverage
from kernels.emu.codegen import OPS

pytestmark = pytest.mark.interpreter


def test_file_that_does_not_import_is_a_row_with_its_reason(tmp_path):
    f = tmp_path / "broken_kernel.py"
    f.write_text("import a_module_that_is_not_there\n")
    (row,) = coverage.coverage([f])
    assert not row.imported and "a_module_that_is_not_there" in row.error and not row.runs


def test_module_level_launcher_is_traced_and_its_ops_known(tmp_path):
    f = tmp_path / "own_kernel.py"
    f.write_text(textwrap.dedent("""
        import flydsl.compiler as flyc
        import flydsl.expr as fx
        from tests.emu.sample_kernels import _vadd_kernel

        @flyc.jit
        def launch_add(A: fx.Tensor, B: fx.Tensor, C: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
            _vadd_kernel(A, B, C, n).launch(grid=(1, 1, 1), block=(256, 1, 1), stream=stream)
    """))
    (row,) = coverage.coverage([f])
    assert (row.imported, row.built, row.captured, row.missing, row.runs) == (True, 1, 1, {}, True)


def test_op_the_table_lacks_is_listed(tmp_path, monkeypatch):
    f = tmp_path / "own_kernel2.py"
    f.write_text(textwrap.dedent("""
        import flydsl.compiler as flyc
        import flydsl.expr as fx
        from tests.emu.sample_kernels import _vadd_kernel

        @flyc.jit
        def launch_add(A: fx.Tensor, B: fx.Tensor, C: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
            _vadd_kernel(A, B, C, n).launch(grid=(1, 1, 1), block=(256, 1, 1), stream=stream)
    """))
    monkeypatch.setattr(coverage, "OPS", {k: v for k, v in OPS.items() if k != "arith.addf"})
    (row,) = coverage.coverage([f])
    assert list(row.missing) == ["arith.addf"] and not row.runs
    assert "`arith.addf`" in coverage.table([row])


@pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"), reason="FLYDSL_ROOT is not set (needs a FlyDSL checkout)")
def test_flydsl_moe_sorting_file_captures_with_no_op_lacking():
    path = os.path.join(os.environ["FLYDSL_ROOT"], "kernels", "moe", "moe_sorting_kernel.py")
    (row,) = coverage.coverage([path])
    assert row.built >= 1 and row.runs, row


# ----------------------------------------------------------------- through the entry points
ENTRY_FILE = os.path.join(os.path.dirname(__file__), "entry_kernels.py")


@pytest.fixture
def napping_op_lacking(monkeypatch):
    """The op table without the napping kernel's op, whether or not the interpreter learns it."""
    from kernels.emu import codegen
    from tests.emu.entry_kernels import NAPPING_OP

    monkeypatch.delitem(codegen.OPS, NAPPING_OP, raising=False)
    return NAPPING_OP


def _targets_and_tokens(launcher):
    return {(p["target"], p["T"]) for p in launcher.points}


def test_module_level_pass_alone_misses_the_launcher_only_the_entry_reaches(napping_op_lacking):
    (row,) = coverage.coverage([ENTRY_FILE], entries=False)
    assert row.runs and not row.missing and not row.entries


def test_entry_point_reaches_the_lacking_op_only_past_the_boundary_on_gfx942(napping_op_lacking):
    from tests.emu.entry_kernels import SMALL_MAX_T

    (row,) = coverage.coverage([ENTRY_FILE])
    (entry,) = row.entries
    napping, plain = entry.launchers["launch_napping_add"], entry.launchers["launch_plain_add"]
    assert napping.missing == {napping_op_lacking} and not napping.failures
    assert plain.missing == set() and not plain.failures
    reached = _targets_and_tokens(napping)
    assert reached and all(target == "gfx942" and t > SMALL_MAX_T for target, t in reached)
    assert ("gfx942", SMALL_MAX_T + 1) in reached
    assert {("gfx942", SMALL_MAX_T), ("gfx950", SMALL_MAX_T + 1)} <= _targets_and_tokens(plain)
    assert not row.runs
    text = coverage.table([row])
    napping_line = next(line for line in text.splitlines() if "`launch_napping_add`" in line)
    plain_line = next(line for line in text.splitlines() if "`launch_plain_add`" in line)
    assert f"`{napping_op_lacking}`" in napping_line and f"target=gfx942: T={SMALL_MAX_T + 1}," in napping_line
    assert "gfx950" not in napping_line
    assert napping_op_lacking not in plain_line and "gfx950" in plain_line


def test_what_the_entry_points_did_not_explore_is_stated(tmp_path):
    f = tmp_path / "own_entries.py"
    f.write_text(textwrap.dedent("""
        from kernels.emu.entrypoints import EntryPoint
        from tests.emu.entry_kernels import call_own_add, own_add  # noqa: F401

        def picky_add(a, b, out):
            if a.shape[0] > 4:
                raise ValueError("picky_add takes at most 4 elements")
            own_add(a, b, out)

        def call_picky(module, point):
            call_own_add(type("M", (), {"own_add": staticmethod(module.picky_add)}), point)

        def helper_nobody_declared():
            pass

        EMU_ENTRY_POINTS = (
            EntryPoint("picky_add", call=call_picky, not_varied=("out: a fresh tensor (never aliased)",)),
            EntryPoint("absent_entry", call=call_picky),
        )
    """))
    (row,) = coverage.coverage([f])
    picky, absent = row.entries
    assert absent.error and not absent.launchers
    assert {p["T"] for pts in picky.entry_errors.values() for p in pts} == {t for t in (8, 16, 32, 64)}
    text = coverage.table([row])
    assert "`absent_entry` could not be called: the module has no function absent_entry" in text
    assert "`picky_add` raised `ValueError: picky_add takes at most 4 elements`" in text
    assert "`picky_add` held fixed: out: a fresh tensor (never aliased)" in text
    assert "`helper_nobody_declared`" in text and "T values other than those listed" in text
    assert not row.runs

    (rushed,) = coverage.coverage([ENTRY_FILE], budget_s=1e-9)
    (entry,) = rushed.entries
    assert entry.skipped and entry.points == 0 and not rushed.runs
    assert f"`own_add`: {len(entry.skipped)} points skipped for time" in coverage.table([rushed])


def test_token_boundaries_are_read_from_the_host_code(tmp_path):
    from kernels.emu import entrypoints

    f = tmp_path / "host_code.py"
    f.write_text(textwrap.dedent("""
        LIMIT = 100

        def helper(M):
            return M < LIMIT

        def entry(x, sub):
            M = x.shape[0]
            CAP = 16
            if M <= min(sub, CAP) or 2 * 1024 >= M:
                return helper(M)
            return M == sub * 3
    """))
    module = coverage._import(f)
    bounds = {(b.below, b.above) for b in entrypoints.token_boundaries(module, module.entry, ("M",))}
    assert bounds == {(16, 17), (2048, 2049), (99, 100)}


def test_sizer_change_is_found_between_powers_of_two():
    from kernels.emu import entrypoints

    sizer = entrypoints.Sizer("ws", lambda module, p: 0 if p["T"] <= 37 + p["k"] else 4 * p["T"])
    (b,) = entrypoints.sizer_boundaries(sizer, None, {"k": 5}, 4096)
    assert (b.below, b.above) == (42, 43)
    assert {0, 1, 42, 43, 4096} <= set(entrypoints.token_values([b], 4096))


@pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"), reason="FLYDSL_ROOT is not set (needs a FlyDSL checkout)")
def test_flydsl_sort_entry_dispatch_differs_by_target_where_lds_differs():
    """E=513, topk=9: by the LDS sizing of FlyDSL's host code (64 KiB on gfx942, 160 KiB on gfx950:
    16384 // 2 // 514 = 15 rows -> 8 tokens; 40960 // 2 // 514 = 39 -> 32, capped at 16) the single
    kernel takes T <= 8 on gfx942 and T <= 16 on gfx950; T > 2048 takes the four-kernel path."""
    import dataclasses
    import importlib

    from kernels.emu import entrypoints, flydsl_entries

    module = importlib.import_module("kernels.moe.moe_sorting_kernel")
    sort = next(e for e in entrypoints.declared(module, flydsl_entries.TABLE) if e.name == "moe_sorting_flydsl")
    sort = dataclasses.replace(sort, space={"E,topk,unit": ((513, 9, 32),), "mask": (False,)})
    report = entrypoints.explore(module, sort)
    reached = {name: _targets_and_tokens(lr) for name, lr in report.launchers.items()}
    assert set(reached) == {"launch_moe_sorting_oneshot", "launch_p0v2_p23", "launch_4k_fused"}
    assert {("gfx942", 8), ("gfx950", 16)} <= reached["launch_moe_sorting_oneshot"]
    assert {("gfx942", 9), ("gfx942", 16), ("gfx950", 17), ("gfx950", 2048)} <= reached["launch_p0v2_p23"]
    assert {("gfx942", 2049), ("gfx950", 2049)} <= reached["launch_4k_fused"]
    assert all(t <= 8 for target, t in reached["launch_moe_sorting_oneshot"] if target == "gfx942")
    assert not report.entry_errors and not report.skipped
    assert all(not lr.missing and not lr.failures for lr in report.launchers.values())


def test_launcher_whose_trace_fails_is_listed_with_its_error_and_the_entry_goes_on(tmp_path):
    f = tmp_path / "own_failing.py"
    f.write_text(textwrap.dedent("""
        import flydsl.compiler as flyc
        import flydsl.expr as fx
        from kernels.emu.entrypoints import EntryPoint
        from tests.emu.entry_kernels import call_own_add, launch_plain_add

        @flyc.jit
        def launch_untraceable(A: fx.Tensor, n: fx.Int32, stream: fx.Stream = fx.Stream(None)):
            raise RuntimeError("this launcher does not trace")

        def two_step_add(a, b, out):
            launch_untraceable(a, a.shape[0])
            launch_plain_add(a, b, out, a.shape[0])

        def call_two_step(module, point):
            call_own_add(type("M", (), {"own_add": staticmethod(module.two_step_add)}), point)

        EMU_ENTRY_POINTS = (EntryPoint("two_step_add", call=call_two_step, t_max=4),)
    """))
    (row,) = coverage.coverage([f])
    (entry,) = row.entries
    failing = entry.launchers["launch_untraceable"]
    assert list(failing.failures) == ["RuntimeError: this launcher does not trace"]
    assert {p["T"] for p in entry.launchers["launch_plain_add"].points} == {0, 1, 2, 4}
    assert not entry.launchers["launch_plain_add"].failures and not entry.entry_errors
    line = next(ln for ln in coverage.table([row]).splitlines() if "`launch_untraceable`" in ln)
    assert "RuntimeError: this launcher does not trace at target=gfx942,gfx950: T=0,1,2,4" in line
    assert not row.runs


def test_bad_entry_declarations_are_refused_naming_the_field():
    from kernels.emu.entrypoints import EntryPoint

    def call(module, point):
        pass

    with pytest.raises(ValueError, match=r"space\['E,topk'\] of f: each value must be a tuple of 2, got 8"):
        EntryPoint("f", call=call, space={"E,topk": (8, (32, 5))})
    with pytest.raises(ValueError, match="axis 'T' is reserved"):
        EntryPoint("f", call=call, space={"T": (1, 2)})
    with pytest.raises(TypeError, match="EntryPoint.call of f: expected a callable, got 3"):
        EntryPoint("f", call=3)
    with pytest.raises(ValueError, match="EntryPoint.t_max of f: expected a positive int, got 0"):
        EntryPoint("f", call=call, t_max=0)


def test_declaration_that_is_not_entry_points_is_a_row_note(tmp_path):
    f = tmp_path / "own_bad_declaration.py"
    f.write_text("EMU_ENTRY_POINTS = ('own_add',)\n")
    (row,) = coverage.coverage([f])
    assert "EMU_ENTRY_POINTS[0]: expected an EntryPoint, got 'own_add'" in row.failures and not row.entries


def test_entry_that_raises_at_every_point_is_not_explored(tmp_path):
    f = tmp_path / "own_refusing.py"
    f.write_text(textwrap.dedent("""
        from kernels.emu.entrypoints import EntryPoint

        def refusing_add(a, b, out):
            raise NotImplementedError("no shape is supported")

        def call_refusing(module, point):
            module.refusing_add(None, None, None)

        EMU_ENTRY_POINTS = (EntryPoint("refusing_add", call=call_refusing, t_max=2),)
    """))
    (row,) = coverage.coverage([f])
    (entry,) = row.entries
    assert not entry.launchers and list(entry.entry_errors) == ["NotImplementedError: no shape is supported"]
    assert not row.entries_clean
    assert "| `refusing_add` | none reached | - | - | the entry raised at every point (below) |" in coverage.table([row])


def test_command_line_prints_the_entry_table_and_refuses_a_negative_budget(capsys, napping_op_lacking):
    from kernels.emu.__main__ import main

    assert main(["coverage", ENTRY_FILE]) == 0
    out = capsys.readouterr().out
    assert "### Entry points of" in out and f"`{napping_op_lacking}`" in out and "`launch_napping_add`" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["coverage", ENTRY_FILE, "--budget", "-1"])
    assert exit_info.value.code == 2 and "--budget: must be >= 0 seconds, got -1.0" in capsys.readouterr().err
