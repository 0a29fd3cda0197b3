"""The memory model's shortcuts give what its general paths give: contents, findings, shadows."""
import numpy as np

from kernels.emu import memory
from kernels.emu.memory import LDS, Allocation, GlobalMemory

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
    return all(np.array_equal(getattr(a, n), getattr(b, n))
               for n in ("mem", "init", "wr_ep", "wr_wave", "rd_ep", "rd_wave", "epoch"))


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
    monkeypatch.setattr(memory, "_PENDING_LIMIT", limit)
    buf = np.zeros(64, np.uint8)
    gm = GlobalMemory([Allocation(buf.ctypes.data, 64, "t")])
    gm.report = Log()
    gm.begin_launch()
    base = buf.ctypes.data
    lanes = np.arange(4)
    out = gm.read(base + 4 * lanes, 4, INFO, wg=0, wave=np.array([0, 0, 1, 1]), ep=1, lanes=lanes)
    gm.write(np.array([base + 4, base + 32]), np.full((2, 4), 7, np.uint8), INFO, wg=1, wave=0, ep=1,
             lanes=np.array([0, 1]))
    a = gm.allocs[0]
    shadows = [getattr(a, n).copy() for n in ("wr", "rd", "wr_wv", "wr_ep", "rd_wv", "rd_ep")]
    return out, list(gm.report), shadows, buf.copy()


def test_global_read_log_and_shadows_agree(monkeypatch):
    logged = _global_scenario(monkeypatch, 1 << 30)
    applied = _global_scenario(monkeypatch, 0)
    assert np.array_equal(logged[0], applied[0])
    assert logged[1] == applied[1] and [f[0] for f in logged[1]] == ["global-race"]
    assert all(np.array_equal(x, y) for x, y in zip(logged[2], applied[2]))
    assert np.array_equal(logged[3], applied[3])


def test_read_log_counts_each_array_once():
    seen, log = set(), []                    # the log keeps its arrays alive, so their ids stay theirs
    shared = np.zeros(10, np.int64)
    log.append((np.zeros(4, np.int64), shared, 3, None, np.zeros(5, np.int32)))
    assert memory._new_bytes(seen, log[-1]) == 132
    log.append((np.zeros(2, np.int64), shared))
    assert memory._new_bytes(seen, log[-1]) == 16


def test_repeat_checks():
    assert not memory._may_share_bytes(np.array([0, 4, 8]), 4)
    assert memory._may_share_bytes(np.array([0, 2, 8]), 4)
    assert memory._may_share_bytes(np.array([8, 0]), 4)
    assert not memory._may_share_bytes(np.array([5]), 4)
    assert not memory._repeats(np.array([1, 2, 9]))
    assert memory._repeats(np.array([1, 1, 9]))
    assert memory._repeats(np.array([3, 2]))
