"""The persistent capture cache: hits across sessions, never trusting a bad or stale entry."""
import importlib.util
import os
import subprocess
import sys
import threading

import pytest
import torch

import kernels.emu as emu
from kernels.emu import diskcache, fingerprint
from tests.emu import sample_kernels as K

pytestmark = pytest.mark.interpreter
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv(diskcache.ENV_DIR, str(d))
    emu.clear_cache(K.launch_vadd)
    yield d
    emu.clear_cache(K.launch_vadd)


def _vadd(n=300):
    a, b, c = torch.randn(n), torch.randn(n), torch.zeros(n)
    with emu.emulate("gfx950") as s:
        K.launch_vadd(a, b, c, n)
    assert torch.equal(c, a + b)
    return s


def _entries(d):
    return sorted((d / f"v{diskcache.FORMAT}").glob("*/*.pkl"))


def test_a_second_session_loads_the_capture_from_disk(cache_dir):
    first = _vadd()
    assert first.cache_misses == 1 and first.disk_hits == 0
    assert _entries(cache_dir)
    emu.clear_cache(K.launch_vadd)            # the in-memory cache only
    second = _vadd()
    assert second.cache_misses == 1 and second.disk_hits == 1


def _capture_entry(cache_dir):
    """The entry of launch_vadd's module (the one whose payload holds a program)."""
    for p in _entries(cache_dir):
        payload = diskcache.CaptureCache(cache_dir).load(p.stem)
        if payload is not None and "program" in payload:
            return p
    raise AssertionError("no capture entry written")


@pytest.mark.parametrize("damage", ["truncate", "flip", "other-format", "garbage"])
def test_a_damaged_entry_is_captured_again_and_rewritten(cache_dir, damage):
    _vadd()
    path = _capture_entry(cache_dir)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-10] ^= 0xFF
    elif damage == "other-format":
        data[7] = (diskcache.FORMAT + 1) & 0xFF
    else:
        data = bytearray(b"not a cache entry")
    path.write_bytes(bytes(data))
    emu.clear_cache(K.launch_vadd)
    s = _vadd()
    assert s.disk_hits == 0                   # never trusted
    assert diskcache.CaptureCache(cache_dir).load(path.stem) is not None    # rebuilt


def test_another_interpreter_version_does_not_share_entries(cache_dir, monkeypatch):
    _vadd()
    monkeypatch.setattr(fingerprint, "_VERSION", ["another interpreter"])
    emu.clear_cache(K.launch_vadd)
    assert _vadd().disk_hits == 0


KERNEL_SOURCE = '''
import flydsl.compiler as flyc
import flydsl.expr as fx
from tests.emu import sample_kernels as K


@flyc.kernel
def _fill(Y: fx.Tensor):
    tid = fx.Int32(fx.thread_idx.x)
    K.buf_store(tid + fx.Int32(VALUE), K.make_rsrc(Y, 64 * 4), tid * 4)


@flyc.jit
def launch(Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
    _fill(Y).launch(grid=(1, 1, 1), block=(64, 1, 1), stream=stream)
'''


def _load_module(path):
    spec = importlib.util.spec_from_file_location(f"emu_cache_kernel_{abs(hash(str(path)))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_an_edited_kernel_source_is_never_served_a_stale_capture(cache_dir, tmp_path):
    src = tmp_path / "kern.py"
    src.write_text(KERNEL_SOURCE.replace("VALUE", "1"))
    mod = _load_module(src)
    y = torch.zeros(64, dtype=torch.int32)
    with emu.emulate("gfx950"):
        mod.launch(y)
    assert (y == torch.arange(64, dtype=torch.int32) + 1).all()
    # the same file, edited (a planted or mutated kernel copy), imported afresh
    src.write_text(KERNEL_SOURCE.replace("VALUE", "7"))
    os.utime(src, ns=(os.stat(src).st_atime_ns, os.stat(src).st_mtime_ns + 10**9))
    mod2 = _load_module(src)
    with emu.emulate("gfx950") as s:
        mod2.launch(y)
    assert s.disk_hits == 0
    assert (y == torch.arange(64, dtype=torch.int32) + 7).all()


def test_concurrent_writers_never_leave_a_torn_entry(tmp_path):
    cache = diskcache.CaptureCache(tmp_path)
    key = "ab" * 32
    payloads = [{"blob": bytes([i]) * 200_000} for i in range(8)]
    seen = []

    def write(p):
        for _ in range(5):
            assert cache.store(key, p)

    def read():
        for _ in range(40):
            got = cache.load(key)
            if got is not None:
                seen.append(got["blob"][:1] * len(got["blob"]) == got["blob"] and len(got["blob"]) == 200_000)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(seen)
    assert cache.load(key)["blob"] in {p["blob"] for p in payloads}
    assert not list(tmp_path.rglob("*.tmp"))           # no temporary file left behind


def test_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(diskcache.ENV_DIR, str(tmp_path / "x"))
    assert diskcache.location() == tmp_path / "x"
    monkeypatch.setenv(diskcache.ENV_DIR, "off")
    assert diskcache.location() is None and diskcache.current() is None
    monkeypatch.delenv(diskcache.ENV_DIR)
    assert diskcache.location() == diskcache.default_location()
    assert "moesort-verify" in str(diskcache.default_location())


def test_a_disabled_cache_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv(diskcache.ENV_DIR, "off")
    emu.clear_cache(K.launch_vadd)
    assert _vadd().disk_hits == 0
    assert not list(tmp_path.rglob("*.pkl"))


def test_cache_command_shows_and_clears(cache_dir):
    _vadd()
    run = lambda *a: subprocess.run([sys.executable, "-m", "kernels.emu", "cache", "--dir", str(cache_dir), *a],  # noqa: E731
                                    cwd=ROOT, capture_output=True, text=True, timeout=300)
    info = run("info")
    assert info.returncode == 0 and str(cache_dir) in info.stdout
    assert int(info.stdout.split("entries:")[1].split()[0]) >= 1
    cleared = run("clear")
    assert cleared.returncode == 0 and "removed" in cleared.stdout
    assert not _entries(cache_dir)


REWRITTEN_SOURCE = '''
import flydsl.expr as fx


def body(n: fx.Int32):
    acc = fx.Int32(0)
    if n > fx.Int32(3):
        acc = acc + n
    return acc
'''


def test_ast_rewrites_come_from_the_cache_as_flydsl_makes_them(cache_dir, tmp_path, monkeypatch):
    import inspect

    from flydsl.compiler.ast_rewriter import ASTRewriter

    before = ASTRewriter.__dict__["transform"]
    src = tmp_path / "rewritten.py"
    src.write_text(REWRITTEN_SOURCE)
    eager = ASTRewriter.transform(_load_module(src).body)            # FlyDSL's own, outside any session
    with emu.emulate("gfx950"):
        first = ASTRewriter.transform(_load_module(src).body)        # rewritten, then stored
        stored = len(_entries(cache_dir))
        fresh = _load_module(src).body
        with monkeypatch.context() as m:                             # a rewrite would read the source
            m.setattr(inspect, "getsource", lambda *a: (_ for _ in ()).throw(AssertionError("rewritten again")))
            second = ASTRewriter.transform(fresh)                    # a fresh function: from the cache
    assert stored >= 1 and len(_entries(cache_dir)) == stored
    assert ASTRewriter.__dict__["transform"] is before               # restored when the session ends
    for f in (first, second):
        assert f.__code__.co_code == eager.__code__.co_code and f.__code__.co_names == eager.__code__.co_names


SPANS_SOURCE = '''\
def outer():                     # 1
    x = 1
    def inner():                 # 3
        return x
    return inner                 # 5


class Holder:                    # 8
    def method(self):            # 9
        if True:
            def in_if():         # 11
                pass
        else:
            def in_else():       # 14
                pass
        try:
            pass
        except ValueError:
            def in_handler():    # 19
                pass
        finally:
            async def in_finally():   # 22
                pass
        return lambda: 0         # 24
'''
#: (line, innermost def holding it) for SPANS_SOURCE, by reading it.
SPANS_EXPECTED = [(1, "outer"), (2, "outer"), (4, "inner"), (5, "outer"), (7, ""), (8, ""), (10, "method"),
                  (12, "in_if"), (15, "in_else"), (17, "method"), (20, "in_handler"), (23, "in_finally"),
                  (24, "method")]


def test_the_functions_a_finding_names_come_from_the_cache_and_follow_edits(cache_dir, tmp_path, monkeypatch):
    from kernels.emu import findings

    src = tmp_path / "spans.py"
    src.write_text(SPANS_SOURCE)
    path = str(src)
    first = [(line, findings.enclosing_function(path, line)) for line, _ in SPANS_EXPECTED]
    assert first == SPANS_EXPECTED
    monkeypatch.setattr(findings, "_FUNCTIONS", {})                  # as in a fresh process
    with monkeypatch.context() as m:                                 # served without parsing the source
        m.setattr(findings.ast, "parse", lambda *a, **k: (_ for _ in ()).throw(AssertionError("parsed again")))
        assert [(line, findings.enclosing_function(path, line)) for line, _ in SPANS_EXPECTED] == SPANS_EXPECTED
    src.write_text("def moved():\n    pass\n" + SPANS_SOURCE.replace("def outer():", "def renamed():"))
    os.utime(src, ns=(1, 1))                                         # digest, not time, tells the edit
    assert findings.enclosing_function(path, 3) == "renamed"
    assert findings.enclosing_function(path, 2) == "moved"


def test_the_first_session_freezes_the_objects_the_process_holds_then():
    code = ("import gc, kernels.emu as emu\n"
            "before = gc.get_freeze_count()\n"
            "with emu.emulate('gfx950'):\n"
            "    frozen = gc.get_freeze_count()\n"
            "kept = [{} for _ in range(50_000)]\n"
            "with emu.emulate('gfx942'):\n"
            "    again = gc.get_freeze_count()\n"
            "print(before, frozen, again)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    before, frozen, again = map(int, out.stdout.split()[-3:])
    assert before == 0 and frozen > 10_000 and again <= frozen, (before, frozen, again, out.stderr[-2000:])


def test_entry_keys_follow_every_part_and_refuse_object_addresses():
    key_of = diskcache.key_of
    assert key_of("function-spans", "v1", (3, 11), "digest") == key_of("function-spans", "v1", (3, 11), "digest")
    assert key_of("function-spans", "v1", (3, 11), "digest") != key_of("function-spans", "v1", (3, 12), "digest")
    assert key_of("a", "bc") != key_of("ab", "c")
    assert key_of("hints", object()) is None          # its repr names an address that no other process shares
