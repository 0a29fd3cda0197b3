"""Where the interpreter places a kernel's static LDS arrays: where the AMDGPU backend places them.

The measured layout: a FlyDSL kernel with one ``fx.struct`` of four 16-byte aligned
``Int32`` arrays of 33, 33, 264 and 8 elements (132, 132, 1056 and 32 bytes), each
written once by thread 0, compiled here for gfx942 (``COMPILE_ONLY=1 ARCH=gfx942``,
the compile matrix's toolchain) and disassembled with ``llvm-objdump-14 -d
--triple=amdgcn-amd-amdhsa --mcpu=gfx90a``: the four stores go to LDS bytes 1056,
1200, 0 and 1344, and the code object's ``group_segment_fixed_size`` is 1376.
"""
import numpy as np
import pytest
import torch

from kernels.emu.lds_layout import struct_layout

#: (symbol, bytes, alignment) in declaration order, and the offsets measured on gfx942.
MEASURED_FIELDS = [("__shared_alloc_0", 132, 16), ("__shared_alloc_1", 132, 16),
                   ("__shared_alloc_2", 1056, 16), ("__shared_alloc_3", 32, 16)]
MEASURED_OFFSETS = {"__shared_alloc_0": 1056, "__shared_alloc_1": 1200, "__shared_alloc_2": 0,
                    "__shared_alloc_3": 1344}
MEASURED_BYTES = 1376


@pytest.mark.parametrize("order", [1, -1])
def test_the_measured_layout_whatever_the_declaration_order(order):
    assert struct_layout(MEASURED_FIELDS[::order]) == (MEASURED_OFFSETS, MEASURED_BYTES)


def test_the_least_padding_comes_first_then_the_more_aligned():
    """After a 20-byte field, a 4-aligned field needs no padding and goes before a
    16-aligned one that would need 12 bytes of it; with no padding needed, the more
    aligned field goes first, then the larger."""
    offsets, end = struct_layout([("y", 16, 16), ("x", 20, 16), ("z", 4, 4)])
    assert offsets == {"x": 0, "z": 20, "y": 32} and end == 48
    offsets, end = struct_layout([("a", 20, 4), ("b", 32, 16), ("c", 12, 4), ("d", 8, 8)])
    assert offsets["b"] == 0 and offsets["d"] == 32 and offsets["a"] == 40 and end == 72


def test_equal_fields_keep_name_order_as_strings():
    """Measured the same way: twelve 64-byte arrays ``__shared_alloc_0`` .. ``_11``, declared in
    that order, lie in the order 0, 1, 10, 11, 2, 3, ..., 9 (the symbols sorted as strings)."""
    names = [f"__shared_alloc_{i}" for i in range(12)]
    measured_slot = {0: 0, 1: 1, 10: 2, 11: 3, **{i: i + 2 for i in range(2, 10)}}
    offsets, end = struct_layout([(n, 64, 16) for n in names])
    assert offsets == {f"__shared_alloc_{i}": 64 * slot for i, slot in measured_slot.items()} and end == 768


def _word_before_array_kernel():
    """Thread 0 writes 7 into the last word of the 1056-byte array, then 12345 one word
    before the first 132-byte array, and reads the last word of the large array back."""
    import flydsl.compiler as flyc
    import flydsl.expr as fx
    from flydsl.expr import gpu

    @fx.struct
    class Arrays:
        cumsum: fx.Array[fx.Int32, 33, 16]
        cumdup: fx.Array[fx.Int32, 33, 16]
        mesh: fx.Array[fx.Int32, 264, 16]
        weights: fx.Array[fx.Int32, 8, 16]

    @flyc.kernel(known_block_size=[64, 1, 1])
    def word_before_array(out: fx.Tensor):
        tid = gpu.thread_idx.x
        s = fx.SharedAllocator().allocate(Arrays).peek()
        if tid == 0:
            fx.ptr_store(fx.Int32(7), s.mesh.ptr + fx.Int64(263))
        gpu.barrier()
        if tid == 0:
            fx.ptr_store(fx.Int32(12345), s.cumsum.ptr + fx.Int64(-1))
        gpu.barrier()
        if tid == 0:
            out[0] = fx.ptr_load(s.mesh.ptr + fx.Int64(263))

    @flyc.jit
    def launch(out: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        word_before_array(out).launch(grid=(1, 1, 1), block=(64, 1, 1), stream=stream)

    return launch


@pytest.mark.interpreter
@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
def test_a_store_before_an_array_lands_in_the_array_the_backend_put_there(target):
    """The backend puts the 1056-byte array just before the first 132-byte one, so a store
    one word before the latter overwrites the former's last word; the sanitizer still
    names the store as outside its array."""
    import kernels.emu as emu

    out = torch.full((1,), -1, dtype=torch.int32)
    with emu.emulate(target, findings="record"):
        _word_before_array_kernel()(out)
        findings = emu.last_findings()
    assert out.tolist() == [12345]
    assert [f.check for f in findings] == ["lds-out-of-bounds"]
    assert np.all(np.array([f.workgroup for f in findings]) == 0)
