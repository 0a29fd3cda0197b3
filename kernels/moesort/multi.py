"""The medium and large paths: several kernels through an HBM workspace.

Every kernel reads M from the one-element int32 tensor ``num_local_tokens``
(:func:`dsl.local_tokens`); grids depend on T, E and topk only.

Workspace (:func:`paths.workspace_elems` int32, sized for M = T): an E x S mesh of one-byte
cells with S = M rounded up to 16 (16-byte rows, zeroed and read with
16-byte accesses): byte ``e * S + t`` = slot + 1 of token t on expert e
(0: none; slot + 1 <= 255 as topk <= 255), then the E per-expert token counts
(int32) at int32 index ``E * S / 4 + e``.  Masked experts and ids outside
[0, E) never enter the mesh, so their counts are 0.

medium (2 kernels):
  ``moesort_rows``  one workgroup per group of ``GROUP`` = 8 experts: zeroes
                    the group's mesh rows, then (barrier) makes one coalesced
                    pass over topk_ids (thread per assignment) scattering the
                    group's tokens into their rows, then (barrier) counts each
                    row (block reduction).  A workgroup touches only its own
                    rows, so no cross-workgroup clear is needed: two kernels.
                    Scan cost: ceil(E / 8) x M x topk loads, which is why this
                    path stops at M = 2048.
  ``moesort_final`` see below.
large (4 kernels):
  ``moesort_clear``   grid-stride zero of the mesh;
  ``moesort_scatter`` thread per (token, slot) of the T rows, those of rows < M: byte ``e * S + t`` = slot + 1
                      (rows are unique by contract: no cell written twice);
  ``moesort_count``   one workgroup per expert: counts its mesh row;
  ``moesort_final``   see below.

``moesort_final`` (grid E + zeroing workgroups): workgroup e < E reduces the
padded counts (and, in EP mode, the mask) of experts below it to get its
offset and local id — a parallel prefix sum over experts, one workgroup per
expert — then scatters its row in token order, 16 tokens (one 16-byte load) per
thread per step, with a block-wide exclusive scan (DPP + cross-wave LDS) of the
threads' hit counts, writes its sentinels and its
``sorted_expert_ids`` blocks; workgroup 0 writes ``num_valid_ids``.
Workgroups >= E zero ``moe_buf``.  Each output position is written once.
"""
import functools

import flydsl.compiler as flyc
import flydsl.expr as fx
from flydsl.expr import gpu, range_constexpr

from . import dsl
from .dsl import i32
from .paths import MULTI_BLOCK, SCAN_SCRATCH_BYTES, WAVE
from .small import s32

BLOCK = MULTI_BLOCK
NW = BLOCK // WAVE
#: Experts per workgroup of the medium path's first kernel (<= SCAN_SCRATCH_BYTES / (4 * NW)).
GROUP = 8


@fx.struct
class ScanLds:
    scratch: fx.Array[fx.Int32, SCAN_SCRATCH_BYTES // 4, 16]


def tid_x():
    return fx.Int32(gpu.thread_idx.x)


def _ids():
    """(thread id, workgroup id, lane, wave) as Int32."""
    tid = tid_x()
    bid = fx.Int32(gpu.block_idx.x)
    return tid, bid, tid % i32(WAVE), tid // i32(WAVE)


def _ceil_div(a, b: int):
    return (a + i32(b - 1)) // i32(b)


def _stride(m):
    """Mesh row stride in byte cells: M rounded up to 16 (see ``paths.mesh_stride``)."""
    return (m + i32(15)) // i32(16) * i32(16)


@flyc.jit
def _count_row(ws_r, row, live, ms):
    """Nonzero byte cells of one mesh row (starting at byte ``row``, a multiple
    of 16), this thread's share: 16-byte loads strided over the workgroup."""
    q16 = ms // i32(16)
    acc = i32(0)
    for c in range(_ceil_div(q16, BLOCK)):
        q = fx.Int32(c) * i32(BLOCK) + tid_x()
        cells = dsl.bytes_of(dsl.load_v4(ws_r, row // i32(16) + q, live & (q < q16)))
        for j in range_constexpr(16):
            acc = acc + (cells[j] != i32(0)).select(i32(1), i32(0))
    return acc


@functools.lru_cache(maxsize=None)
def build_multi(num_experts: int, topk: int, unit_size: int, has_mask: bool, byte_tail: bool):
    """``(launch_medium, launch_large)``: ``@flyc.jit`` launchers of one
    specialization.  Both take ``(topk_ids, topk_weights_i32, sorted_ids,
    sorted_weights_i32, sorted_expert_ids, num_valid_ids, moe_buf_u8,
    expert_mask, workspace, num_local_tokens, n_in, n_out, n_blocks, n_mask, moe_bytes,
    ws_elems, zero_grid, aux_grid)``; ``aux_grid`` is the grid of the large
    path's clear kernel (ignored by medium)."""
    E = num_experts
    NCH = -(-E // BLOCK)
    SENTINEL_HI = s32(topk << 24)
    UNIT_STEPS = -(-unit_size // BLOCK)
    ROW_GROUPS = -(-E // GROUP)

    @flyc.kernel(known_block_size=[BLOCK, 1, 1])
    def moesort_rows(
        topk_ids: fx.Tensor, expert_mask: fx.Tensor, workspace: fx.Tensor,
        num_local_tokens: fx.Tensor, n_in: fx.Int32, n_mask: fx.Int32, ws_elems: fx.Int32,
    ):
        tid, g, lane, wave = _ids()
        m = dsl.local_tokens(num_local_tokens, n_in, topk)
        ids_r = dsl.buffer(topk_ids, n_in * i32(4))
        mask_r = dsl.buffer(expert_mask, n_mask * i32(4))
        ws_r = dsl.buffer(workspace, ws_elems * i32(4))
        scratch = fx.SharedAllocator().allocate(ScanLds).peek().scratch.ptr
        c_e = i32(E)
        first = g * i32(GROUP)
        last = (first + i32(GROUP) < c_e).select(first + i32(GROUP), c_e)  # one past the group
        ms = _stride(m)
        # 1. zero the group's rows (bytes [first * S, last * S), 16-byte stores)
        span16 = (last - first) * (ms // i32(16))
        for c in range(_ceil_div(span16, BLOCK)):
            i = fx.Int32(c) * i32(BLOCK) + tid
            dsl.store_zero_v4(ws_r, first * (ms // i32(16)) + i, i < span16)
        gpu.barrier()
        # 2. one coalesced pass over topk_ids marks the group's tokens
        nas = m * i32(topk)
        for c in range(_ceil_div(nas, BLOCK)):
            a = fx.Int32(c) * i32(BLOCK) + tid
            ok = a < nas
            e = dsl.load(ids_r, a, ok)
            hit = ok & (e >= first) & (e < last)
            if has_mask:
                hit = hit & (dsl.load(mask_r, e, hit) != i32(0))
            dsl.store_byte(a % i32(topk) + i32(1), ws_r, e * ms + a // i32(topk), hit)
        gpu.barrier()
        # 3. count each row of the group
        accs = []
        for k in range_constexpr(GROUP):
            accs.append(_count_row(ws_r, (first + i32(k)) * ms, first + i32(k) < last, ms))
        _, tots = dsl.block_scan(accs, lane, wave, scratch, NW)
        for k in range_constexpr(GROUP):
            dsl.store(tots[k], ws_r, c_e * (ms // i32(4)) + first + i32(k), (tid == i32(0)) & (first + i32(k) < last))

    @flyc.kernel(known_block_size=[BLOCK, 1, 1])
    def moesort_clear(workspace: fx.Tensor, num_local_tokens: fx.Tensor, n_in: fx.Int32, ws_elems: fx.Int32):
        tid, bid, _, _ = _ids()
        m = dsl.local_tokens(num_local_tokens, n_in, topk)
        ws_r = dsl.buffer(workspace, ws_elems * i32(4))
        nthreads = fx.Int32(gpu.grid_dim.x) * i32(BLOCK)
        gid = bid * i32(BLOCK) + tid
        n16 = i32(E) * (_stride(m) // i32(16))
        for s in range((n16 + nthreads - i32(1)) // nthreads):
            idx = fx.Int32(s) * nthreads + gid
            dsl.store_zero_v4(ws_r, idx, idx < n16)

    @flyc.kernel(known_block_size=[BLOCK, 1, 1])
    def moesort_scatter(
        topk_ids: fx.Tensor, expert_mask: fx.Tensor, workspace: fx.Tensor,
        num_local_tokens: fx.Tensor, n_in: fx.Int32, n_mask: fx.Int32, ws_elems: fx.Int32,
    ):
        tid, bid, _, _ = _ids()
        m = dsl.local_tokens(num_local_tokens, n_in, topk)
        ids_r = dsl.buffer(topk_ids, n_in * i32(4))
        mask_r = dsl.buffer(expert_mask, n_mask * i32(4))
        ws_r = dsl.buffer(workspace, ws_elems * i32(4))
        a = bid * i32(BLOCK) + tid
        ok = a < m * i32(topk)
        e = dsl.load(ids_r, a, ok)
        ok = ok & (e >= i32(0)) & (e < i32(E))
        if has_mask:
            ok = ok & (dsl.load(mask_r, e, ok) != i32(0))
        dsl.store_byte(a % i32(topk) + i32(1), ws_r, e * _stride(m) + a // i32(topk), ok)

    @flyc.kernel(known_block_size=[BLOCK, 1, 1])
    def moesort_count(workspace: fx.Tensor, num_local_tokens: fx.Tensor, n_in: fx.Int32, ws_elems: fx.Int32):
        tid, e, lane, wave = _ids()
        m = dsl.local_tokens(num_local_tokens, n_in, topk)
        ws_r = dsl.buffer(workspace, ws_elems * i32(4))
        scratch = fx.SharedAllocator().allocate(ScanLds).peek().scratch.ptr
        ms = _stride(m)
        acc = _count_row(ws_r, e * ms, e >= i32(0), ms)
        _, tots = dsl.block_scan([acc], lane, wave, scratch, NW)
        dsl.store(tots[0], ws_r, i32(E) * (ms // i32(4)) + e, tid == i32(0))

    @flyc.kernel(known_block_size=[BLOCK, 1, 1])
    def moesort_final(
        topk_weights: fx.Tensor, sorted_ids: fx.Tensor, sorted_weights: fx.Tensor,
        sorted_expert_ids: fx.Tensor, num_valid_ids: fx.Tensor, moe_buf: fx.Tensor,
        expert_mask: fx.Tensor, workspace: fx.Tensor,
        num_local_tokens: fx.Tensor, n_in: fx.Int32, n_out: fx.Int32, n_blocks: fx.Int32,
        n_mask: fx.Int32, moe_bytes: fx.Int32, ws_elems: fx.Int32,
    ):
        tid, bid, lane, wave = _ids()
        m = dsl.local_tokens(num_local_tokens, n_in, topk)
        c4 = i32(4)
        w_r = dsl.buffer(topk_weights, n_in * c4)
        sid_r = dsl.buffer(sorted_ids, n_out * c4)
        sw_r = dsl.buffer(sorted_weights, n_out * c4)
        se_r = dsl.buffer(sorted_expert_ids, n_blocks * c4)
        nv_r = dsl.buffer(num_valid_ids, i32(8))
        mask_r = dsl.buffer(expert_mask, n_mask * c4)
        mb_r = dsl.buffer(moe_buf, moe_bytes)
        ws_r = dsl.buffer(workspace, ws_elems * c4)
        c_e = i32(E)
        if bid < c_e:
            e = bid
            scratch = fx.SharedAllocator().allocate(ScanLds).peek().scratch.ptr
            ms = _stride(m)
            q16 = ms // i32(16)
            counts = c_e * (ms // i32(4))
            # offset, total and local id: reductions over the experts
            acc_off = i32(0)
            acc_tot = i32(0)
            acc_lid = i32(0)
            for ch in range_constexpr(NCH):
                j = i32(ch * BLOCK) + tid
                live = j < c_e
                pj = dsl.round_up(dsl.load(ws_r, counts + j, live), unit_size)
                before = j < e
                acc_tot = acc_tot + pj
                acc_off = acc_off + before.select(pj, i32(0))
                if has_mask:
                    on = dsl.load(mask_r, j, before) != i32(0)
                    acc_lid = acc_lid + (before & on).select(i32(1), i32(0))
            _, tots = dsl.block_scan([acc_off, acc_tot, acc_lid], lane, wave, scratch, NW)
            off = tots[0]
            total = tots[1]
            lid = e
            if has_mask:
                lid = tots[2]
            cnt = dsl.load(ws_r, counts + e)
            # scatter row e in token order: 16 consecutive tokens per thread per step
            base = off
            steps = (cnt > i32(0)).select(_ceil_div(q16, BLOCK), i32(0))
            for c in range(steps):
                q = fx.Int32(c) * i32(BLOCK) + tid
                xs = dsl.bytes_of(dsl.load_v4(ws_r, e * q16 + q, q < q16))
                n = i32(0)
                for j in range_constexpr(16):
                    n = n + (xs[j] != i32(0)).select(i32(1), i32(0))
                excl, step_tot = dsl.block_scan([n], lane, wave, scratch, NW)
                pos = base + excl[0]
                for j in range_constexpr(16):
                    has = xs[j] != i32(0)
                    t = q * i32(16) + i32(j)
                    slot = xs[j] - i32(1)
                    dsl.store((slot << i32(24)) | t, sid_r, pos, has)
                    dsl.store(dsl.load(w_r, t * i32(topk) + slot, has), sw_r, pos, has)
                    pos = pos + has.select(i32(1), i32(0))
                base = base + step_tot[0]
            # sentinels after the tokens, up to the padded end
            padded = dsl.round_up(cnt, unit_size)
            sentinel = i32(SENTINEL_HI) | m
            for u in range_constexpr(UNIT_STEPS):
                q = cnt + i32(u * BLOCK) + tid
                pad = q < padded
                dsl.store(sentinel, sid_r, off + q, pad)
                dsl.store(i32(0), sw_r, off + q, pad)
            # one sorted_expert_ids entry per block of this expert
            nblk = padded // i32(unit_size)
            first = off // i32(unit_size)
            for b in range(_ceil_div(nblk, BLOCK)):
                bi = fx.Int32(b) * i32(BLOCK) + tid
                dsl.store(lid, se_r, first + bi, bi < nblk)
            head = (e == i32(0)) & (tid == i32(0))
            dsl.store(total, nv_r, i32(0), head)
            dsl.store(m, nv_r, i32(1), head)
        else:
            nthreads = (fx.Int32(gpu.grid_dim.x) - c_e) * i32(BLOCK)
            gid = (bid - c_e) * i32(BLOCK) + tid
            dsl.zero_moe_buf(mb_r, gid, nthreads, moe_bytes, byte_tail)

    @flyc.jit
    def launch_medium(
        topk_ids: fx.Tensor, topk_weights: fx.Tensor, sorted_ids: fx.Tensor,
        sorted_weights: fx.Tensor, sorted_expert_ids: fx.Tensor, num_valid_ids: fx.Tensor,
        moe_buf: fx.Tensor, expert_mask: fx.Tensor, workspace: fx.Tensor,
        num_local_tokens: fx.Tensor, n_in: fx.Int32, n_out: fx.Int32, n_blocks: fx.Int32, n_mask: fx.Int32,
        moe_bytes: fx.Int32, ws_elems: fx.Int32, zero_grid: fx.Int32, aux_grid: fx.Int32,
        stream: fx.Stream = fx.Stream(None),
    ):
        moesort_rows(topk_ids, expert_mask, workspace, num_local_tokens, n_in, n_mask, ws_elems).launch(
            grid=(ROW_GROUPS, 1, 1), block=(BLOCK, 1, 1), stream=stream)
        moesort_final(
            topk_weights, sorted_ids, sorted_weights, sorted_expert_ids, num_valid_ids, moe_buf,
            expert_mask, workspace, num_local_tokens, n_in, n_out, n_blocks, n_mask, moe_bytes, ws_elems,
        ).launch(grid=(E + zero_grid, 1, 1), block=(BLOCK, 1, 1), stream=stream)

    @flyc.jit
    def launch_large(
        topk_ids: fx.Tensor, topk_weights: fx.Tensor, sorted_ids: fx.Tensor,
        sorted_weights: fx.Tensor, sorted_expert_ids: fx.Tensor, num_valid_ids: fx.Tensor,
        moe_buf: fx.Tensor, expert_mask: fx.Tensor, workspace: fx.Tensor,
        num_local_tokens: fx.Tensor, n_in: fx.Int32, n_out: fx.Int32, n_blocks: fx.Int32, n_mask: fx.Int32,
        moe_bytes: fx.Int32, ws_elems: fx.Int32, zero_grid: fx.Int32, aux_grid: fx.Int32,
        stream: fx.Stream = fx.Stream(None),
    ):
        moesort_clear(workspace, num_local_tokens, n_in, ws_elems).launch(
            grid=(aux_grid, 1, 1), block=(BLOCK, 1, 1), stream=stream)
        moesort_scatter(topk_ids, expert_mask, workspace, num_local_tokens, n_in, n_mask, ws_elems).launch(
            grid=((n_in + (BLOCK - 1)) // BLOCK, 1, 1), block=(BLOCK, 1, 1), stream=stream)
        moesort_count(workspace, num_local_tokens, n_in, ws_elems).launch(
            grid=(E, 1, 1), block=(BLOCK, 1, 1), stream=stream)
        moesort_final(
            topk_weights, sorted_ids, sorted_weights, sorted_expert_ids, num_valid_ids, moe_buf,
            expert_mask, workspace, num_local_tokens, n_in, n_out, n_blocks, n_mask, moe_bytes, ws_elems,
        ).launch(grid=(E + zero_grid, 1, 1), block=(BLOCK, 1, 1), stream=stream)

    return launch_medium, launch_large
