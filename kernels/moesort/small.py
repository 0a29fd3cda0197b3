"""The small-T path: one kernel, the sort done by workgroup 0 in LDS.

Workgroup 0 (``small_block(E)`` threads):

1. reads M from the ``num_local_tokens`` tensor and clears the first M rows
   of an M x E int32 mesh in LDS;
2. fills it: thread per (token, slot) assignment writes ``slot + 1`` into
   ``mesh[token * E + expert]`` (ids outside [0, E) and masked experts are
   skipped; rows are unique by contract, so no cell is written twice);
3. counts: thread per expert (E > threads: several constexpr chunks) walks its
   mesh column over the M rows;
4. prefix sum of the padded counts (and, in EP mode, of the expert mask, which
   gives the local expert id) with :func:`dsl.block_scan` (intra-wave DPP,
   cross-wave LDS), carried across expert chunks;
5. scatters: the thread of expert e walks its column again and writes the
   packed ids and weights at ``offset[e]...``, then the sentinels up to the
   padded end, then its ``sorted_expert_ids`` blocks.  Every output position
   is written exactly once, by one thread.

Workgroups 1.. zero ``moe_buf`` with a grid-stride 16-byte store loop.
Kernel arguments carry every buffer's exact size, so masked-off stores fall
outside ``num_records``.
"""
import functools

import flydsl.compiler as flyc
import flydsl.expr as fx
from flydsl.expr import gpu, range_constexpr

from . import dsl
from .dsl import i32
from .paths import SCAN_SCRATCH_BYTES, WAVE, small_block, small_mesh_rows


def s32(x: int) -> int:
    """``x`` (0 <= x < 2**32) as the signed 32-bit value with the same bits."""
    return x - (1 << 32) if x >= (1 << 31) else x


@functools.lru_cache(maxsize=None)
def build_small(num_experts: int, topk: int, unit_size: int, has_mask: bool, target: str, byte_tail: bool):
    """The small path's ``@flyc.jit`` launcher for one specialization.

    Launcher arguments: ``(topk_ids, topk_weights_i32, sorted_ids,
    sorted_weights_i32, sorted_expert_ids, num_valid_ids, moe_buf_u8,
    expert_mask, num_local_tokens, n_in, n_out, n_blocks, n_mask, moe_bytes, grid)``
    where ``num_local_tokens`` is the one-element int32 tensor the kernel reads
    M from, the ``n_*`` are element counts of the buffers, ``moe_bytes`` the byte size
    of ``moe_buf`` and ``grid`` = 1 + the number of zeroing workgroups.
    """
    E = num_experts
    BLOCK = small_block(E)
    NW = BLOCK // WAVE
    ROWS = small_mesh_rows(E, topk, target)
    NCH = -(-E // BLOCK)
    SENTINEL_HI = s32(topk << 24)

    @fx.struct
    class SmallLds:
        mesh: fx.Array[fx.Int32, ROWS * E, 16]
        scratch: fx.Array[fx.Int32, SCAN_SCRATCH_BYTES // 4, 16]

    @flyc.kernel(known_block_size=[BLOCK, 1, 1])
    def moesort_small(
        topk_ids: fx.Tensor,
        topk_weights: fx.Tensor,
        sorted_ids: fx.Tensor,
        sorted_weights: fx.Tensor,
        sorted_expert_ids: fx.Tensor,
        num_valid_ids: fx.Tensor,
        moe_buf: fx.Tensor,
        expert_mask: fx.Tensor,
        num_local_tokens: fx.Tensor,
        n_in: fx.Int32,
        n_out: fx.Int32,
        n_blocks: fx.Int32,
        n_mask: fx.Int32,
        moe_bytes: fx.Int32,
    ):
        tid = fx.Int32(gpu.thread_idx.x)
        bid = fx.Int32(gpu.block_idx.x)
        lane = tid % i32(WAVE)
        wave = tid // i32(WAVE)
        c4 = i32(4)
        ids_r = dsl.buffer(topk_ids, n_in * c4)
        w_r = dsl.buffer(topk_weights, n_in * c4)
        sid_r = dsl.buffer(sorted_ids, n_out * c4)
        sw_r = dsl.buffer(sorted_weights, n_out * c4)
        se_r = dsl.buffer(sorted_expert_ids, n_blocks * c4)
        nv_r = dsl.buffer(num_valid_ids, i32(8))
        mask_r = dsl.buffer(expert_mask, n_mask * c4)
        mb_r = dsl.buffer(moe_buf, moe_bytes)

        if bid == i32(0):
            m = dsl.local_tokens(num_local_tokens, n_in, topk)
            lds = fx.SharedAllocator().allocate(SmallLds).peek()
            mesh = lds.mesh.ptr
            scratch = lds.scratch.ptr
            c_e = i32(E)
            sentinel = i32(SENTINEL_HI) | m

            # 1. clear the M used rows of the mesh
            ncell = m * c_e
            for c in range((ncell + i32(BLOCK - 1)) // i32(BLOCK)):
                cell = fx.Int32(c) * i32(BLOCK) + tid
                if cell < ncell:
                    dsl.lds_store(mesh, cell, i32(0))
            gpu.barrier()

            # 2. fill: mesh[token, expert] = slot + 1
            nas = m * i32(topk)
            for c in range((nas + i32(BLOCK - 1)) // i32(BLOCK)):
                a = fx.Int32(c) * i32(BLOCK) + tid
                ok = a < nas
                e = dsl.load(ids_r, a, ok)
                ok = ok & (e >= i32(0)) & (e < c_e)
                if has_mask:
                    ok = ok & (dsl.load(mask_r, e, ok) != i32(0))
                if ok:
                    dsl.lds_store(mesh, (a // i32(topk)) * c_e + e, a % i32(topk) + i32(1))
            gpu.barrier()

            # 3. count per expert (thread per expert, chunks of BLOCK experts)
            cnts = []
            for ch in range_constexpr(NCH):
                e = i32(ch * BLOCK) + tid
                live = e < c_e
                col = live.select(e, i32(E - 1))
                cnt = i32(0)
                for t in range(live.select(m, i32(0))):
                    x = dsl.lds_load(mesh, fx.Int32(t) * c_e + col)
                    cnt = cnt + (x != i32(0)).select(i32(1), i32(0))
                cnts.append(cnt)

            # 4. prefix sums over experts: padded counts, and the mask (local ids)
            offs = []
            lids = []
            carry = i32(0)
            carry_lid = i32(0)
            for ch in range_constexpr(NCH):
                e = i32(ch * BLOCK) + tid
                live = e < c_e
                vals = [dsl.round_up(cnts[ch], unit_size)]
                if has_mask:
                    on = dsl.load(mask_r, e, live) != i32(0)
                    vals.append((live & on).select(i32(1), i32(0)))
                excl, tots = dsl.block_scan(vals, lane, wave, scratch, NW)
                offs.append(carry + excl[0])
                carry = carry + tots[0]
                if has_mask:
                    lids.append(carry_lid + excl[1])
                    carry_lid = carry_lid + tots[1]
                else:
                    lids.append(e)

            # 5. scatter ids and weights, pad with sentinels, write block ids
            for ch in range_constexpr(NCH):
                e = i32(ch * BLOCK) + tid
                live = e < c_e
                col = live.select(e, i32(E - 1))
                start = offs[ch]
                end = start + dsl.round_up(cnts[ch], unit_size)
                pos = start
                for t in range(live.select(m, i32(0))):
                    tok = fx.Int32(t)
                    x = dsl.lds_load(mesh, tok * c_e + col)
                    has = x != i32(0)
                    if has:
                        slot = x - i32(1)
                        dsl.store((slot << i32(24)) | tok, sid_r, pos)
                        dsl.store(dsl.load(w_r, tok * i32(topk) + slot), sw_r, pos)
                    pos = has.select(pos + i32(1), pos)
                for p in range(pos, end):
                    dsl.store(sentinel, sid_r, fx.Int32(p))
                    dsl.store(i32(0), sw_r, fx.Int32(p))
                for b in range(start // i32(unit_size), end // i32(unit_size)):
                    dsl.store(lids[ch], se_r, fx.Int32(b))

            if tid == i32(0):
                dsl.store(carry, nv_r, i32(0))
                dsl.store(m, nv_r, i32(1))
        else:
            nthreads = (fx.Int32(gpu.grid_dim.x) - i32(1)) * i32(BLOCK)
            gid = (bid - i32(1)) * i32(BLOCK) + tid
            dsl.zero_moe_buf(mb_r, gid, nthreads, moe_bytes, byte_tail)

    @flyc.jit
    def launch_small(
        topk_ids: fx.Tensor,
        topk_weights: fx.Tensor,
        sorted_ids: fx.Tensor,
        sorted_weights: fx.Tensor,
        sorted_expert_ids: fx.Tensor,
        num_valid_ids: fx.Tensor,
        moe_buf: fx.Tensor,
        expert_mask: fx.Tensor,
        num_local_tokens: fx.Tensor,
        n_in: fx.Int32,
        n_out: fx.Int32,
        n_blocks: fx.Int32,
        n_mask: fx.Int32,
        moe_bytes: fx.Int32,
        grid: fx.Int32,
        stream: fx.Stream = fx.Stream(None),
    ):
        moesort_small(
            topk_ids, topk_weights, sorted_ids, sorted_weights, sorted_expert_ids,
            num_valid_ids, moe_buf, expert_mask, num_local_tokens, n_in, n_out, n_blocks, n_mask, moe_bytes,
        ).launch(grid=(grid, 1, 1), block=(BLOCK, 1, 1), stream=stream)

    return launch_small
