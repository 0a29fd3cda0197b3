"""Moving 16-bit floats moves their bits: every ``bf16`` and ``f16`` bit pattern,
NaN payloads (signalling and quiet) and infinities included, through loads and
stores on global pointers, buffer descriptors and LDS, and through ``bitcast``,
``vector.extract`` / ``vector.insert`` and ``arith.select``.

What the expectations rest on (CDNA3 ISA, gfx942 / gfx950): loads, stores,
``ds_read`` / ``ds_write`` and register moves copy bits; only arithmetic and
conversions (``v_add_f32``, ``v_cvt_*``, ``arith.truncf``) quiet a signalling
NaN.  So the reference is the input bytes themselves, rearranged by NumPy
indexing where an op moves elements; the last test checks that arithmetic
and ``truncf`` still quiet.
"""
import numpy as np
import pytest

from tests.emu.mlir_harness import SRC_DST_BUFFERS, run_lanes, run_module

pytestmark = pytest.mark.interpreter

#: (type name, exponent field mask): a pattern is a NaN or an infinity when every exponent bit is set.
FLOATS = {"bf16": 0x7F80, "f16": 0x7C00}
VEC = 8                                        # elements per lane: 16-byte accesses
LANES = 1024                                   # lanes per workgroup
ALL = 1 << 16


def every_pattern() -> np.ndarray:
    """All 65536 16-bit patterns, in a scrambled order (so neighbours differ in every bit)."""
    return (np.arange(ALL, dtype=np.uint32) * 40503 % ALL).astype(np.uint16)


def nan_and_inf_patterns(ty: str) -> np.ndarray:
    bits = np.arange(ALL, dtype=np.uint32).astype(np.uint16)
    mask = np.uint16(FLOATS[ty])
    return bits[(bits & mask) == mask]


def _lane_grid(n_values: int, per_lane: int):
    lanes = n_values // per_lane
    block = min(lanes, LANES)
    assert lanes % block == 0
    return lanes // block, block


# ------------------------------------------------------------ load -> store, per address space
COPY_KERNEL = """
module attributes {{gpu.container_module}} {{
  gpu.module @kernels {{
    llvm.mlir.global internal @lds() {{addr_space = 3 : i32, alignment = 16 : i64}} : !llvm.array<{lds_bytes} x i8>
    gpu.func @k(%src: !llvm.ptr<1>, %dst: !llvm.ptr<1>, %nrec: i64) kernel {{
      %t = gpu.thread_id x
      %b = gpu.block_id x
      %bd = gpu.block_dim x
      %g0 = arith.muli %b, %bd : index
      %g = arith.addi %g0, %t : index
      %gi = arith.index_cast %g : index to i64
      %ti = arith.index_cast %t : index to i64
{body}
      gpu.return
    }}
  }}
  func.func @host(%a: !llvm.ptr<1>, %c: !llvm.ptr<1>, %n: i64) {{
    %c1 = arith.constant 1 : index
    %cg = arith.constant {grid} : index
    %cb = arith.constant {block} : index
    gpu.launch_func @kernels::@k blocks in (%cg, %c1, %c1) threads in (%cb, %c1, %c1) args(%a : !llvm.ptr<1>, %c : !llvm.ptr<1>, %n : i64)
    return
  }}
}}
"""

GLOBAL_COPY = """
      %ps = llvm.getelementptr %src[%gi] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
      %pd = llvm.getelementptr %dst[%gi] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
      %v = llvm.load %ps : !llvm.ptr<1> -> {ty}
      llvm.store %v, %pd : {ty}, !llvm.ptr<1>"""

BUFFER_COPY = """
      %g32 = arith.index_cast %g : index to i32
      %sz = arith.constant {size} : i32
      %off = arith.muli %g32, %sz : i32""" + SRC_DST_BUFFERS.rstrip("\n") + """
      %v = rocdl.raw.ptr.buffer.load %rs, %off, %soff, 0 : {ty}
      rocdl.raw.ptr.buffer.store %v, %rd, %off, %soff, 0 : {ty}"""

LDS_COPY = """
      %ps = llvm.getelementptr %src[%gi] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
      %pd = llvm.getelementptr %dst[%gi] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
      %base = llvm.mlir.addressof @lds : !llvm.ptr<3>
      %pl = llvm.getelementptr %base[%ti] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, {ty}
      %v = llvm.load %ps : !llvm.ptr<1> -> {ty}
      llvm.store %v, %pl : {ty}, !llvm.ptr<3>
      %w = llvm.load %pl : !llvm.ptr<3> -> {ty}
      llvm.store %w, %pd : {ty}, !llvm.ptr<1>"""

SPACES = {"global": GLOBAL_COPY, "buffer": BUFFER_COPY, "lds": LDS_COPY}


def copy_through(space: str, ty: str, bits: np.ndarray, per_lane: int) -> np.ndarray:
    """``bits`` (uint16) loaded and stored back by ``space``'s ops, ``per_lane`` elements of
    ``ty`` per lane (a scalar or a ``vector<per_lane x ty>``); returns the destination."""
    mty = ty if per_lane == 1 else f"vector<{per_lane}x{ty}>"
    grid, block = _lane_grid(bits.size, per_lane)
    body = SPACES[space].format(ty=mty, size=2 * per_lane)
    text = COPY_KERNEL.format(body=body, grid=grid, block=block, lds_bytes=block * 2 * per_lane)
    src = np.ascontiguousarray(bits, np.uint16)
    dst = np.full_like(src, 0xA5A5)
    run_module(text, [np.int64(src.ctypes.data), np.int64(dst.ctypes.data), np.int64(src.nbytes)], [src, dst])
    return dst


@pytest.mark.parametrize("per_lane", [1, VEC], ids=["scalar", "vector8"])
@pytest.mark.parametrize("space", sorted(SPACES))
@pytest.mark.parametrize("ty", sorted(FLOATS))
def test_load_store_moves_every_nan_and_inf_pattern_unchanged(ty, space, per_lane):
    bits = nan_and_inf_patterns(ty)
    bits = np.resize(bits, -(-bits.size // (per_lane * 64)) * per_lane * 64)   # whole wavefronts
    np.testing.assert_array_equal(copy_through(space, ty, bits, per_lane), bits)


@pytest.mark.parametrize("space", sorted(SPACES))
@pytest.mark.parametrize("ty", sorted(FLOATS))
def test_16_byte_copies_move_every_bit_pattern_unchanged(ty, space):
    bits = every_pattern()
    np.testing.assert_array_equal(copy_through(space, ty, bits, VEC), bits)


# ------------------------------------------------------------ register moves
def _lanes_of(ty: str, per_lane: int) -> np.ndarray:
    """Every NaN and infinity pattern of ``ty``, ``per_lane`` to a lane, in whole wavefronts."""
    bits = nan_and_inf_patterns(ty)
    return np.resize(bits, (-(-bits.size // (per_lane * 64)) * 64, per_lane))


def _run_chunks(body, in_types, out_type, inputs):
    """``run_lanes`` over workgroups of at most ``LANES`` lanes; the outputs concatenated."""
    n = len(inputs[0])
    return np.concatenate([run_lanes(body, in_types, out_type, [a[i:i + LANES] for a in inputs])
                           for i in range(0, n, LANES)])


def _as_input(ty: str, bits: np.ndarray) -> np.ndarray:
    """The harness's memory view of ``ty``: bf16 as its uint16 bits, f16 as float16."""
    return bits if ty == "bf16" else bits.view(np.float16)


def _bits_of(got: np.ndarray) -> np.ndarray:
    return got.view(np.uint16)


@pytest.mark.parametrize("ty", sorted(FLOATS))
def test_bitcast_through_i128_and_back_keeps_the_bits(ty):
    x = _lanes_of(ty, VEC)
    body = f"""
    %i = llvm.bitcast %a0 : vector<8x{ty}> to i128
    %w = llvm.bitcast %i : i128 to vector<4xi32>
    %r = llvm.bitcast %w : vector<4xi32> to vector<8x{ty}>"""
    got = run_lanes(body, [f"vector<8x{ty}>"], f"vector<8x{ty}>", [_as_input(ty, x)])
    np.testing.assert_array_equal(_bits_of(got), x)


@pytest.mark.parametrize("ty", sorted(FLOATS))
def test_scalar_bitcast_to_i16_keeps_the_bits(ty):
    x = _lanes_of(ty, 1)[:, 0]
    got = _run_chunks(f"%r = arith.bitcast %a0 : {ty} to i16", [ty], "i16", [_as_input(ty, x)])
    np.testing.assert_array_equal(got.view(np.uint16), x)


@pytest.mark.parametrize("ty", sorted(FLOATS))
def test_wave_uniform_value_keeps_the_bits(ty):
    """A value every lane loads from one address (the interpreter may hold it once per wave),
    bitcast to i16 and selected."""
    body = f"""
    %c0 = arith.constant 0 : i64
    %pu = llvm.getelementptr %p0[%c0] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {ty}
    %u = llvm.load %pu : !llvm.ptr<1> -> {ty}
    %yes = arith.constant true
    %s = arith.select %yes, %u, %a0 : {ty}
    %r = arith.bitcast %s : {ty} to i16"""
    for bits in _signalling(ty)[:4].tolist() + [FLOATS[ty] | 0x8001]:
        x = np.full(64, bits, np.uint16)
        x[1:] = 0x3C00                            # only element 0 is read as the uniform value
        got = run_lanes(body, [ty], "i16", [_as_input(ty, x)])
        assert (got.view(np.uint16) == bits).all(), hex(bits)


@pytest.mark.parametrize("ty", sorted(FLOATS))
def test_extract_and_insert_move_elements_unchanged(ty):
    """Elements 0..7 of the result are elements 7..0 of the input: a reversal by extract/insert."""
    x = _lanes_of(ty, VEC)
    lines = []
    for i in range(VEC):                     # extract every element first, then insert into %a0 itself
        lines.append(f"%e{i} = vector.extract %a0[{VEC - 1 - i}] : {ty} from vector<8x{ty}>")
    for i in range(VEC):
        into, out = ("%a0" if i == 0 else f"%v{i}"), (f"%v{i + 1}" if i + 1 < VEC else "%r")
        lines.append(f"{out} = vector.insert %e{i}, {into} [{i}] : {ty} into vector<8x{ty}>")
    got = run_lanes("\n".join(lines), [f"vector<8x{ty}>"], f"vector<8x{ty}>", [_as_input(ty, x)])
    np.testing.assert_array_equal(_bits_of(got), x[:, ::-1])


@pytest.mark.parametrize("ty", sorted(FLOATS))
def test_select_moves_the_chosen_operand_unchanged(ty):
    """Even lanes take the first operand, odd lanes the second."""
    x = _lanes_of(ty, 1)[:, 0]
    y = x[::-1].copy()
    body = f"""
    %t32 = arith.index_cast %t : index to i32
    %one = arith.constant 1 : i32
    %odd = arith.andi %t32, %one : i32
    %zero = arith.constant 0 : i32
    %even = arith.cmpi eq, %odd, %zero : i32
    %r = arith.select %even, %a0, %a1 : {ty}"""
    got = _run_chunks(body, [ty, ty], ty, [_as_input(ty, x), _as_input(ty, y)])
    lane = np.arange(x.size) % LANES
    np.testing.assert_array_equal(_bits_of(got), np.where(lane % 2 == 0, x, y))


# ------------------------------------------------------------ arithmetic still quiets
def _signalling(ty: str) -> np.ndarray:
    """Every signalling NaN pattern: exponent all ones, quiet bit clear, payload non-zero."""
    bits = nan_and_inf_patterns(ty)
    quiet = np.uint16(0x0040 if ty == "bf16" else 0x0200)
    return bits[((bits & quiet) == 0) & ((bits & np.uint16(~FLOATS[ty] & 0x7FFF & ~quiet)) != 0)]


@pytest.mark.parametrize("ty", sorted(FLOATS))
def test_arithmetic_quiets_a_signalling_nan(ty):
    """x + 0.0 of a signalling NaN is that NaN with the quiet bit set (IEEE 754; v_add_f32)."""
    x = np.resize(_signalling(ty), 128)
    quiet = np.uint16(0x0040 if ty == "bf16" else 0x0200)
    body = f"""
    %z = arith.constant 0.0 : {ty}
    %r = arith.addf %a0, %z : {ty}"""
    got = run_lanes(body, [ty], ty, [_as_input(ty, x)])
    np.testing.assert_array_equal(_bits_of(got), x | quiet)


def test_truncf_to_bf16_quiets_a_signalling_nan():
    """truncf f32 -> bf16 of a NaN keeps its sign and top payload bits and sets the quiet bit."""
    hi = np.resize(_signalling("bf16"), 128).astype(np.uint32)
    x = ((hi << 16) | np.uint32(0x1234)).view(np.float32)
    got = run_lanes("%r = arith.truncf %a0 : f32 to bf16", ["f32"], "bf16", [x])
    np.testing.assert_array_equal(got, (hi | 0x0040).astype(np.uint16))
