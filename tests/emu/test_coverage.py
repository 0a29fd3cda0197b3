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
