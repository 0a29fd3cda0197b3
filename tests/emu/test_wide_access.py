"""16-byte accesses: ``i128``, ``vector<4xi32>`` and ``vector<8xbf16>`` through global
pointers and buffer descriptors, against NumPy views of the same bytes.

What the expectations rest on (CDNA3 ISA, gfx942 / gfx950, with the unaligned
access mode ROCm configures):

* global and buffer accesses of 16 bytes (``global_load_dwordx4``,
  ``buffer_load_dwordx4`` and their stores) take any byte address: the value
  is the 16 bytes from there, least significant first;
* a raw buffer access (stride 0) is range checked per dword, counted from the
  access's own start: dword ``k`` covers bytes ``[off + 4k, off + 4k + 4)``
  and is in range when ``off + 4k + 4 <= num_records``.  A load returns 0 for
  every dword out of range (a dword that straddles num_records is all 0), a
  store drops those dwords and writes the others;
* there is no buffer access wider than 16 bytes, and an ``i128`` is only ever
  moved (loaded, stored, bitcast): the interpreter refuses the rest by name.
"""
import numpy as np
import pytest

import kernels.emu as emu
from tests.emu.mlir_harness import SRC_DST_BUFFERS, run_lanes, run_module

pytestmark = pytest.mark.interpreter
NL = 64                                  # lanes
TYPES = ["i128", "vector<4xi32>", "vector<8xbf16>"]
SRC_BYTES = NL * 16 + 64


def _src_bytes(seed=0):
    """Random bytes (bf16 NaN patterns, signalling ones included, among them)."""
    return np.random.default_rng(seed).integers(0, 256, SRC_BYTES, dtype=np.uint8)


GLOBAL_KERNEL = """
module attributes {{gpu.container_module}} {{
  gpu.module @kernels {{
    gpu.func @k(%src: !llvm.ptr<1>, %dst: !llvm.ptr<1>, %out: !llvm.ptr<1>, %base: i64, %step: i64) kernel {{
      %t = gpu.thread_id x
      %ti = arith.index_cast %t : index to i64
      %o0 = arith.muli %ti, %step : i64
      %o = arith.addi %o0, %base : i64
      %ps = llvm.getelementptr %src[%o] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i8
      %pd = llvm.getelementptr %dst[%o] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i8
      %v = llvm.load %ps {{alignment = 1 : i64}} : !llvm.ptr<1> -> {ty}
      llvm.store %v, %pd {{alignment = 1 : i64}} : {ty}, !llvm.ptr<1>
      %w = llvm.bitcast %v : {ty} to {words}
      %po = llvm.getelementptr %out[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {words}
      llvm.store %w, %po : {words}, !llvm.ptr<1>
      gpu.return
    }}
  }}
  func.func @host(%a: !llvm.ptr<1>, %b: !llvm.ptr<1>, %c: !llvm.ptr<1>, %n: i64, %s: i64) {{
    %c1 = arith.constant 1 : index
    %cl = arith.constant {nl} : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%cl, %c1, %c1) args(%a : !llvm.ptr<1>, %b : !llvm.ptr<1>, %c : !llvm.ptr<1>, %n : i64, %s : i64)
    return
  }}
}}
"""


def _words_type(ty):
    # the output store goes through a type of the same 16 bytes that is not the loaded one
    return "vector<2xi64>" if ty == "vector<4xi32>" else "vector<4xi32>"


def _run_global(ty, base, step, nl=NL, sanitize=True):
    src = _src_bytes(base)
    dst = np.full(SRC_BYTES, 0xA5, np.uint8)
    out = np.zeros((nl, 16), np.uint8)
    text = GLOBAL_KERNEL.format(ty=ty, words=_words_type(ty), nl=nl)
    run_module(text, [np.int64(src.ctypes.data), np.int64(dst.ctypes.data), np.int64(out.ctypes.data),
                      np.int64(base), np.int64(step)], [src, dst, out], sanitize=sanitize)
    return src, dst, out


@pytest.mark.parametrize("ty", TYPES)
@pytest.mark.parametrize("base", [0, 1, 2, 3, 4, 8, 12])
def test_global_16_byte_load_and_store_at_any_byte_alignment(ty, base):
    src, dst, out = _run_global(ty, base, 16)
    expect = src[base:base + NL * 16].reshape(NL, 16)
    np.testing.assert_array_equal(out, expect)
    np.testing.assert_array_equal(dst[base:base + NL * 16], src[base:base + NL * 16])
    assert (dst[:base] == 0xA5).all() and (dst[base + NL * 16:] == 0xA5).all()


def test_global_16_byte_load_past_a_tensor_is_out_of_bounds():
    # lane 63's access covers bytes 1078..1093 of the 1088-byte `src`: its last 6 lie past it
    assert SRC_BYTES == 1088
    _run_global("i128", 64, 16)                  # bytes 1072..1087: the last lane ends at the end
    with pytest.raises(emu.OutOfBoundsError, match="llvm.load"):
        _run_global("i128", 70, 16)


def test_i128_bitcasts_keep_memory_byte_order():
    """``vector<8xbf16>`` -> ``i128`` -> ``vector<4xi32>``: the words are the bf16 bits, two per
    word, the lower-indexed element in the low half (little-endian)."""
    bits = (np.arange(NL * 8, dtype=np.uint32) * 2654435761 % 65536).astype(np.uint16)
    vals = bits.reshape(NL, 8)
    body = """
    %i = llvm.bitcast %a0 : vector<8xbf16> to i128
    %r = llvm.bitcast %i : i128 to vector<4xi32>"""
    got = run_lanes(body, ["vector<8xbf16>"], "vector<4xi32>", [vals])
    expect = vals.astype(np.uint32)[:, 0::2] | (vals.astype(np.uint32)[:, 1::2] << 16)
    np.testing.assert_array_equal(got.view(np.uint32), expect)


# ------------------------------------------------------------ buffer accesses
BUF_KERNEL = """
module attributes {{gpu.container_module}} {{
  gpu.module @kernels {{
    gpu.func @k(%src: !llvm.ptr<1>, %dst: !llvm.ptr<1>, %out: !llvm.ptr<1>, %nrec: i64, %base: i32, %step: i32) kernel {{
      %t = gpu.thread_id x
      %t32 = arith.index_cast %t : index to i32
      %ti = arith.index_cast %t : index to i64""" + SRC_DST_BUFFERS + """\
      %vo0 = arith.muli %t32, %step : i32
      %vo = arith.addi %vo0, %base : i32
      %v = rocdl.raw.ptr.buffer.load %rs, %vo, %soff, 0 : {ty}
      rocdl.raw.ptr.buffer.store %v, %rd, %vo, %soff, 0 : {ty}
      %w = llvm.bitcast %v : {ty} to {words}
      %po = llvm.getelementptr %out[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {words}
      llvm.store %w, %po : {words}, !llvm.ptr<1>
      gpu.return
    }}
  }}
  func.func @host(%a: !llvm.ptr<1>, %b: !llvm.ptr<1>, %c: !llvm.ptr<1>, %n: i64, %s: i32, %st: i32) {{
    %c1 = arith.constant 1 : index
    %cl = arith.constant {nl} : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%cl, %c1, %c1) args(%a : !llvm.ptr<1>, %b : !llvm.ptr<1>, %c : !llvm.ptr<1>, %n : i64, %s : i32, %st : i32)
    return
  }}
}}
"""


def _run_buffer(ty, nrec, base, step, nl=NL, seed=1, ty_text=None):
    src = _src_bytes(seed)
    dst = np.full(SRC_BYTES, 0xA5, np.uint8)
    out = np.full((nl, 16), 0x5A, np.uint8)
    text = BUF_KERNEL.format(ty=ty_text or ty, words=_words_type(ty), nl=nl)
    run_module(text, [np.int64(src.ctypes.data), np.int64(dst.ctypes.data), np.int64(out.ctypes.data),
                      np.int64(nrec), np.int32(base), np.int32(step)], [src, dst, out])
    return src, dst, out


def _buffer_reference(src, nrec, offsets):
    """Per lane: the 16 bytes a dwordx4 buffer load returns, and the dst bytes its store writes."""
    loaded = np.zeros((len(offsets), 16), np.uint8)
    dst = np.full(SRC_BYTES, 0xA5, np.uint8)
    for lane, off in enumerate(offsets):
        for k in range(4):
            a = off + 4 * k
            if a + 4 <= nrec:
                loaded[lane, 4 * k:4 * k + 4] = src[a:a + 4]
                dst[a:a + 4] = src[a:a + 4]
    return loaded, dst


@pytest.mark.parametrize("ty", TYPES)
@pytest.mark.parametrize("base,nrec", [
    (0, NL * 16),            # every lane in range
    (0, 10 * 16 + 8),        # lane 10: dwords 0, 1 in range, 2, 3 out
    (0, 10 * 16 + 6),        # lane 10: dword 1 straddles num_records: read as 0, not written
    (0, 10 * 16 + 13),       # lane 10: dwords 0..2 in range, dword 3 straddles
    (2, 20 * 16 + 9),        # offsets 2 mod 16: dwords counted from the access's start
    (4, 5 * 16),             # lane 4's access ends 4 bytes past: its last dword out
    (1, 0),                  # empty buffer: nothing read or written
])
def test_buffer_16_byte_access_is_range_checked_per_dword(ty, base, nrec):
    src, dst, out = _run_buffer(ty, nrec, base, 16)
    loaded, dst_ref = _buffer_reference(src, nrec, [base + 16 * lane for lane in range(NL)])
    np.testing.assert_array_equal(out, loaded)
    np.testing.assert_array_equal(dst, dst_ref)


@pytest.mark.parametrize("ty", TYPES)
def test_buffer_16_byte_access_at_odd_offsets_in_range(ty):
    # lane i reads at 13 * i + 3: every byte alignment mod 16 occurs
    src, dst, out = _run_buffer(ty, SRC_BYTES, 3, 13)
    offsets = [3 + 13 * lane for lane in range(NL)]
    loaded, _ = _buffer_reference(src, SRC_BYTES, offsets)
    np.testing.assert_array_equal(out, loaded)
    np.testing.assert_array_equal(out, np.stack([src[o:o + 16] for o in offsets]))


def test_uniform_i128_buffer_load_straddling_num_records():
    """Every lane at the same offset (the uniform fast path): dwords 0 and 1 in range, 2 straddles, 3 out."""
    src, dst, out = _run_buffer("i128", 40 + 10, 40, 0, nl=8)
    expect = np.zeros(16, np.uint8)
    expect[:8] = src[40:48]
    np.testing.assert_array_equal(out, np.broadcast_to(expect, (8, 16)))
    assert (dst[40:48] == src[40:48]).all() and (dst[48:56] == 0xA5).all()


# ------------------------------------------------------------ what the interpreter refuses
def test_buffer_access_wider_than_16_bytes_is_refused():
    with pytest.raises(emu.UnsupportedOpError, match="widest buffer access is 16 bytes"):
        _run_buffer("vector<4xi32>", NL * 16, 0, 16, ty_text="vector<8xi32>")


@pytest.mark.parametrize("line", [
    "%r2 = arith.addi %i, %i : i128",
    "%r2 = arith.select %c, %i, %i : i128",
])
def test_i128_is_only_moved_not_computed_on(line):
    body = f"""
    %i = llvm.bitcast %a0 : vector<4xi32> to i128
    %c = arith.constant true
    {line}
    %r = llvm.bitcast %r2 : i128 to vector<4xi32>"""
    with pytest.raises(emu.UnsupportedOpError, match="i128 operands and results are held as 32-bit words"):
        run_lanes(body, ["vector<4xi32>"], "vector<4xi32>", [np.zeros((NL, 4), np.int32)])
