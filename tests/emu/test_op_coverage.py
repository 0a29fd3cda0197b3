"""Every op in the interpreter's op table has a per-op semantic test.

The per-op test modules run in a subprocess with the MLIR harness recording
the ops of every module it runs (``$EMU_HARNESS_RECORD_OPS``, see
``mlir_harness.py``); each op of :data:`kernels.emu.codegen.OPS` must be among
them.  A handler added without a test, or a test removed, fails here.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernels.emu.__main__ import ops_table
from kernels.emu.codegen import OPS
from tests.emu.mlir_harness import RECORD_ENV

pytestmark = pytest.mark.interpreter
ROOT = Path(__file__).resolve().parents[2]
#: The modules whose hand-written MLIR tests one op at a time against a reference.
PER_OP_TESTS = ("tests/emu/test_ops.py", "tests/emu/test_amd_ops.py", "tests/emu/test_bitcast_shapes.py",
                "tests/emu/test_op_reference.py", "tests/emu/test_wide_access.py", "tests/emu/test_memref_ops.py",
                "tests/emu/test_atomic_ops.py")


def test_every_op_in_the_table_has_a_semantic_test(tmp_path):
    record = tmp_path / "ops.txt"
    env = dict(os.environ, **{RECORD_ENV: str(record)})
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", *PER_OP_TESTS],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:]
    exercised = set(record.read_text().split())
    untested = sorted(set(OPS) - exercised)
    assert not untested, f"ops in the interpreter's table that no per-op test runs: {untested}"


def test_ops_command_lists_the_table():
    rows = [line for line in ops_table().splitlines()[2:] if line.startswith("| ")]
    assert sorted(row.split("`")[1] for row in rows) == sorted(OPS)
