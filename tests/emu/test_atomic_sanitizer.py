"""The sanitizer and atomics, on hand-written MLIR: atomics to one address never race with each
other; an atomic and a plain access to one word race when nothing orders them (another wave in the
same LDS barrier epoch; another workgroup, or another wave of the workgroup between two barriers, in
global memory); an atomic reading LDS never written, or an output-only tensor not yet written, is an
uninitialized read.  Findings name the atomic (or the plain access) with its location."""
import numpy as np
import pytest

import kernels.emu as emu
from kernels.emu.memory import Allocation, GlobalMemory
from kernels.emu.simt import Options, Program
from kernels.targets import get_target
from tests.emu.mlir_harness import load

pytestmark = pytest.mark.interpreter

_MODULE = """
module attributes {{gpu.container_module}} {{
  gpu.module @kernels {{
    llvm.mlir.global internal @lds() {{addr_space = 3 : i32, alignment = 16 : i64}} : !llvm.array<16 x i32>
    gpu.func @k(%pm: !llvm.ptr<1>) kernel {{
      %t = gpu.thread_id x
      %b = gpu.block_id x
      %ti = arith.index_cast %t : index to i64
      %bi = arith.index_cast %b : index to i64
      %c0 = arith.constant 0 : i64
      %c64 = arith.constant 64 : i64
      %one = arith.constant 1 : i32
      %wave = arith.divui %ti, %c64 : i64
      %lane0 = arith.cmpi eq, %ti, %c0 : i64
      %wave0 = arith.cmpi eq, %wave, %c0 : i64
      %wave1 = arith.cmpi ne, %wave, %c0 : i64
      %wg0 = arith.cmpi eq, %bi, %c0 : i64
      %wg1 = arith.cmpi ne, %bi, %c0 : i64
      %lds = llvm.mlir.addressof @lds : !llvm.ptr<3>
      %g = llvm.getelementptr %pm[%c0] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i32
{body}
      gpu.return
    }}
  }}
  func.func @host(%a: !llvm.ptr<1>) {{
    %c1 = arith.constant 1 : index
    %cg = arith.constant {grid} : index
    %cb = arith.constant {block} : index
    gpu.launch_func @kernels::@k blocks in (%cg, %c1, %c1) threads in (%cb, %c1, %c1) args(%a : !llvm.ptr<1>)
    return
  }}
}}
"""
GLOBAL_ADD = "%o{n} = llvm.atomicrmw add %g, %one monotonic : !llvm.ptr<1>, i32"
LDS_ADD = "%q{n} = llvm.atomicrmw add %lds, %one monotonic : !llvm.ptr<3>, i32"
LDS_INIT = """scf.if %lane0 {
        %z = arith.constant 0 : i32
        llvm.store %z, %lds : i32, !llvm.ptr<3>
      }
      gpu.barrier"""


def _when(cond, line):
    return f"scf.if {cond} {{\n        {line}\n      }}"


def run(body, grid=1, block=128, findings="raise", output_only=False, shuffle=False, words=4):
    """Run the kernel with ``body`` on ``words`` int32 words (host value 0); returns (word 0, findings)."""
    text = _MODULE.format(body="      " + body.replace("\n", "\n      "), grid=grid, block=block)
    mem = np.zeros(words, np.int32)
    gm = GlobalMemory([Allocation(mem.ctypes.data, mem.nbytes, "m", output_only=output_only)])
    emu.FINDINGS.begin_call()
    Program(load(text), get_target("gfx942")).run_host(
        "host", (np.int64(mem.ctypes.data),), gm, Options(findings=findings, shuffle_schedule=shuffle))
    return int(mem[0]), emu.last_findings()


def test_global_atomics_of_many_workgroups_never_race():
    word, found = run(GLOBAL_ADD.format(n=0) + "\n" + GLOBAL_ADD.format(n=1), grid=5, findings="record")
    assert found == [] and word == 5 * 128 * 2


def test_lds_atomics_of_many_waves_in_one_epoch_never_race():
    body = "\n".join([LDS_INIT, LDS_ADD.format(n=0), LDS_ADD.format(n=1), "gpu.barrier",
                      _when("%lane0", "%v = llvm.load %lds : !llvm.ptr<3> -> i32\n        llvm.store %v, %g : i32, "
                                      "!llvm.ptr<1>")])
    word, found = run(body, block=256, findings="record")
    assert found == [] and word == 512


def test_plain_load_by_another_workgroup_races_with_a_global_atomic():
    body = _when("%wg0", GLOBAL_ADD.format(n=0)) + "\n" + _when("%wg1", "%v = llvm.load %g : !llvm.ptr<1> -> i32")
    with pytest.raises(emu.RaceError, match="plain load by workgroup 1 and an atomic by another workgroup") as e:
        run(body, grid=2)
    assert e.value.op == "llvm.load"


def test_global_atomic_after_a_plain_store_of_another_workgroup_is_a_race_naming_the_atomic():
    body = _when("%wg0", "llvm.store %one, %g : i32, !llvm.ptr<1>") + "\n" + _when("%wg1", GLOBAL_ADD.format(n=0))
    _, found = run(body, grid=2, findings="record")
    assert [(f.check, f.op) for f in found] == [("global-race", "llvm.atomicrmw")]
    assert "atomic by workgroup 1" in found[0].message and found[0].loc.startswith("-:")


@pytest.mark.parametrize("barrier", [False, True])
def test_atomic_and_plain_store_of_two_waves_race_unless_a_barrier_orders_them(barrier):
    body = _when("%wave0", GLOBAL_ADD.format(n=0)) + ("\ngpu.barrier" if barrier else "") + "\n" + \
        _when("%wave1", "llvm.store %one, %g : i32, !llvm.ptr<1>")
    _, found = run(body, findings="record")
    assert [(f.check, f.op) for f in found] == ([] if barrier else [("wave-race", "llvm.store")])


@pytest.mark.parametrize("barrier", [False, True])
def test_lds_atomic_and_plain_load_of_another_wave_race_unless_a_barrier_orders_them(barrier):
    body = "\n".join([LDS_INIT, _when("%wave0", LDS_ADD.format(n=0))] + (["gpu.barrier"] if barrier else []) +
                     [_when("%wave1", "%v = llvm.load %lds : !llvm.ptr<3> -> i32")])
    _, found = run(body, findings="record")
    assert [(f.check, f.op) for f in found] == ([] if barrier else [("lds-race", "llvm.load")])


def test_lds_atomic_after_a_plain_store_of_another_wave_in_the_epoch_is_a_race_naming_the_atomic():
    body = "\n".join([LDS_INIT, _when("%wave0", "llvm.store %one, %lds : i32, !llvm.ptr<3>"),
                      _when("%wave1", LDS_ADD.format(n=0))])
    with pytest.raises(emu.RaceError, match="updated by an atomic of wave 1 and written by a plain access") as e:
        run(body)
    assert e.value.op == "llvm.atomicrmw"


def test_atomic_on_lds_never_written_is_an_uninitialized_read():
    with pytest.raises(emu.UninitializedReadError) as e:
        run(LDS_ADD.format(n=0))
    assert e.value.op == "llvm.atomicrmw"


def test_atomic_on_an_output_only_tensor_not_yet_written_is_an_uninitialized_read():
    with pytest.raises(emu.UninitializedReadError, match="output-only tensor m") as e:
        run(GLOBAL_ADD.format(n=0), output_only=True)
    assert e.value.op == "llvm.atomicrmw"
    body = _when("%lane0", "%z = arith.constant 0 : i32\n        llvm.store %z, %g : i32, !llvm.ptr<1>") + \
        "\ngpu.barrier\n" + GLOBAL_ADD.format(n=0)
    word, found = run(body, output_only=True, findings="record")
    assert found == [] and word == 128


def test_returned_values_unused_and_order_free_pass_the_schedule_check():
    word, found = run(GLOBAL_ADD.format(n=0), grid=4, shuffle=True, findings="record")
    assert found == [] and word == 512


def test_stored_returned_value_fails_the_schedule_check_naming_the_atomic():
    # lane 0 of workgroup w stores what its atomic returned to word 1 + w
    body = GLOBAL_ADD.format(n=0) + "\n" + _when("%lane0", "%c1 = arith.constant 1 : i64\n        "
                                                           "%w1 = arith.addi %bi, %c1 : i64\n        "
                                                           "%h = llvm.getelementptr %pm[%w1] : (!llvm.ptr<1>, i64) -> "
                                                           "!llvm.ptr<1>, i32\n        llvm.store %o0, %h : i32, "
                                                           "!llvm.ptr<1>")
    _, found = run(body, grid=3, shuffle=True, findings="record")
    assert [(f.check, f.op) for f in found] == [("schedule-dependence", "llvm.atomicrmw")]


def test_schedule_check_reorders_the_lanes_of_one_atomic():
    # one workgroup (no workgroup order to change): lane l stores what its atomic returned to word 1 + l
    body = GLOBAL_ADD.format(n=0) + """
%c1 = arith.constant 1 : i64
%l1 = arith.addi %ti, %c1 : i64
%h = llvm.getelementptr %pm[%l1] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i32
llvm.store %o0, %h : i32, !llvm.ptr<1>"""
    word, found = run(body, shuffle=True, findings="record", words=129)
    assert [(f.check, f.op) for f in found] == [("schedule-dependence", "llvm.atomicrmw")]
    assert word == 128


def test_float_accumulation_with_unused_results_fails_the_schedule_check_naming_the_atomic():
    # fadd rounds per access: another order of the workgroups' adds leaves another sum
    body = """%x = arith.uitofp %ti : i64 to f32
%tenth = arith.constant 0.1 : f32
%y = arith.mulf %x, %x : f32
%z = arith.mulf %y, %tenth : f32
%gf = llvm.getelementptr %pm[%c0] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, f32
%s = llvm.atomicrmw fadd %gf, %z monotonic : !llvm.ptr<1>, f32"""
    _, found = run(body, grid=4, shuffle=True, findings="record")
    assert [(f.check, f.op) for f in found] == [("schedule-dependence", "llvm.atomicrmw")]
    assert "values returned by llvm.atomicrmw" in found[0].message


def test_plain_load_after_atomics_of_its_own_and_another_wave_is_a_race():
    # both waves update the word in one instruction; wave 1 alone then reads it with no barrier
    body = "\n".join([LDS_INIT, LDS_ADD.format(n=0), _when("%wave1", "%v = llvm.load %lds : !llvm.ptr<3> -> i32")])
    _, found = run(body, findings="record")
    assert [(f.check, f.op) for f in found] == [("lds-race", "llvm.load")]


def test_plain_load_after_atomics_of_its_own_and_another_workgroup_is_a_race():
    body = GLOBAL_ADD.format(n=0) + "\n" + _when("%wg1", "%v = llvm.load %g : !llvm.ptr<1> -> i32")
    _, found = run(body, grid=2, findings="record")
    assert [(f.check, f.op) for f in found] == [("global-race", "llvm.load")]
