"""What LDS holds when a workgroup starts: the poison word or the previous workgroup's bytes,
never zeros, and the uninitialized-read shadow is the same whatever the bytes."""
import numpy as np
import pytest

from kernels.emu.memory import LDS
from kernels.emu.simt import LDS_POISON

INFO = ("test.op", "loc")


class Log(list):
    """A recording reporter: (check, lane, count) per finding."""

    kernel = "k"

    def __call__(self, check, message, info, **kw):
        self.append((check, kw.get("lane"), kw.get("count")))


def _lds(sanitize=True):
    lds = LDS(64, 64, sanitize, copies=2, lanes_per_wg=64)
    lds.report = Log()
    return lds


def test_poison_word_fills_every_copy_and_is_never_zero():
    lds = _lds()
    lds.reset(LDS_POISON)
    assert np.all(lds.mem32 == LDS_POISON)
    assert np.count_nonzero(lds.mem.reshape(-1, 4), axis=1).min() == 4        # no zero byte
    assert np.isnan(lds.mem.view(np.float32)).all() and (lds.mem.view(np.int32) > 2**30).all()


@pytest.mark.parametrize("garbage", [LDS_POISON, None])
def test_reset_clears_the_shadows_whatever_the_bytes(garbage):
    """After ``reset`` (poison, or the bytes kept) a read of a word written before it is an
    uninitialized read again, with the same lane and count; the kept bytes are the old ones."""
    lds = _lds()
    lanes = np.array([0, 64])
    lds.write(np.array([8, 8]), np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.uint8), lanes, 0, 64, INFO)
    assert lds.read(np.array([8, 8]), 4, lanes, 0, 64, INFO).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert lds.report == []
    lds.reset(garbage)
    got = lds.read(np.array([8, 8]), 4, lanes, 0, 64, INFO)
    assert lds.report == [("uninitialized-lds", 0, 2)]
    want = [[1, 2, 3, 4], [5, 6, 7, 8]] if garbage is None else [list(np.uint32(LDS_POISON).tobytes())] * 2
    assert got.tolist() == want


def test_reset_without_the_sanitizer_sets_only_the_bytes():
    lds = _lds(sanitize=False)
    lds.reset(LDS_POISON)
    assert not hasattr(lds, "init") and np.all(lds.mem32 == LDS_POISON)
