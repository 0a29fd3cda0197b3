"""The memory model's shortcuts give what its general paths give: contents, findings, shadows."""
import numpy as np

from kernels.emu.memory import LDS, Accessor, Allocation, GlobalMemory, global_race, lds_race

INFO = ("test.op", "loc")


class Log(list):
    """A recording reporter: (check, message, lane, count) per finding."""

    kernel = "k"

    def __call__(self, check, message, info, **kw):
        self.append((check, message, kw.get("lane"), kw.get("count")))


def _lds():
    lds = LDS(256, 64, True, copies=2, lanes_per_wg=128)
    lds.report = Log()
    return lds


def _lds_scenario(lds, offset, where):
    """Wave 0 of both workgroup copies stores a word; then one lane of each wave of both copies
    (the representatives of a uniform load) reads ``where`` given as ``offset(reps)``."""
    lds.write(np.array([12, 12]), np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.uint8), np.array([0, 128]), 0, 256, INFO)
    reps = np.array([0, 64, 128, 192])
    return lds.read(offset(reps, where), 4, reps, 0, 256, INFO, np.full(4, 64))


def _same_lds(a, b):
    return all(np.array_equal(getattr(a, n), getattr(b, n)) for n in ("mem", "epoch")) and \
        np.array_equal(a.uninit.written, b.uninit.written) and \
        all(np.array_equal(getattr(a.race, n), getattr(b.race, n)) for n in ("wr_ep", "wr_wave", "rd_ep", "rd_wave"))


def test_lds_read_of_one_offset_matches_the_per_lane_read():
    for where in (12, 16, 14, 254):          # raced word, unwritten word, unaligned, outside the allocation
        a, b = _lds(), _lds()
        got = _lds_scenario(a, lambda reps, w: w, where)
        want = _lds_scenario(b, lambda reps, w: np.full(reps.shape[0], w, np.int64), where)
        assert np.array_equal(got, want)
        assert a.report == b.report
        assert _same_lds(a, b)
    a = _lds()
    _lds_scenario(a, lambda reps, w: w, 12)
    assert [f[0] for f in a.report] == ["lds-race"]


def _global_scenario(monkeypatch, limit):
    """Workgroup 0 reads 16 bytes (two waves), workgroup 1 then writes 4 of them; the read is
    logged (large limit) or applied at once (limit 0)."""
    monkeypatch.setattr(global_race, "PENDING_LIMIT", limit)
    buf = np.zeros(64, np.uint8)
    gm = GlobalMemory([Allocation(buf.ctypes.data, 64, "t")])
    gm.report = Log()
    gm.begin_launch()
    base = buf.ctypes.data
    lanes = np.arange(4)
    out = gm.read(base + 4 * lanes, 4, INFO, Accessor(0, np.array([0, 0, 1, 1]), 1, lanes))
    gm.write(np.array([base + 4, base + 32]), np.full((2, 4), 7, np.uint8), INFO, Accessor(1, 0, 1, np.array([0, 1])))
    shadows = _race_shadows(gm)
    return out, list(gm.report), shadows, buf.copy()


def test_global_read_log_and_shadows_agree(monkeypatch):
    logged = _global_scenario(monkeypatch, 1 << 30)
    applied = _global_scenario(monkeypatch, 0)
    assert np.array_equal(logged[0], applied[0])
    assert logged[1] == applied[1] and [f[0] for f in logged[1]] == ["global-race"]
    assert all(np.array_equal(x, y) for x, y in zip(logged[2], applied[2]))
    assert np.array_equal(logged[3], applied[3])


def _race_shadows(gm):
    """Copies of every race shadow of every allocation of ``gm``."""
    return [getattr(gm.race.shadow(a), n).copy() for a in gm.allocs
            for n in ("wr", "rd", "wr_wv", "wr_ep", "rd_wv", "rd_ep")]


def test_read_log_counts_each_array_once():
    seen, log = set(), []                    # the log keeps its arrays alive, so their ids stay theirs
    shared = np.zeros(10, np.int64)
    log.append((np.zeros(4, np.int64), shared, 3, None, np.zeros(5, np.int32)))
    assert global_race._new_bytes(seen, log[-1]) == 132
    log.append((np.zeros(2, np.int64), shared))
    assert global_race._new_bytes(seen, log[-1]) == 16


def test_repeat_checks():
    assert not global_race._may_share_bytes(np.array([0, 4, 8]), 4)
    assert global_race._may_share_bytes(np.array([0, 2, 8]), 4)
    assert global_race._may_share_bytes(np.array([8, 0]), 4)
    assert not global_race._may_share_bytes(np.array([5]), 4)
    assert not lds_race._repeats(np.array([1, 2, 9]))
    assert lds_race._repeats(np.array([1, 1, 9]))
    assert lds_race._repeats(np.array([3, 2]))


def _two_workgroups(allocations):
    """(global memory over ``allocations``, the findings log, the context of a batch of two
    workgroups of 128 lanes in waves of 64, with ``strict_buffers``), for buffer scenarios."""
    from kernels.emu.simt import WG

    gm = GlobalMemory(allocations)
    log = gm.report = Log()
    gm.begin_launch()
    lds = LDS(16, 64, True, copies=2, lanes_per_wg=128)
    lds.report = log
    X = WG(128, 64, 128, (128, 1, 1), 2, lds, gm, True, None, None, None)
    X.strict_buffers = True
    X.report = log
    X.set_workgroups([0, 1], (2, 1, 1))
    return gm, log, X


def _buffer_scenario(monkeypatch, general):
    """Two workgroups of 128 lanes (waves of 64) access a 64-byte tensor through a descriptor
    of 48 bytes, masked lanes using the out-of-range offset 0x7FFFFFFC, with ``strict_buffers``:
    a mostly-masked int32 store (two lanes in range, one just past the end, inactive lanes), a
    mostly-masked dwordx4 load (one lane half in range, one racing the store), then a fully
    masked store and bf16 load.  ``general``: every active lane goes through the range check
    (no narrowing to the lanes near the buffer, no lean path)."""
    from kernels.emu import semantics
    from kernels.emu.runtime import buffers
    from kernels.emu.runtime.lanes import lanes

    if general:
        monkeypatch.setattr(buffers, "_near_lanes", lambda X, rsrc, voff, m, gran: lanes(X, m))
        monkeypatch.setattr(buffers, "_lean_access", lambda *args: None)
    buf = np.arange(64, dtype=np.uint8)
    gm, log, X = _two_workgroups([Allocation(buf.ctypes.data, 64, "t")])
    rsrc = buffers.make_rsrc(buf.ctypes.data, 0, 48, 0)
    masked = np.full(X.L, 0x7FFFFFFC, np.int32)
    m = np.ones(X.L, bool)
    m[[5, 131]] = False
    voff = masked.copy()
    voff[[3, 5, 130, 200]] = [4, 0, 8, 48]        # in range (wg 0), inactive, in range (wg 1), past the end
    val = np.arange(X.L, dtype=np.int32) + 1000
    buffers.buffer_store(X, val, rsrc, voff, 0, m, np.int32, (), 4, 4, None, INFO)
    voff = masked.copy()
    voff[[7, 140]] = [40, 4]                      # half in range; workgroup 1 reads wg 0's store
    got = [buffers.buffer_load(X, rsrc, voff, 0, m, np.int32, (4,), 16, 4, None, INFO)]
    buffers.buffer_store(X, val, rsrc, masked, 0, m, np.int32, (), 4, 4, None, INFO)
    got.append(buffers.buffer_load(X, rsrc, masked, 0, m, np.uint16, (), 2, 2, semantics.bits_to_bf16, INFO))
    return got, list(log), _race_shadows(gm), buf.copy()


def test_masked_buffer_accesses_match_the_general_path(monkeypatch):
    narrowed = _buffer_scenario(monkeypatch, False)
    general = _buffer_scenario(monkeypatch, True)
    for x, y in zip(narrowed[0], general[0]):
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)
    assert narrowed[1] == general[1]
    assert sorted({f[0] for f in narrowed[1]}) == ["buffer-past-end", "global-race"]
    assert all(np.array_equal(x, y) for x, y in zip(narrowed[2], general[2]))
    assert np.array_equal(narrowed[3], general[3])
    assert not narrowed[0][1].any() and narrowed[0][1].dtype == np.float32
    assert narrowed[0][0][7].tolist()[:2] == [int.from_bytes(bytes(range(40, 44)), "little"),
                                              int.from_bytes(bytes(range(44, 48)), "little")]


def _lean_scenario(monkeypatch, lean, buf):
    """Two workgroups of 128 lanes (waves of 64) make buffer accesses that the lean path takes
    and ones that it hands to the general path, on a 256-byte buffer ``buf`` (refilled here:
    one for both paths, as reports name addresses) holding two 64-byte allocations ``a``
    (bytes 0-63) and ``b`` (128-191), with ``strict_buffers``, provenance tracked and masked
    lanes at the out-of-range offset 0x7FFFFFFC: stores (one repeated to a second tensor
    with the same offsets, one leaving some words unchanged), loads racing them across
    workgroups and across waves, dwordx4, bf16-pair, int16 and int64 accesses, unaligned
    ones and ones from a descriptor whose base is not dword aligned, a fully masked store,
    and accesses past the end, outside every allocation, spanning both allocations.
    ``lean``: False disables the lean path."""
    from kernels.emu import provenance, semantics
    from kernels.emu.runtime import buffers

    if not lean:
        monkeypatch.setattr(buffers, "_lean_access", lambda *args: None)
    buf[:] = (np.arange(256) * 7).astype(np.uint8)
    gm, log, X = _two_workgroups([Allocation(buf.ctypes.data, 64, "a"), Allocation(buf.ctypes.data + 128, 64, "b")])
    ra = buffers.make_rsrc(buf.ctypes.data, 0, 64, 0)
    rb = buffers.make_rsrc(buf.ctypes.data + 128, 0, 64, 0)
    wide = buffers.make_rsrc(buf.ctypes.data, 0, 256, 0)
    odd = buffers.make_rsrc(buf.ctypes.data + 2, 0, 60, 0)
    m = np.ones(X.L, bool)
    m[[5, 131]] = False

    def offsets(**at):
        voff = np.full(X.L, 0x7FFFFFFC, np.int32)
        for lane, off in at.items():
            voff[int(lane[1:])] = off
        return voff

    val = np.arange(X.L, dtype=np.int32) * 0x01010101
    got = []
    with provenance.track() as writes:
        v = offsets(l3=0, l5=4, l70=8, l130=12)                  # lane 5 inactive; waves 0, 1 and workgroup 1
        buffers.buffer_store(X, val, ra, v, 0, m, np.int32, (), 4, 4, None, INFO)
        buffers.buffer_store(X, val, rb, v, 0, m, np.int32, (), 4, 4, None, INFO)
        got.append(buffers.buffer_load(X, ra, offsets(l140=0, l64=8, l9=16), 0, m, np.int32, (), 4, 4, None, INFO))
        same = val.copy()
        same[3] = 77
        buffers.buffer_store(X, same, rb, v, 4, m, np.int32, (), 4, 4, None, INFO)   # soffset 4; lane 130 unchanged
        got.append(buffers.buffer_load(X, ra, offsets(l1=0, l129=32), 0, m, np.int32, (4,), 16, 4, None, INFO))
        got.append(buffers.buffer_load(X, rb, offsets(l2=20, l66=24), 0, m, np.uint16, (2,), 4, 2,
                                       semantics.bits_to_bf16, INFO))
        buffers.buffer_store(X, np.array([9, 8, 7, 6], np.int32), rb, offsets(l7=32, l200=48), 0, m, np.int32, (4,), 16, 4, None, INFO)
        buffers.buffer_store(X, val, ra, offsets(), 0, m, np.int32, (), 4, 4, None, INFO)
        buffers.buffer_store(X, val, ra, offsets(l10=2, l11=40), 0, m, np.int32, (), 4, 4, None, INFO)
        buffers.buffer_store(X, val, odd, offsets(l12=4, l13=8), 0, m, np.int32, (), 4, 4, None, INFO)
        buffers.buffer_store(X, val, ra, offsets(l14=44, l15=60, l16=64), 0, m, np.int32, (), 4, 4, None, INFO)
        got.append(buffers.buffer_load(X, wide, offsets(l17=60, l18=96), 0, m, np.int32, (), 4, 4, None, INFO))
        got.append(buffers.buffer_load(X, wide, offsets(l19=48, l20=132), 0, m, np.int32, (), 4, 4, None, INFO))
        buffers.buffer_store(X, val, wide, offsets(l21=52, l150=136), 0, m, np.int32, (), 4, 4, None, INFO)
        buffers.buffer_store(X, val.astype(np.int16), ra, offsets(l22=6, l90=50), 0, m, np.int16, (), 2, 2, None, INFO)
        got.append(buffers.buffer_load(X, rb, offsets(l23=8, l100=16), 0, m, np.int64, (), 8, 8, None, INFO))
        got.append(buffers.buffer_load(X, ra, offsets(l24=2), 0, m, np.int32, (), 4, 4, None, INFO))
    return got, list(log), _race_shadows(gm), buf.copy(), {k: w.copy() for k, (_, w) in writes.items()}


def test_lean_buffer_accesses_match_the_general_path(monkeypatch):
    buf = np.zeros(256, np.uint8)
    lean = _lean_scenario(monkeypatch, True, buf)
    general = _lean_scenario(monkeypatch, False, buf)
    for x, y in zip(lean[0], general[0]):
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)
    assert lean[1] == general[1]
    assert sorted({f[0] for f in lean[1]}) == ["buffer-past-end", "global-out-of-bounds", "global-race",
                                                 "wave-race"]
    assert all(np.array_equal(x, y) for x, y in zip(lean[2], general[2]))
    assert np.array_equal(lean[3], general[3])
    assert lean[4].keys() == general[4].keys() and all(np.array_equal(lean[4][k], general[4][k]) for k in lean[4])


class AddrLog(Log):
    """:class:`Log` that also records the workgroup and address of each finding (for
    scenarios on one buffer)."""

    def __call__(self, check, message, info, **kw):
        self.append((check, message, kw.get("lane"), kw.get("count"), kw.get("wg"), kw.get("addr")))


def _shadow_scenario(monkeypatch, words, buf, tail):
    """Global accesses of workgroups 0-2 (waves 0-1) to three tensors ``a``, ``b``, ``c`` of
    ``buf`` (at offsets 0-63, 64-127, 128-191 below): reads logged before the first write
    (one of ``b`` unaligned), writes and reads of whole aligned dwords (one, two, four a
    lane) racing across workgroups, across waves and inside one instruction, then
    (``tail``) accesses that are not of whole aligned dwords (an unaligned dword read of
    ``a``, a byte store to ``c``) and more dword accesses after them.  Each access starts
    with four lanes of workgroup 3 per tensor it touches, on words of that tensor that
    nothing else touches, so that the first racing lane is not the first.  ``words``:
    False keeps the race shadows per byte from the start.  Returns what was read, the
    findings, every shadow (per byte) and the shadows' granularity at the end."""
    monkeypatch.setattr(global_race, "WORD_SHADOWS", words)
    buf[:] = np.arange(buf.shape[0], dtype=np.uint8)
    base = buf.ctypes.data
    gm = GlobalMemory([Allocation(base + 1024 * k, 1024, name) for k, name in enumerate("abc")])
    gm.report = AddrLog()
    gm.begin_launch()
    fresh = [iter(range(1024 * k + 64, 1024 * k + 1024, 16)) for k in range(3)]

    def lanes_of(addr, wg, wave):
        tensors = sorted({x // 64 for x in addr})
        a = [next(fresh[k]) for k in tensors for _ in range(4)] + [x // 64 * 1024 + x % 64 for x in addr]
        k = 4 * len(tensors)
        return (base + np.asarray(a, np.int64), np.asarray([3] * k + list(wg)),
                np.asarray([0, 1, 0, 1] * len(tensors) + list(wave)), np.arange(len(a)))

    def rd(addr, n, wg, wave, ep=1):
        a, g, w, ln = lanes_of(addr, wg, wave)
        return gm.read(a, n, INFO, Accessor(g, w, ep, ln))

    def wr(addr, vals, wg, wave, ep=1):
        a, g, w, ln = lanes_of(addr, wg, wave)
        vals = np.asarray(vals, np.uint8)
        gm.write(a, np.concatenate([np.zeros((a.shape[0] - vals.shape[0], vals.shape[1]), np.uint8), vals]), INFO,
                 Accessor(g, w, ep, ln))

    got = [rd([0, 8, 64, 136], 4, [0, 1, 2, 1], [0, 1, 0, 0]), rd([16], 8, [1], [1]), rd([66], 4, [2], [1])]
    wr([0, 4, 68, 136], np.full((4, 4), 9), [0, 0, 1, 0], [0, 1, 0, 1])          # wg 0 writes what wg 1 read...
    wr([8, 8, 140, 140], [[1, 2, 3, 4], [1, 2, 3, 5], [1] * 4, [1] * 4], [1, 1, 2, 2], [0, 1, 0, 1])  # two waves
    wr([12, 12], [[6, 6, 6, 6], [6, 6, 6, 6]], [0, 2], [0, 0])                      # two workgroups, one instruction
    got += [rd([0, 4, 32, 140], 4, [0, 0, 2, 2], [1, 1, 0, 1]), rd([16, 48, 144], 16, [2, 0, 1], [0, 1, 0], ep=2)]
    wr([20, 40, 152], np.full((3, 8), 3), [2, 0, 0], [1, 0, 0], ep=2)
    if tail:
        got.append(rd([2, 80], 4, [1, 2], [1, 1]))
        wr([1, 137], [[7], [7]], [0, 1], [0, 0])
    wr([0, 24, 72, 136], np.full((4, 4), 5), [2, 1, 0, 2], [0, 0, 1, 0], ep=3)
    got.append(rd([0, 8, 76, 140], 4, [1, 2, 0, 1], [0, 1, 1, 1], ep=3))
    grans = [gm.race.shadows[a].gran for a in gm.allocs]
    for a in gm.allocs:
        gm.race._byte_shadows(a, gm.race.shadow(a))
    return got, list(gm.report), _race_shadows(gm), grans


def test_dword_race_shadows_match_byte_shadows(monkeypatch):
    buf = np.zeros(3 * 1024, np.uint8)
    for tail in (False, True):
        per_word = _shadow_scenario(monkeypatch, True, buf, tail)
        per_byte = _shadow_scenario(monkeypatch, False, buf, tail)
        assert all(np.array_equal(x, y) for x, y in zip(per_word[0], per_byte[0]))
        assert per_word[1] == per_byte[1]
        assert {f[0] for f in per_word[1]} == {"global-race", "wave-race"}
        assert all(np.array_equal(x, y) for x, y in zip(per_word[2], per_byte[2]))
        assert per_word[3] == ([1, 1, 1] if tail else [4, 1, 4]) and per_byte[3] == [1, 1, 1]
        assert all(f[2] >= 4 for f in per_word[1])
