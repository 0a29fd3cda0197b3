"""Capture / host execution / caching / target facts / environment switch."""
import os
import subprocess
import sys

import pytest
import torch

import kernels.emu as emu
from kernels.emu import capture
from tests.emu import sample_kernels as K

pytestmark = pytest.mark.interpreter


def test_second_launch_of_same_shape_skips_capture():
    a, b, c = torch.randn(300), torch.randn(300), torch.zeros(300)
    with emu.emulate("gfx950") as s:
        K.launch_vadd(a, b, c, 300)
        misses = s.cache_misses
        K.launch_vadd(a, b, c, 300)
        K.launch_vadd(a, b, c, 300)
        assert s.cache_misses == misses and s.cache_hits >= 2
    rec = emu.last_launches()
    assert len(rec) == 1 and rec[0].grid == (2, 1, 1) and rec[0].block == (256, 1, 1)
    assert rec[0].ops > 0 and rec[0].lane_ops > 0 and rec[0].ops_by_kind["rocdl.raw.ptr.buffer.load"] == 4


def test_host_grid_computed_from_runtime_ints():
    for n in (1, 256, 257, 1000):
        a, b, c = torch.randn(n), torch.randn(n), torch.zeros(n)
        with emu.emulate("gfx950"):
            K.launch_vadd(a, b, c, n)
        assert emu.last_launches()[0].grid == ((n + 255) // 256, 1, 1)
        assert torch.equal(c, a + b)


def test_hook_removed_after_scope_and_env_restored():
    from flydsl.compiler.jit_function import JitFunction
    before = JitFunction._compile_or_execute
    env = os.environ.get("FLYDSL_COMPILE_BACKEND")
    with emu.emulate("gfx942"):
        assert JitFunction._compile_or_execute is capture._emu_compile_or_execute
        from flydsl.runtime.device import get_rocm_arch
        assert get_rocm_arch() == "gfx942"
    assert JitFunction._compile_or_execute is before
    assert os.environ.get("FLYDSL_COMPILE_BACKEND") == env


def test_target_facts():
    assert emu.get_target("gfx942").lds_bytes == 64 * 1024 and emu.get_target("gfx942").num_cus == 304
    assert emu.get_target("gfx950").lds_bytes == 160 * 1024 and emu.get_target("gfx950").num_cus == 256
    assert emu.get_target("gfx950").wave_size == 64
    with pytest.raises(ValueError):
        emu.get_target("gfx1200")


def test_flyc_compile_returns_an_emulated_callable():
    import flydsl.compiler as flyc
    import flydsl.expr as fx
    n = 500
    a, b, c = torch.randn(n), torch.randn(n), torch.zeros(n)
    with emu.emulate("gfx950"):
        cf = flyc.compile(K.launch_vadd, a, b, c, n, fx.Stream(None))
        cf(a, b, c, n, fx.Stream(None))
    assert torch.equal(c, a + b)


def test_environment_switch(tmp_path):
    code = ("import torch, kernels.emu as emu\n"
            "from tests.emu import sample_kernels as K\n"
            "a, b, c = torch.ones(10), torch.ones(10), torch.zeros(10)\n"
            "K.launch_vadd(a, b, c, 10)\n"
            "from flydsl.runtime.device import get_rocm_arch\n"
            "print(get_rocm_arch(), c.sum().item(), emu.active())\n")
    env = dict(os.environ, MOESORT_EMULATE="gfx942")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["gfx942", "20.0", "True"]


def _run_vadd_and_zero(batch):
    n = 5000
    g = torch.Generator().manual_seed(0)
    a, b, c = torch.randn(n, generator=g), torch.randn(n, generator=g), torch.zeros(n)
    z = torch.arange(3001, dtype=torch.int32)
    with emu.emulate("gfx950") as s:
        s.options.wg_batch = batch
        K.launch_vadd(a, b, c, n)
        nb = getattr(emu.last_launches()[0], "batch", 1)
        K.launch_zero(z, 3001, 5)
    return c, z, nb


def test_workgroup_batching_matches_one_at_a_time():
    c1, z1, nb1 = _run_vadd_and_zero(True)
    c0, z0, nb0 = _run_vadd_and_zero(False)
    assert nb1 > 1 and nb0 == 1
    assert torch.equal(c0, c1) and torch.equal(z0, z1)


def test_the_grid_is_cut_into_the_fewest_batches_of_even_size():
    """66 workgroups of 256 lanes under a 4096-lane cap (16 workgroups): 5 batches, so 14 each
    (14 * 4 + 10), not 16 * 4 and a tail of 2; the sums are those of one workgroup at a time."""
    n = 256 * 65 + 1
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(n, generator=g), torch.randn(n, generator=g)
    got = {}
    for cap in (4096, None):
        c = torch.zeros(n)
        with emu.emulate("gfx950") as s:
            if cap is None:
                s.options.wg_batch = False
            else:
                s.options.max_batch_lanes = cap
            K.launch_vadd(a, b, c, n)
            got[cap] = (c, emu.last_launches()[0].batch)
    assert got[4096][1] == 14 and got[None][1] == 1
    assert torch.equal(got[4096][0], got[None][0]) and torch.equal(got[4096][0], a + b)


def test_barrier_inside_workgroup_uniform_branch_is_fine_when_batched():
    # block_idx-dependent branch with a barrier inside: uniform per workgroup, not divergent
    import flydsl.compiler as flyc
    import flydsl.expr as fx
    from flydsl.expr import gpu

    @flyc.kernel
    def k(Y: fx.Tensor):
        tid = fx.Int32(fx.thread_idx.x)
        if fx.Int32(fx.block_idx.x) == fx.Int32(0):
            gpu.barrier()
        K.buf_store(tid, K.make_rsrc(Y, 4 * 64 * 4), (fx.Int32(fx.block_idx.x) * 64 + tid) * 4)

    @flyc.jit
    def launch(Y: fx.Tensor, stream: fx.Stream = fx.Stream(None)):
        k(Y).launch(grid=(4, 1, 1), block=(64, 1, 1), stream=stream)

    y = torch.zeros(256, dtype=torch.int32)
    with emu.emulate("gfx950"):
        launch(y)
    assert (y.reshape(4, 64) == torch.arange(64, dtype=torch.int32)).all()


def test_clear_cache_forces_a_new_capture():
    a, b, c = torch.randn(10), torch.randn(10), torch.zeros(10)
    with emu.emulate("gfx950") as s:
        K.launch_vadd(a, b, c, 10)
        emu.clear_cache(K.launch_vadd)
        m = s.cache_misses
        K.launch_vadd(a, b, c, 10)
        assert s.cache_misses == m + 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="a real GPU is visible: torch is not patched")
def test_torch_device_queries_answer_emulated_target():
    before = torch.cuda.get_device_properties
    with emu.emulate("gfx942"):
        assert torch.cuda.get_device_properties(0).multi_processor_count == 304
        assert torch.cuda.current_stream().cuda_stream == 0
    with emu.emulate("gfx950"):
        assert torch.cuda.get_device_properties(0).multi_processor_count == 256
    assert torch.cuda.get_device_properties is before
