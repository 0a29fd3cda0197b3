"""Each checker of the memory model driven alone, with small sequences of accesses (no kernel),
and the memory model with no checker installed."""
import numpy as np
import pytest

from kernels.emu.memory import (
    ATOMIC,
    LDS,
    LOAD,
    STORE,
    Access,
    Accessor,
    Allocation,
    GlobalMemory,
    ViewSite,
    bounds,
    global_race,
    lds_race,
    uninit,
)
from kernels.emu.memory.bounds import GlobalBounds, LdsBounds
from kernels.emu.memory.global_race import GlobalRace
from kernels.emu.memory.lds_race import LdsRace
from kernels.emu.memory.uninit import LdsUninit, OutputInit

SITE = ("test.op", "t.py:1")
W = 64                                   # lanes per wave


class Log(list):
    """A recording reporter: one dict per finding."""

    kernel = "k"

    def __call__(self, check, message, info, **kw):
        self.append(dict(check=check, message=message, site=info, **kw))


def _checker(cls, *args):
    c = cls(*args)
    c.report = Log()
    return c


# ---------------------------------------------------------------- LDS races
def _lds_race(nbytes=64):
    written = np.zeros(nbytes, bool)
    race = _checker(LdsRace, nbytes // 4, np.ones(1, np.int32), nbytes // 4, nbytes, W, written)
    return race, written


def _lds_access(op, offs, lanes, nbytes=4):
    lanes = np.asarray(lanes, np.int64)
    return Access(op, SITE, np.asarray(offs, np.int64), nbytes, None, lanes // W, None, lanes)


def _words(offs):
    """The dword indices of aligned dword accesses at ``offs``."""
    return np.asarray(offs, np.int64) >> 2


def _lds_store(race, written, offs, lanes):
    """A store of dwords that changes them (marked written afterwards, as LdsUninit does)."""
    n = len(offs)
    race.on_store(_lds_access(STORE, offs, lanes), np.ones(n, bool), np.ones(n, bool), np.asarray(offs) >> 2)
    for o in offs:
        written[o:o + 4] = True


def test_lds_race_between_two_waves_in_one_epoch_names_the_second_access():
    race, written = _lds_race()
    _lds_store(race, written, [8], [3])                          # wave 0
    race.on_load(_lds_access(LOAD, [0, 8], [65, 70]), _words([0, 8]))     # wave 1 reads the word
    assert [(f["check"], f["lane"], f["addr"], f["count"]) for f in race.report] == [("lds-race", 70, "LDS+8", 1)]
    assert "touched by wave 1 and another wave between two barriers" in race.report[0]["message"]


def test_lds_no_race_across_a_barrier_or_within_one_wave():
    race, written = _lds_race()
    _lds_store(race, written, [8], [3])
    race.on_load(_lds_access(LOAD, [8], [5]), _words([8]))              # the same wave
    race.epoch[0] += 1                                          # a barrier
    race.on_load(_lds_access(LOAD, [8], [70]), _words([8]))             # another wave, next epoch
    _lds_store(race, written, [8], [71])                         # ... and it writes: the reader is itself
    assert race.report == []


def test_lds_write_after_read_of_another_wave_races_and_first_store_is_a_write():
    race, written = _lds_race()
    race.on_load(_lds_access(LOAD, [4], [1]), _words([4]))              # wave 0 reads an unwritten word
    # wave 1 stores the value the word already holds: still a write (its first store)
    race.on_store(_lds_access(STORE, [4], [64]), np.zeros(1, bool), np.ones(1, bool), np.array([1]))
    assert [(f["check"], f["lane"]) for f in race.report] == [("lds-race", 64)]


def test_lds_unchanged_store_to_a_written_word_is_not_a_write():
    race, written = _lds_race()
    _lds_store(race, written, [4], [1])
    race.epoch[0] += 1
    race.on_load(_lds_access(LOAD, [4], [2]), _words([4]))
    race.on_store(_lds_access(STORE, [4], [64]), np.zeros(1, bool), np.ones(1, bool), np.array([1]))
    assert race.report == []


def test_lds_uniform_store_by_several_waves_is_each_waves_own_and_a_uniform_race_names_a_lane():
    race, written = _lds_race()
    lanes = np.array([2, 3, 66, 67])
    race.on_uniform_store(Access(STORE, SITE, 12, 4, None, (0, 1), None, lanes), True)
    written[12:16] = True
    race.on_load(_lds_access(LOAD, [12], [66]), _words([12]))            # wave 1 reads what it stored itself
    assert race.report == []
    _lds_store(race, written, [20], [5])                         # wave 0 writes word 5 ...
    race.on_uniform_load(Access(LOAD, SITE, 20, 4, None, (1,), None, np.array([70, 90])))   # ... wave 1 reads it
    assert [(f["check"], f["lane"], f["addr"]) for f in race.report] == [("lds-race", 70, "LDS+20")]


def test_lds_atomic_and_plain_access_of_another_wave_race_atomics_do_not():
    race, written = _lds_race()
    race.on_atomic(_lds_access(ATOMIC, [8], [3]))
    race.on_atomic(_lds_access(ATOMIC, [8], [70]))               # atomics never race with atomics
    assert race.report == []
    race.on_load(_lds_access(LOAD, [8], [130]), _words([8]))            # wave 2, plain
    assert [(f["check"], f["lane"]) for f in race.report] == [("lds-race", 130)]
    assert "accessed plainly by wave 2 and updated by an atomic" in race.report[0]["message"]


# ---------------------------------------------------------------- uninitialized reads
def test_lds_read_before_write_is_reported_with_lane_and_count():
    u = _checker(LdsUninit, 64)
    u.on_store(_lds_access(STORE, [0], [1]), _words([0]))
    u.on_load(_lds_access(LOAD, [0, 4, 8], [1, 2, 3]), _words([0, 4, 8]))
    assert [(f["check"], f["lane"], f["addr"], f["count"]) for f in u.report] == [("uninitialized-lds", 2, "LDS+4", 2)]
    u.report.clear()
    u.on_load(_lds_access(LOAD, [1], [9], nbytes=2), None)      # unaligned, written bytes
    u.on_uniform_load(Access(LOAD, SITE, 16, 4, None, (0,), None, np.array([7, 8])))
    assert [(f["check"], f["lane"], f["message"]) for f in u.report] == [
        ("uninitialized-lds", 7, "LDS byte 16 read before any write in this launch")]
    u.on_reset()
    u.on_load(_lds_access(LOAD, [0], [1]), _words([0]))
    assert len(u.report) == 2


def test_lds_atomic_reads_before_it_writes():
    u = _checker(LdsUninit, 64)
    u.on_atomic(_lds_access(ATOMIC, [8], [5]))
    u.on_atomic(_lds_access(ATOMIC, [8], [6]))
    assert [(f["check"], f["lane"]) for f in u.report] == [("uninitialized-lds", 5)]


def _tensor(nbytes=64, name="t", output_only=False):
    buf = np.zeros(nbytes, np.uint8)
    return buf, Allocation(buf.ctypes.data, nbytes, name, output_only=output_only)


def test_output_only_tensor_read_before_written_in_the_launch():
    buf, a = _tensor(output_only=True)
    u = _checker(OutputInit, [a])
    by = Accessor(1, 0, 1, np.array([4, 5]))
    u.on_store(a, Access(STORE, SITE, np.array([0]), 4, *by.select(np.array([0]))))
    u.on_load(a, Access(LOAD, SITE, np.array([0, 8]), 4, *by))
    assert [(f["check"], f["lane"], f["wg"], f["addr"]) for f in u.report] == [
        ("uninitialized-output", 5, 1, a.start + 8)]
    u.on_uniform_load(a, Access(LOAD, SITE, 16, 4, *Accessor(2, 0, 1, np.array([9, 10]))))
    assert (u.report[-1]["lane"], u.report[-1]["wg"]) == (9, 2)
    u.on_launch_begin()
    u.on_load(a, Access(LOAD, SITE, np.array([0]), 4, *by.select(np.array([0]))))
    assert len(u.report) == 3


# ---------------------------------------------------------------- bounds
class _View(ViewSite):
    def overrun(self, addr, nbytes):
        return "lds-view-out-of-bounds", f"view overrun at {addr}"


def test_lds_bounds_report_the_first_access_outside_and_count_weights():
    b = _checker(LdsBounds)
    acc = Access(LOAD, SITE, np.array([0, 60, 62, 80]), 4, lanes=np.array([1, 2, 3, 4]), weights=np.array([1, 1, 5, 1]))
    out = b.outside(acc, 0, 64)
    assert out.tolist() == [False, False, True, True]
    assert [(f["check"], f["lane"], f["addr"], f["count"]) for f in b.report] == [("lds-out-of-bounds", 3, "LDS+62", 6)]
    assert b.outside(acc._replace(site=_View(SITE)), 0, 16) is not None
    assert b.report[-1]["check"] == "lds-view-out-of-bounds" and b.report[-1]["message"] == "view overrun at 60"
    assert b.outside(acc, 0, 128) is None and len(b.report) == 2


def test_global_bounds_name_every_allocation():
    _, a = _tensor(16, "x")
    b = _checker(GlobalBounds, [a])
    bad = np.array([False, True])
    assert b.outside(np.array([a.start, a.end]), bad, 4, SITE, np.array([7, 8])) is bad
    (f,) = b.report
    assert (f["check"], f["lane"], f["addr"]) == ("global-out-of-bounds", 8, a.end)
    assert f"x=[0x{a.start:x},0x{a.end:x})" in f["message"]


# ---------------------------------------------------------------- global races
def _global_race():
    buf, a = _tensor()
    race = _checker(GlobalRace, [a])
    return race, a


def _g(op, offs, wg, wave, ep=1, lanes=None):
    offs = np.asarray(offs, np.int64)
    lanes = np.arange(offs.shape[0]) if lanes is None else np.asarray(lanes)
    return Access(op, SITE, offs, 4, wg, wave, ep, lanes)


def test_global_race_between_workgroups_found_and_read_log_applied_at_the_first_write():
    race, a = _global_race()
    race.on_load(a, _g(LOAD, [0, 4], 0, 0))                 # logged: nothing written yet
    assert race.shadows[a].wr is None and len(race.shadows[a].pending) == 1
    race.on_store(a, _g(STORE, [4], 1, 0, lanes=[9]))       # workgroup 1 writes what workgroup 0 read
    assert [(f["check"], f["lane"], f["wg"], f["addr"]) for f in race.report] == [("global-race", 9, 1, a.start + 4)]
    assert "workgroup 1 writes it after another workgroup read it" in race.report[0]["message"]


def test_global_wave_race_in_one_epoch_not_across_a_barrier_not_in_one_wave():
    race, a = _global_race()
    race.on_store(a, _g(STORE, [8], 0, 0))
    race.on_load(a, _g(LOAD, [8], 0, 0))                    # the same wave
    race.on_load(a, _g(LOAD, [8], 0, 1, ep=2))              # another wave after a barrier
    assert race.report == []
    race.on_load(a, _g(LOAD, [8], 0, 2, ep=1, lanes=[130]))  # another wave, same epoch as the store
    assert [(f["check"], f["lane"]) for f in race.report] == [("wave-race", 130)]
    assert "wave 2 of workgroup 0 reads it after another wave wrote it" in race.report[0]["message"]


def test_global_unchanged_store_is_not_a_write_and_uniform_store_is_every_waves_own():
    race, a = _global_race()
    race.on_store(a, _g(STORE, [0], 0, 0), changed=np.zeros(1, bool))
    race.on_load(a, _g(LOAD, [0], 1, 0))
    assert race.report == []
    race.on_uniform_store(a, Access(STORE, SITE, 16, 4, 2, -2, 1, np.array([3, 70])))   # MANY_WAVES
    race.on_load(a, _g(LOAD, [16], 2, 1))
    assert race.report == []
    race.on_uniform_load(a, Access(LOAD, SITE, 16, 4, 3, 0, 1, np.array([5, 6])))
    assert [(f["check"], f["lane"], f["wg"]) for f in race.report] == [("global-race", 5, 3)]


def test_global_atomics_race_with_plain_accesses_of_another_workgroup_only():
    race, a = _global_race()
    race.on_atomic(a, _g(ATOMIC, [0], 0, 0))
    race.on_atomic(a, _g(ATOMIC, [0], 1, 0))
    assert race.report == []
    race.on_load(a, _g(LOAD, [0], 2, 0, lanes=[17]))
    assert [(f["check"], f["lane"]) for f in race.report] == [("global-race", 17)]
    assert "plain load by workgroup 2 and an atomic by another workgroup" in race.report[0]["message"]


# ---------------------------------------------------------------- the model with and without checkers
@pytest.fixture
def no_hooks(monkeypatch):
    """Every checker hook raises: the model must call none."""
    def refuse(*args, **kwargs):
        raise AssertionError("a checker hook was called with the sanitizer off")

    for cls in (LdsRace, GlobalRace, LdsUninit, OutputInit, LdsBounds):
        for name in vars(cls):
            if name.startswith("on_") or name == "outside":
                monkeypatch.setattr(cls, name, refuse)


def test_memory_without_checkers_runs_as_the_hardware_and_calls_no_hook(no_hooks):
    lds = LDS(64, W, sanitize=False)
    assert (lds.bounds, lds.uninit, lds.race) == (None, None, None)
    lds.report = Log()
    lanes = np.array([0, 70])
    lds.write(np.array([8, 60]), np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.uint8), lanes, 0, 16, SITE)  # 60: past [0, 16)
    got = lds.read(np.array([8, 60, 64]), 4, np.array([1, 71, 72]), 0, 16, SITE)    # a race; 64 past the LDS
    assert got.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [0, 0, 0, 0]]
    lds.write_uniform(12, np.array([9, 9, 9, 9], np.uint8), (0, 1), 0, 16, SITE)
    assert lds.read_uniform(12, 4, (1,), 0, 16, SITE).tolist() == [9, 9, 9, 9]
    buf, a = _tensor(output_only=True)
    gm = GlobalMemory([a], sanitize=False)
    assert (gm.uninit, gm.race) == (None, None)
    gm.report = Log()
    gm.begin_launch()
    assert gm.read(np.array([a.start]), 4, SITE, Accessor(0)).tolist() == [[0, 0, 0, 0]]   # output-only, unwritten
    gm.write(np.array([a.start, a.start + 4]), np.full((2, 4), 3, np.uint8), SITE, Accessor(np.array([0, 1])))
    gm.write_uniform(a.start + 4, np.full(4, 5, np.uint8), SITE, Accessor(1))
    assert buf[:8].tolist() == [3, 3, 3, 3, 5, 5, 5, 5]
    assert lds.report == [] and gm.report == []


def test_memory_with_checkers_reports_what_the_bare_memory_does_not():
    lds = LDS(64, W, sanitize=True)
    lds.report = Log()
    lanes = np.array([0, 70])
    lds.write(np.array([8, 8]), np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.uint8), lanes, 0, 16, SITE)
    lds.read(np.array([4]), 4, np.array([1]), 0, 16, SITE)
    lds.read_uniform(32, 4, (1,), 0, 64, SITE, np.array([66, 67]))
    assert [(f["check"], f["lane"]) for f in lds.report] == [
        ("lds-race", 0), ("uninitialized-lds", 1), ("uninitialized-lds", 66)]
    assert "written with different values by two waves in one instruction" in lds.report[0]["message"]


def test_uniform_global_accesses_name_their_first_lane():
    buf, a = _tensor(output_only=True)
    gm = GlobalMemory([a])
    gm.report = Log()
    gm.begin_launch()
    gm.read_uniform(a.start + 8, 4, SITE, Accessor(0, 0, 1, np.array([3, 4])))
    gm.write_uniform(a.start + 12, np.full(4, 1, np.uint8), SITE, Accessor(0, 0, 1, np.array([3, 4])))
    gm.read_uniform(a.start + 12, 4, SITE, Accessor(0, 1, 1, np.array([64, 65])))
    gm.read_uniform(a.end, 4, SITE, Accessor(0, 1, 1, np.array([66])))
    assert [(f["check"], f["lane"]) for f in gm.report] == [
        ("uninitialized-output", 3), ("wave-race", 64), ("global-out-of-bounds", 66)]


def test_checker_modules_stand_alone():
    """Each checker module imports only the Access vocabulary (and the atomic shadows), not the model."""
    import ast
    import inspect

    for mod in (bounds, uninit, lds_race, global_race):
        imported = {n.module for n in ast.walk(ast.parse(inspect.getsource(mod)))
                    if isinstance(n, ast.ImportFrom) and n.level}
        assert imported <= {"access", "atomic_races", "arrays"}, (mod.__name__, imported)
