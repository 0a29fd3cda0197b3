"""AMD cross-lane ops, buffer resources, structured control flow and barriers.

Expectations come from the GCN/CDNA ISA descriptions (DPP: row/bank masks and
BOUND_CTRL; DS_BPERMUTE_B32: lane = addr[7:2], disabled source lane reads 0;
raw buffer range checking: OOB loads read 0, OOB stores are dropped, checked per
dword) and from the MLIR dialects (gpu.shuffle, scf.*, gpu.barrier).
"""
import numpy as np
import pytest

import kernels.emu as emu
from kernels.emu import amdgpu
from tests.emu.mlir_harness import run_lanes, run_module

pytestmark = pytest.mark.interpreter
LANE = np.arange(64, dtype=np.int32)


# ------------------------------------------------------------ DPP (ISA semantics)
def dpp_ref(old, src, ctrl, row_mask, bank_mask, bound_ctrl, active):
    out = old.copy()
    for l in range(64):
        row, li = l // 16, l % 16
        if not (row_mask >> row) & 1 or not (bank_mask >> (li // 4)) & 1:
            continue
        if ctrl <= 0xFF:
            s = (l & ~3) + ((ctrl >> (2 * (l & 3))) & 3)
        elif 0x101 <= ctrl <= 0x10F:
            s = l + (ctrl & 15) if li + (ctrl & 15) < 16 else None
        elif 0x111 <= ctrl <= 0x11F:
            s = l - (ctrl & 15) if li - (ctrl & 15) >= 0 else None
        elif 0x121 <= ctrl <= 0x12F:
            s = row * 16 + (li - (ctrl & 15)) % 16
        elif ctrl == 0x138:
            s = l - 1 if l > 0 else None
        elif ctrl == 0x130:
            s = l + 1 if l < 63 else None
        elif ctrl == 0x13C:
            s = (l - 1) % 64
        elif ctrl == 0x134:
            s = (l + 1) % 64
        elif ctrl == 0x140:
            s = row * 16 + 15 - li
        elif ctrl == 0x141:
            s = (l & ~7) + 7 - (l & 7)
        elif ctrl == 0x142:
            s = row * 16 - 1 if row >= 1 else None
        elif ctrl == 0x143:
            s = 31 if row >= 2 else None
        if s is None or not active[s]:
            out[l] = 0 if bound_ctrl else old[l]
        else:
            out[l] = src[s]
    return out


CTRLS = [0x1B, 0xE4, 0x00, 0x101, 0x10F, 0x111, 0x112, 0x114, 0x118, 0x121, 0x12F,
         0x130, 0x134, 0x138, 0x13C, 0x140, 0x141, 0x142, 0x143]


@pytest.mark.parametrize("ctrl", CTRLS)
@pytest.mark.parametrize("row_mask,bank_mask,bound_ctrl", [(0xF, 0xF, True), (0xF, 0xF, False),
                                                           (0xA, 0xF, True), (0xF, 0x5, False)])
def test_dpp_controls_masks_bound_ctrl(ctrl, row_mask, bank_mask, bound_ctrl):
    old = -LANE - 1000
    src = LANE * 10
    active = np.ones(64, bool)
    got = amdgpu.dpp(old, src, ctrl, row_mask, bank_mask, bound_ctrl, active, 64)
    np.testing.assert_array_equal(got, dpp_ref(old, src, ctrl, row_mask, bank_mask, bound_ctrl, active))


def test_dpp_disabled_source_lane():
    active = np.ones(64, bool)
    active[[3, 20]] = False
    for bc in (True, False):
        got = amdgpu.dpp(-LANE, LANE + 1, 0x111, 0xF, 0xF, bc, active, 64)
        np.testing.assert_array_equal(got[active], dpp_ref(-LANE, LANE + 1, 0x111, 0xF, 0xF, bc, active)[active])
        assert got[4] == (0 if bc else -4) and got[21] == (0 if bc else -21)


def test_dpp_in_mlir_row_shr_prefix_step():
    got = run_lanes("%r = rocdl.update.dpp %a0, %a1 with 273, 15, 15, true : i32", ["i32", "i32"], "i32",
                    [-np.ones(64, np.int32), LANE])
    np.testing.assert_array_equal(got, np.where(LANE % 16 == 0, 0, LANE - 1))
    got = run_lanes("%r = rocdl.update.dpp %a0, %a1 with 274, 10, 15, false : i32", ["i32", "i32"], "i32",
                    [-np.ones(64, np.int32), LANE])
    exp = dpp_ref(-np.ones(64, np.int32), LANE, 0x112, 10, 15, False, np.ones(64, bool))
    np.testing.assert_array_equal(got, exp)


# ------------------------------------------------------------ ds_bpermute
def test_bpermute_byte_address_selects_lane_and_wraps():
    addr = np.concatenate([(LANE[:16] * 4), (LANE[16:32] + 64) * 4, -(LANE[32:48] + 1) * 4,
                           LANE[48:] * 4 + 2]).astype(np.int32)
    got = run_lanes("%r = rocdl.ds_bpermute %a0, %a1 : (i32, i32) -> i32", ["i32", "i32"], "i32",
                    [addr, LANE * 7])
    np.testing.assert_array_equal(got, ((addr.astype(np.int64) >> 2) & 63) * 7)


def test_bpermute_disabled_source_reads_zero():
    body = """
    %c0 = arith.constant 0 : i32
    %c4 = arith.constant 4 : i32
    %c32 = arith.constant 32 : i32
    %c63 = arith.constant 63 : i32
    %t32 = arith.index_cast %t : index to i32
    %cond = arith.cmpi slt, %t32, %c32 : i32
    %r = scf.if %cond -> (i32) {
      %rev = arith.subi %c63, %t32 : i32
      %ad = arith.muli %rev, %c4 : i32
      %x = rocdl.ds_bpermute %ad, %a0 : (i32, i32) -> i32
      scf.yield %x : i32
    } else {
      scf.yield %c0 : i32
    }"""
    got = run_lanes(body, ["i32"], "i32", [LANE + 100])
    np.testing.assert_array_equal(got, np.zeros(64))          # lanes 0..31 read 63..32: all disabled


def test_bpermute_matches_a_per_lane_reading_over_several_waves():
    """Per lane: lane ``(addr >> 2) mod W`` of its own wave, 0 where that lane is inactive;
    masks full and partial, vector elements, addresses of any integer type."""

    rng = np.random.default_rng(5)
    W, L = 64, 256
    for adt in (np.int32, np.int64, np.uint32):
        for shape in ((), (3,)):
            for share in (1.0, 0.6):
                addr = rng.integers(0, 2**32, L).astype(np.int64).astype(adt)
                src = rng.integers(-1000, 1000, (L,) + shape).astype(np.int32)
                m = rng.random(L) < share
                want = np.zeros((L,) + shape, np.int32)
                for lane in range(L):
                    j = lane // W * W + ((int(addr[lane]) >> 2) & (W - 1))
                    if m[j]:
                        want[lane] = src[j]
                got = amdgpu.bpermute(addr, src, m, W)
                assert got.dtype == np.int32 and np.array_equal(got, want)


# ------------------------------------------------------------ gpu.shuffle
def shuffle_ref(val, off, width, mode):
    out, valid = np.zeros(64, np.int64), np.zeros(64, bool)
    for l in range(64):
        seg_end = (l + width) & -width
        s = {"xor": l ^ off, "up": l - off, "down": l + off, "idx": off}[mode]
        v = s < seg_end
        sel = s if v else l
        out[l] = val[(sel * 4 >> 2) & 63]
        valid[l] = v
    return out, valid


@pytest.mark.parametrize("mode", ["xor", "up", "down", "idx"])
@pytest.mark.parametrize("width", [64, 32, 16, 8, 4, 2])
@pytest.mark.parametrize("off", [1, 3, 5])
def test_gpu_shuffle_all_modes_and_widths(mode, width, off):
    body = f"""
    %off = arith.constant {off} : i32
    %w = arith.constant {width} : i32
    %s, %v = gpu.shuffle {mode} %a0, %off, %w : i32
    %c1000 = arith.constant 1000 : i32
    %vi = arith.extui %v : i1 to i32
    %vs = arith.muli %vi, %c1000 : i32
    %r = arith.addi %s, %vs : i32"""
    got = run_lanes(body, ["i32"], "i32", [LANE])
    val, valid = shuffle_ref(LANE, off, width, mode)
    np.testing.assert_array_equal(got, val + 1000 * valid)
    # within-segment moves agree with the gpu dialect's definition
    seg = (LANE // width) * width
    src = {"xor": LANE ^ off, "up": LANE - off, "down": LANE + off, "idx": np.full(64, off)}[mode]
    inside = (src >= seg) & (src < seg + width)
    np.testing.assert_array_equal((got % 1000)[inside], src[inside])


# ------------------------------------------------------------ ballot / readfirstlane / readlane
def test_ballot_and_readlanes_under_mask():
    body = """
    %c0 = arith.constant 0 : i32
    %c5 = arith.constant 5 : i32
    %c3 = arith.constant 3 : i32
    %t32 = arith.index_cast %t : index to i32
    %cond = arith.cmpi sge, %t32, %c5 : i32
    %r = scf.if %cond -> (i32) {
      %rem = arith.remui %t32, %c3 : i32
      %p = arith.cmpi eq, %rem, %c0 : i32
      %b = rocdl.ballot %p : i64
      %lo = arith.trunci %b : i64 to i32
      %f = rocdl.readfirstlane %a0 : i32
      %x = arith.addi %lo, %f : i32
      scf.yield %x : i32
    } else {
      scf.yield %c0 : i32
    }"""
    got = run_lanes(body, ["i32"], "i32", [LANE * 2])
    bits = sum(1 << l for l in range(64) if l >= 5 and l % 3 == 0)
    lo = ((bits & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
    exp = np.where(LANE >= 5, np.int64(lo) + 10, 0).astype(np.int32)      # first active lane is 5: a0=10
    np.testing.assert_array_equal(got, exp)
    got = run_lanes("%r = rocdl.readlane %a0, %a1 : (i32, i32) -> i32", ["i32", "i32"], "i32",
                    [LANE * 3, np.full(64, 17, np.int32)])
    np.testing.assert_array_equal(got, np.full(64, 51))


# ------------------------------------------------------------ buffer resources
BUF_KERNEL = """
module attributes {{gpu.container_module}} {{
  gpu.module @kernels {{
    gpu.func @k(%src: !llvm.ptr<1>, %dst: !llvm.ptr<1>, %out: !llvm.ptr<1>, %nrec: i64, %soff: i32, %step: i32) kernel {{
      %t = gpu.thread_id x
      %t32 = arith.index_cast %t : index to i32
      %ti = arith.index_cast %t : index to i64
      %stride = arith.constant {stride} : i16
      %flags = arith.constant 159744 : i32
      %gs = llvm.addrspacecast %src : !llvm.ptr<1> to !llvm.ptr
      %gd = llvm.addrspacecast %dst : !llvm.ptr<1> to !llvm.ptr
      %rs = rocdl.make.buffer.rsrc %gs, %stride, %nrec, %flags : !llvm.ptr to <8>
      %rd = rocdl.make.buffer.rsrc %gd, %stride, %nrec, %flags : !llvm.ptr to <8>
      %vo = arith.muli %t32, %step : i32
      %v = rocdl.raw.ptr.buffer.load %rs, %vo, %soff, 0 : {ty}
      rocdl.raw.ptr.buffer.store %v, %rd, %vo, %soff, 0 : {ty}
      %go = llvm.getelementptr %out[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
      llvm.store %v, %go : {ty}, !llvm.ptr<1>
      gpu.return
    }}
  }}
  func.func @host(%a: !llvm.ptr<1>, %b: !llvm.ptr<1>, %c: !llvm.ptr<1>, %n: i64, %s: i32, %st: i32) {{
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c64, %c1, %c1) args(%a : !llvm.ptr<1>, %b : !llvm.ptr<1>, %c : !llvm.ptr<1>, %n : i64, %s : i32, %st : i32)
    return
  }}
}}
"""


def _buf(ty, nrec, soff=0, step=4, stride=0, strict=False):
    """Run BUF_KERNEL: lane i copies element i through two descriptors of ``nrec`` bytes
    (sanitizer on; ``strict``: its ``strict_buffers`` mode, see the tests after these)."""
    n = 4 if ty == "vector<4xi32>" else 1
    src = (np.arange(64 * 4 * 2, dtype=np.int32) + 1)
    dst = np.full(64 * 4 * 2, -1, np.int32)
    out = np.full((64, n), -7, np.int32)
    run_module(BUF_KERNEL.format(ty=ty, stride=stride),
               [np.int64(src.ctypes.data), np.int64(dst.ctypes.data), np.int64(out.ctypes.data),
                np.int64(nrec), np.int32(soff), np.int32(step)], [src, dst, out], strict_buffers=strict)
    return src, dst, out.reshape(64, n)


@pytest.mark.parametrize("nrec", [0, 4, 100, 255, 256, 1000])
def test_buffer_num_records_masks_loads_and_stores(nrec):
    src, dst, out = _buf("i32", nrec)
    off = LANE * 4
    inr = off + 4 <= nrec
    np.testing.assert_array_equal(out[:, 0], np.where(inr, src[LANE], 0))      # OOB load reads 0
    np.testing.assert_array_equal(dst[:64], np.where(inr, src[:64], -1))        # OOB store dropped


def test_buffer_soffset_adds_to_address_not_range_check():
    src, dst, out = _buf("i32", 64 * 4, soff=8)
    np.testing.assert_array_equal(out[:, 0], src[LANE + 2])
    np.testing.assert_array_equal(dst[2:66], src[2:66])


def test_buffer_vector_range_checked_per_dword():
    nrec = 10 * 16 + 8          # lane 10's vec4 is half in range
    src, dst, out = _buf("vector<4xi32>", nrec, step=16)
    full = src[:64 * 4].reshape(64, 4)
    k = np.arange(4)[None, :]
    inr = (LANE[:, None] * 16 + 4 * k + 4) <= nrec
    np.testing.assert_array_equal(out, np.where(inr, full, 0))
    assert out[10].tolist() == [full[10, 0], full[10, 1], 0, 0]


def test_buffer_range_check_does_not_wrap_past_4GiB():
    # the kernels' "always out of range" offset: 0x7FFFFFFF elements * 4 bytes wraps (i32) to 0xFFFFFFFC;
    # with num_records = 0xFFFFFFFF every dword of a vec4 access from there is out of range
    off = np.int64(0xFFFFFFFC)
    assert not any(amdgpu.buffer_in_range(off + 4 * k, 4, 0xFFFFFFFF, 0) for k in range(4))
    assert amdgpu.buffer_in_range(np.int64(0xFFFFFFF8), 4, 0xFFFFFFFF, 0)
    assert not amdgpu.buffer_in_range(np.int64(0xFFFFFFFC), 4, 0xFFFFFFFF, 0)


def test_buffer_nonzero_stride_raw_access():
    src, dst, out = _buf("i32", 1, stride=16)
    np.testing.assert_array_equal(out[:, 0], src[LANE])          # index 0 < num_records: offsets unchecked
    src, dst, out = _buf("i32", 0, stride=16)
    assert (out == 0).all() and (dst == -1).all()


# ------------------------------------------------------------ strict_buffers: accesses just past num_records
def test_access_just_past_num_records_is_legal_by_default_and_reported_when_strict():
    src, dst, out = _buf("i32", 100)
    assert (out[25:, 0] == 0).all()
    with pytest.raises(emu.OutOfBoundsError) as ei:
        _buf("i32", 100, strict=True)     # lane 25 reads bytes 100..103 of a 100-byte buffer
    msg = str(ei.value)
    assert "offset 100" in msg and "num_records (100)" in msg and "rocdl.raw.ptr.buffer.load" in msg


def test_strict_reports_vector_access_half_past_num_records():
    with pytest.raises(emu.OutOfBoundsError) as ei:
        _buf("vector<4xi32>", 10 * 16 + 8, step=16, strict=True)   # lane 10: bytes 160..175
    assert "16 bytes at offset 160" in str(ei.value) and "ends 8 bytes past" in str(ei.value)


def test_strict_accepts_in_range_and_masked_accesses():
    src, dst, out = _buf("i32", 64 * 4, strict=True)                  # every lane in range
    np.testing.assert_array_equal(out[:, 0], src[LANE])
    # lanes 1.. start at the floor, past every buffer of fewer than 2**31 - 16 bytes: masking
    for masked in (emu.MASKED_OFFSET_FLOOR, 0x7FFFFFFC, 0x7FFFFFFF, 0x80000000):
        src, dst, out = _buf_first_or_step(4, masked)
        assert out[0] == src[0] and (out[1:] == 0).all() and dst[0] == src[0] and (dst[1:] == -1).all()


@pytest.mark.parametrize("offset", [4 + (1 << 20), 0x5FFFFFFC, (1 << 31) - 20])
def test_strict_reports_a_dropped_access_that_a_larger_buffer_would_hold(offset):
    """Far past the end of this 4-byte buffer, yet below the floor: a larger buffer (up to
    2**31 - 16 bytes) would hold it, so only this buffer's size hides the wrong index."""
    assert offset < emu.MASKED_OFFSET_FLOOR
    with pytest.raises(emu.OutOfBoundsError) as ei:
        _buf_first_or_step(4, offset)
    msg = str(ei.value)
    assert f"at offset {offset} " in msg and "num_records (4)" in msg
    assert f"a buffer of {offset + 4} bytes would hold it" in msg and "0x7ffffff0" in msg


def _buf_first_or_step(nrec, step, strict=True):
    """BUF_KERNEL with lane 0 at offset 0 and every other lane at byte offset ``step`` (u32)."""
    text = BUF_KERNEL.format(ty="i32", stride=0).replace(
        "      %vo = arith.muli %t32, %step : i32\n",
        "      %zero = arith.constant 0 : i32\n"
        "      %first = arith.cmpi eq, %t32, %zero : i32\n"
        "      %vo = arith.select %first, %zero, %step : i32\n")
    src = np.arange(64, dtype=np.int32) + 1
    dst = np.full(64, -1, np.int32)
    out = np.full(64, -7, np.int32)
    run_module(text, [np.int64(src.ctypes.data), np.int64(dst.ctypes.data), np.int64(out.ctypes.data),
                      np.int64(nrec), np.int32(0), np.int32(np.uint32(step).view(np.int32))],
               [src, dst, out], strict_buffers=strict)
    return src, dst, out


def test_strict_skips_whole_range_descriptors():
    # FlyDSL's masking offset 0x7FFFFFFF elements * 4 bytes wraps to 0xFFFFFFFC: just past the end
    # of a max_size descriptor (num_records 0xFFFFFFFF), which is not exactly sized: no report
    src, dst, out = _buf_first_or_step(0xFFFFFFFF, 0xFFFFFFFC)
    assert out[0] == src[0] and (out[1:] == 0).all()
    assert dst[0] == src[0] and (dst[1:] == -1).all()
    with pytest.raises(emu.OutOfBoundsError, match="offset 100"):     # the same kernel, exactly sized
        _buf_first_or_step(100, 100)


def test_strict_skips_strided_buffers():
    # a non-zero stride checks the index (0 < num_records), not the offset: nothing is dropped
    src, dst, out = _buf("i32", 100, stride=16, strict=True)
    np.testing.assert_array_equal(out[:, 0], src[LANE])
    np.testing.assert_array_equal(dst[:64], src[:64])


# ------------------------------------------------------------ structured control flow
def test_scf_if_divergent_yields_per_lane():
    body = """
    %c2 = arith.constant 2 : i32
    %c0 = arith.constant 0 : i32
    %t32 = arith.index_cast %t : index to i32
    %rem = arith.remui %t32, %c2 : i32
    %odd = arith.cmpi ne, %rem, %c0 : i32
    %r = scf.if %odd -> (i32) {
      %x = arith.muli %a0, %c2 : i32
      scf.yield %x : i32
    } else {
      %y = arith.subi %c0, %a0 : i32
      scf.yield %y : i32
    }"""
    got = run_lanes(body, ["i32"], "i32", [LANE + 1])
    np.testing.assert_array_equal(got, np.where(LANE % 2 == 1, 2 * (LANE + 1), -(LANE + 1)))


@pytest.mark.parametrize("uniform_bound", [True, False])
def test_scf_for_uniform_and_divergent_trip_counts(uniform_bound):
    body = """
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %z = arith.constant 0 : i32
    %n = arith.index_cast %a0 : i32 to index
    %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %z) -> (i32) {
      %ii = arith.index_cast %i : index to i32
      %nx = arith.addi %acc, %ii : i32
      scf.yield %nx : i32
    }"""
    n = np.full(64, 9, np.int32) if uniform_bound else (LANE % 7).astype(np.int32)
    got = run_lanes(body, ["i32"], "i32", [n])
    np.testing.assert_array_equal(got, n * (n - 1) // 2)


def test_scf_while_divergent_exit():
    body = """
    %c1 = arith.constant 1 : i32
    %c0 = arith.constant 0 : i32
    %w:2 = scf.while (%x = %a0, %k = %c0) : (i32, i32) -> (i32, i32) {
      %more = arith.cmpi sgt, %x, %c1 : i32
      scf.condition(%more) %x, %k : i32, i32
    } do {
    ^bb0(%y: i32, %j: i32):
      %h = arith.shrsi %y, %c1 : i32
      %j1 = arith.addi %j, %c1 : i32
      scf.yield %h, %j1 : i32, i32
    }
    %r = arith.addi %w#1, %c0 : i32"""
    got = run_lanes(body, ["i32"], "i32", [LANE + 1])
    np.testing.assert_array_equal(got, [int(np.floor(np.log2(v))) for v in LANE + 1])


BARRIER_KERNEL = """
module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.mlir.global internal @lds() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<512 x i8>
    gpu.func @k(%out: !llvm.ptr<1>) kernel {
      %t = gpu.thread_id x
      %t32 = arith.index_cast %t : index to i32
      %ti = arith.index_cast %t : index to i64
      %base = llvm.mlir.addressof @lds : !llvm.ptr<3>
      %p = llvm.getelementptr %base[%ti] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, i32
      llvm.store %t32, %p : i32, !llvm.ptr<3>
      BARRIER
      %c127 = arith.constant 127 : i64
      %o = arith.subi %c127, %ti : i64
      %q = llvm.getelementptr %base[%o] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, i32
      %v = llvm.load %q : !llvm.ptr<3> -> i32
      %go = llvm.getelementptr %out[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i32
      llvm.store %v, %go : i32, !llvm.ptr<1>
      gpu.return
    }
  }
  func.func @host(%a: !llvm.ptr<1>) {
    %c1 = arith.constant 1 : index
    %c128 = arith.constant 128 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c128, %c1, %c1) args(%a : !llvm.ptr<1>)
    return
  }
}
"""


def test_barrier_orders_lds_exchange_between_waves():
    out = np.zeros(128, np.int32)
    run_module(BARRIER_KERNEL.replace("BARRIER", "gpu.barrier"), [np.int64(out.ctypes.data)], [out])
    np.testing.assert_array_equal(out, 127 - np.arange(128))


def test_missing_barrier_is_a_race():
    out = np.zeros(128, np.int32)
    with pytest.raises(emu.RaceError) as ei:
        run_module(BARRIER_KERNEL.replace("BARRIER", ""), [np.int64(out.ctypes.data)], [out])
    assert "llvm.load" in str(ei.value)


def test_barrier_under_divergence_is_an_error():
    body = """
    %c7 = arith.constant 7 : i32
    %t32 = arith.index_cast %t : index to i32
    %cond = arith.cmpi slt, %t32, %c7 : i32
    scf.if %cond {
      gpu.barrier
    }
    %r = arith.addi %a0, %c7 : i32"""
    with pytest.raises(emu.DivergentBarrierError):
        run_lanes(body, ["i32"], "i32", [LANE])


def test_unknown_op_names_op_and_location():
    body = '%r = "mydialect.frobnicate"(%a0) : (i32) -> i32 loc("kern.py":42:3)'
    with pytest.raises(emu.UnsupportedOpError) as ei:
        run_lanes(body, ["i32"], "i32", [LANE])
    assert "mydialect.frobnicate" in str(ei.value) and "kern.py:42" in str(ei.value)


def test_divergent_choice_between_buffer_descriptors():
    """scf.if yielding a buffer descriptor per lane: each lane uses the one it chose."""
    text = """
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%a: !llvm.ptr<1>, %b: !llvm.ptr<1>, %out: !llvm.ptr<1>) kernel {
      %t = gpu.thread_id x
      %t32 = arith.index_cast %t : index to i32
      %ti = arith.index_cast %t : index to i64
      %s0 = arith.constant 0 : i16
      %nr = arith.constant 256 : i64
      %fl = arith.constant 159744 : i32
      %c0 = arith.constant 0 : i32
      %c2 = arith.constant 2 : i32
      %c4 = arith.constant 4 : i32
      %ga = llvm.addrspacecast %a : !llvm.ptr<1> to !llvm.ptr
      %gb = llvm.addrspacecast %b : !llvm.ptr<1> to !llvm.ptr
      %ra = rocdl.make.buffer.rsrc %ga, %s0, %nr, %fl : !llvm.ptr to <8>
      %rb = rocdl.make.buffer.rsrc %gb, %s0, %nr, %fl : !llvm.ptr to <8>
      %rem = arith.remui %t32, %c2 : i32
      %odd = arith.cmpi ne, %rem, %c0 : i32
      %r = scf.if %odd -> (!llvm.ptr<8>) {
        scf.yield %ra : !llvm.ptr<8>
      } else {
        scf.yield %rb : !llvm.ptr<8>
      }
      %off = arith.muli %t32, %c4 : i32
      %v = rocdl.raw.ptr.buffer.load %r, %off, %c0, 0 : i32
      %go = llvm.getelementptr %out[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i32
      llvm.store %v, %go : i32, !llvm.ptr<1>
      gpu.return
    }
  }
  func.func @host(%a: !llvm.ptr<1>, %b: !llvm.ptr<1>, %o: !llvm.ptr<1>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c64, %c1, %c1) args(%a : !llvm.ptr<1>, %b : !llvm.ptr<1>, %o : !llvm.ptr<1>)
    return
  }
}
"""
    a = np.arange(64, dtype=np.int32) + 1000
    b = -np.arange(64, dtype=np.int32)
    out = np.zeros(64, np.int32)
    run_module(text, [np.int64(a.ctypes.data), np.int64(b.ctypes.data), np.int64(out.ctypes.data)], [a, b, out])
    np.testing.assert_array_equal(out, np.where(LANE % 2 == 1, a, b))


def test_dynamic_shared_memory_and_lds_bounds():
    text = BARRIER_KERNEL.replace(
        "llvm.mlir.global internal @lds() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<512 x i8>",
        "llvm.mlir.global external @lds() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>",
    ).replace("BARRIER", "gpu.barrier").replace(
        "threads in (%c128, %c1, %c1) args",
        "threads in (%c128, %c1, %c1) dynamic_shared_memory_size %dyn args").replace(
        "    %c128 = arith.constant 128 : index\n", "    %c128 = arith.constant 128 : index\n"
        "    %dyn = arith.constant DYN : i32\n")
    out = np.zeros(128, np.int32)
    run_module(text.replace("DYN", "512"), [np.int64(out.ctypes.data)], [out])
    np.testing.assert_array_equal(out, 127 - np.arange(128))
    with pytest.raises(emu.OutOfBoundsError, match="LDS"):          # only 256 bytes: lanes 64.. are outside
        run_module(text.replace("DYN", "256"), [np.int64(out.ctypes.data)], [out])
