"""Per-op tests of the ``memref`` dialect over LDS, in hand-written MLIR (as the dialect defines
the ops): ``memref.global`` placed in the workgroup's LDS, ``memref.get_global``, ``memref.view``
at a byte shift, ``memref.cast``, and ``memref.load`` / ``memref.store`` at row-major indices,
checked against NumPy; an index past a view's shape is reported even inside the LDS."""
import numpy as np
import pytest

import kernels.emu as emu
from tests.emu.mlir_harness import run_module

pytestmark = pytest.mark.interpreter

WS = "#gpu.address_space<workgroup>"

MODULE = """
module attributes {{gpu.container_module}} {{
  gpu.module @kernels {{
    memref.global @lds : memref<1024xi8, {ws}> {{alignment = 16 : i64}}
    gpu.func @k(%p: !llvm.ptr<1>) kernel {{
      %t = gpu.thread_id x
      %ti = arith.index_cast %t : index to i32
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c16 = arith.constant 16 : index
      %c64 = arith.constant 64 : index
      %c3 = arith.constant 3 : i32
      %shift = arith.constant {shift} : index
      %ashift = arith.constant {ashift} : index
      %aextra = arith.constant {aextra} : index
      %g = memref.get_global @lds : memref<1024xi8, {ws}>
      %a = memref.view %g[%ashift][] : memref<1024xi8, {ws}> to memref<64xi32, {ws}>
      %b = memref.view %g[%shift][] : memref<1024xi8, {ws}> to memref<4x16xi32, {ws}>
      %c = memref.cast %b : memref<4x16xi32, {ws}> to memref<4x16xi32, strided<[16, 1]>, {ws}>
      memref.store %ti, %a[%t] : memref<64xi32, {ws}>
      %row = arith.divui %t, %c16 : index
      %col = arith.remui %t, %c16 : index
      %x = arith.muli %ti, %c3 : i32
      memref.store %x, %c[%row, %col] : memref<4x16xi32, strided<[16, 1]>, {ws}>
      gpu.barrier
      %t1 = arith.addi %t, %c1 : index
      %o = arith.remui %t1, %c64 : index
      %orow = arith.divui %o, %c16 : index
      %ocol = arith.remui %o, %c16 : index
      %ocol2 = arith.addi %ocol, %c{extra} : index
      %oa = arith.addi %o, %aextra : index
      %v1 = memref.load %a[%oa] : memref<64xi32, {ws}>
      %v2 = memref.load %b[%orow, %ocol2] : memref<4x16xi32, {ws}>
      %r = arith.addi %v1, %v2 : i32
      %ti64 = arith.index_cast %t : index to i64
      %go = llvm.getelementptr %p[%ti64] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i32
      llvm.store %r, %go : i32, !llvm.ptr<1>
      gpu.return
    }}
  }}
  func.func @host(%h: !llvm.ptr<1>) {{
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c64, %c1, %c1) args(%h : !llvm.ptr<1>)
    return
  }}
}}
"""


def _run(shift=256, extra=0, target="gfx950", ashift=0, aextra=0):
    out = np.zeros(64, np.int32)
    text = MODULE.format(ws=WS, shift=shift, extra=extra, ashift=ashift, aextra=aextra)
    run_module(text, (np.int64(out.ctypes.data),), [out], target=target)
    return out


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("shift", [256, 260, 512])
def test_views_of_one_global_load_and_store_row_major(target, shift):
    o = (np.arange(64) + 1) % 64
    np.testing.assert_array_equal(_run(shift, target=target), o + 3 * o)


def test_index_past_a_dimension_is_reported_inside_the_lds():
    # column 16 of a 4x16 view: the byte lies inside the view's next row and inside the global,
    # but the index is past the view's shape
    with pytest.raises(emu.OutOfBoundsError, match=r"index \[\d+, 16\] is outside view .*4x16xi32.*shape 4x16"):
        _run(extra=1)


def test_view_past_its_global_is_bounded_by_the_global():
    # a 4x16 i32 view at byte 1000 of a 1024-byte global: its rows past the global are outside
    # the global's allocation even where the workgroup's LDS would hold them
    with pytest.raises(emu.OutOfBoundsError, match="outside its shared allocation"):
        _run(shift=1000)


def test_index_past_a_one_dimensional_view_is_reported_inside_the_lds():
    # index 64 of a 64-element view at byte 0: the byte lies inside the global (and the LDS)
    with pytest.raises(emu.OutOfBoundsError, match=r"index \[64\] is outside view .*64xi32.*shape 64\)"):
        _run(aextra=1)


def test_one_dimensional_view_past_its_global_is_bounded_by_the_global():
    # a 64-element i32 view at byte 800 of a 1024-byte global: elements 56.. lie past the global
    with pytest.raises(emu.OutOfBoundsError, match="outside its shared allocation"):
        _run(ashift=800)
