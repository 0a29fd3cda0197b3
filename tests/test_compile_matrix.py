"""The compile matrix: kernels built for gfx942/gfx950 on the CPU must fit the hardware.

Two kinds of tests:

* unit tests of the code-object reader, the MessagePack decoder, the limit
  checks and the toolchain finder, on synthetic data -- they always run;
* ``@pytest.mark.compile`` tests that run FlyDSL's full pipeline (skipped, with
  the one-line reason, where the ROCm toolchain is missing): a tiny kernel of
  our own always (including variants built to break a limit), the suite's own
  ``kernels.moesort`` kernels when they import, and FlyDSL's upstream kernel
  when ``FLYDSL_ROOT`` is set -- every production shape, every path, with and
  without the expert mask, both targets.
"""
from __future__ import annotations

import os
import struct

import pytest

from kernels.compilecheck import (
    CompileJob,
    Row,
    compile_jobs,
    markdown,
    path_representatives,
    rows_from_outcome,
    run_jobs,
    write_reports,
)
from kernels.compilecheck.codeobject import (
    CodeObjectError,
    KernelDescriptor,
    KernelResources,
    read_code_object,
    unpackb,
)
from kernels.compilecheck.occupancy import assess
from kernels.compilecheck.toolchain import ToolchainMissing, find_toolchain, missing_reason
from kernels.targets import TARGET_NAMES as TARGETS


def _res(**kw) -> KernelResources:
    base = dict(name="k", vgpr_count=32, sgpr_count=40, agpr_count=0, lds_bytes=0, scratch_bytes=0,
                wavefront_size=64, max_flat_workgroup_size=256, vgpr_spill_count=0, sgpr_spill_count=0,
                reqd_workgroup_size=(256, 1, 1))
    base.update(kw)
    return KernelResources(**base)


# --------------------------------------------------------------------------
# MessagePack
# --------------------------------------------------------------------------

def test_unpackb_decodes_every_type_the_metadata_uses():
    data = (
        b"\x87"  # fixmap, 7 entries
        b"\xa1a" b"\x05"  # "a": 5
        b"\xa1b" b"\xcd\x01\x00"  # "b": uint16 256
        b"\xa1c" b"\xd0\xff"  # "c": int8 -1
        b"\xa1d" b"\x92\xc3\xc2"  # "d": [true, false]
        b"\xa1e" b"\xd9\x03xyz"  # "e": str8 "xyz"
        b"\xa1f" b"\xcb" + struct.pack(">d", 1.5) +  # "f": float64
        b"\xa1g" b"\xde\x00\x01\xa1h\xc0"  # "g": map16 {"h": nil}
    )
    assert unpackb(data) == {"a": 5, "b": 256, "c": -1, "d": [True, False], "e": "xyz",
                             "f": 1.5, "g": {"h": None}}


@pytest.mark.parametrize("bad", [b"\xc1", b"\x92\x01", b"\x01\x02", b"\xcd\x01"])
def test_unpackb_rejects_malformed(bad):
    with pytest.raises(CodeObjectError):
        unpackb(bad)


def test_read_code_object_rejects_non_amdgpu():
    with pytest.raises(CodeObjectError, match="not an ELF"):
        read_code_object(b"hello")
    elf = bytearray(64)
    elf[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<H", elf, 18, 62)  # EM_X86_64
    with pytest.raises(CodeObjectError, match="EM_AMDGPU"):
        read_code_object(bytes(elf))


# --------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------

def test_clean_kernel_passes_with_full_occupancy():
    a = assess(_res(vgpr_count=32, sgpr_count=40), "gfx942")
    assert a.ok, a.reason
    assert a.occupancy == 8 and a.workgroups_per_cu == 8


@pytest.mark.parametrize("target", TARGETS)
def test_scratch_fails(target):
    a = assess(_res(scratch_bytes=16), target)
    assert not a.ok and "scratch" in a.reason


def test_vgpr_spill_fails_even_without_private_segment():
    a = assess(_res(vgpr_spill_count=3), "gfx950")
    assert not a.ok and "spill" in a.reason


def test_lds_limit_differs_per_target():
    big = _res(lds_bytes=96 * 1024)
    assert not assess(big, "gfx942").ok
    assert "LDS" in assess(big, "gfx942").reason
    assert assess(big, "gfx950").ok
    assert not assess(_res(lds_bytes=160 * 1024 + 4), "gfx950").ok


def test_dynamic_lds_counts():
    assert not assess(_res(lds_bytes=40 * 1024), "gfx942", dynamic_lds=30 * 1024).ok


def test_workgroup_that_cannot_fit_fails():
    # 1024 threads = 16 waves = 4 per SIMD; 256 VGPRs allow only 2 waves per SIMD.
    r = _res(vgpr_count=256, max_flat_workgroup_size=1024, reqd_workgroup_size=(1024, 1, 1))
    a = assess(r, "gfx942")
    assert not a.ok and "does not fit" in a.reason and a.workgroups_per_cu == 0


def test_launch_assumption_of_two_workgroups_per_cu():
    r = _res(lds_bytes=40 * 1024)  # one per CU on gfx942, four on gfx950
    assert not assess(r, "gfx942", min_workgroups_per_cu=2).ok
    assert assess(r, "gfx942", min_workgroups_per_cu=1).ok
    assert assess(r, "gfx950", min_workgroups_per_cu=2).ok


def test_launch_larger_than_max_flat_workgroup_size_fails():
    a = assess(_res(max_flat_workgroup_size=256), "gfx942", workgroup_size=512)
    assert not a.ok and "max_flat_workgroup_size" in a.reason


def test_descriptor_allocation_drives_occupancy():
    # metadata says 27 VGPRs but the descriptor allocates (9 + 1) * 8 = 80 -> 512 // 80 = 6 waves.
    kd = KernelDescriptor(0, 0, 0, compute_pgm_rsrc1=9, compute_pgm_rsrc2=0, compute_pgm_rsrc3=0)
    a = assess(_res(vgpr_count=27, descriptor=kd), "gfx942")
    assert a.vgpr_alloc == 80 and a.waves_per_simd_by_regs == 6


def test_sgpr_table():
    assert assess(_res(sgpr_count=100), "gfx942").waves_per_simd_by_regs == 8
    assert assess(_res(sgpr_count=102), "gfx942").waves_per_simd_by_regs == 7


def test_path_representatives_takes_largest_t_per_path():
    def choose(t):
        return "small" if t <= 10 else ("medium" if t <= 100 else "large")

    assert path_representatives(choose, t_max=500) == {"small": 10, "medium": 100, "large": 500}


class _Outcome:
    def __init__(self, job, kernels=(), error=None, diagnostics=""):
        self.job, self.kernels, self.error, self.diagnostics, self.seconds = (
            job, list(kernels), error, diagnostics, 0.1)


class _Kernel:
    def __init__(self, res, arch="gfx942", block=256):
        self.launcher, self.kernel, self.resources = "launch", res.name, res
        self.workgroup_size, self.dynamic_lds, self.code_object_arch, self.elf = block, 0, arch, b""


def _job(target="gfx942"):
    return CompileJob("probe", "probe", "p", 8, 2, 32, 16, False, target)


def test_rows_fail_on_job_error_and_compiler_error_lines(tmp_path):
    rows = rows_from_outcome(_Outcome(_job(), error="RuntimeError: boom"))
    assert len(rows) == 1 and not rows[0].ok and "boom" in rows[0].reason
    rows = rows_from_outcome(_Outcome(_job(), [_Kernel(_res())],
                                      diagnostics="error: local memory (1) exceeds limit in 'k'"))
    assert not rows[0].ok and "compiler" in rows[0].reason
    rows = rows_from_outcome(_Outcome(_job(), [_Kernel(_res(), arch="gfx950")]))
    assert not rows[0].ok and "code object is for gfx950" in rows[0].reason
    good = rows_from_outcome(_Outcome(_job(), [_Kernel(_res())]))
    assert good[0].ok, good[0].reason
    csv_path, md_path = write_reports(rows + good, tmp_path)
    text = csv_path.read_text().splitlines()
    assert text[0].startswith("backend,kernel,launcher,path,shape")
    for col in ("ok", "vgpr", "sgpr", "agpr", "lds_bytes", "scratch_bytes", "occupancy", "reason"):
        assert col in text[0].split(",")
    assert len(text) == 3 and "Failures" in md_path.read_text()


# --------------------------------------------------------------------------
# Toolchain finder
# --------------------------------------------------------------------------

def test_incomplete_rocm_path_is_one_line_with_the_fix(tmp_path):
    with pytest.raises(ToolchainMissing) as exc:
        find_toolchain({"ROCM_PATH": str(tmp_path)})
    msg = str(exc.value)
    assert "\n" not in msg and "amdgcn/bitcode" in msg and "apt-get install rocm-device-libs lld-22" in msg


def test_complete_rocm_path_is_used_as_is(tmp_path):
    (tmp_path / "amdgcn" / "bitcode").mkdir(parents=True)
    (tmp_path / "amdgcn" / "bitcode" / "ocml.bc").write_bytes(b"BC")
    lld = tmp_path / "llvm" / "bin" / "ld.lld"
    lld.parent.mkdir(parents=True)
    lld.write_text("#!/bin/sh\n")
    lld.chmod(0o755)
    tc = find_toolchain({"ROCM_PATH": str(tmp_path)})
    assert tc.root == tmp_path and tc.source == "ROCM_PATH"


# --------------------------------------------------------------------------
# Real compiles
# --------------------------------------------------------------------------

TOOLCHAIN_MISSING = missing_reason()
needs_toolchain = pytest.mark.skipif(TOOLCHAIN_MISSING is not None, reason=f"{TOOLCHAIN_MISSING}")


def _workers() -> int:
    share = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return max(1, (os.cpu_count() or 1) // share)


def _compile(jobs):
    from kernels.compilecheck.toolchain import ensure_toolchain

    ensure_toolchain()
    outcomes = run_jobs(jobs, workers=_workers())
    return outcomes, [r for o in outcomes for r in rows_from_outcome(o)]


def _assert_all_ok(rows, what):
    assert rows, f"{what}: nothing compiled"
    bad = [r for r in rows if not r.ok]
    assert not bad, f"{what}: {len(bad)} of {len(rows)} kernels fail:\n" + "\n".join(
        f"  {r.backend}:{r.path}:{r.kernel} {r.shape} T={r.tokens} mask={r.mask} {r.target}: {r.reason}"
        for r in bad)


@pytest.fixture(scope="module")
def probe_outcomes():
    from kernels.compilecheck.providers.probe import make_job

    jobs = [make_job(t) for t in TARGETS]
    jobs += [make_job(t, lds_bytes=96 * 1024) for t in TARGETS]
    jobs += [make_job(t, lds_bytes=48 * 1024, min_workgroups_per_cu=2) for t in TARGETS]
    jobs += [make_job("gfx950", libcall=True)]
    outcomes, rows = _compile(jobs)
    return outcomes, rows


@pytest.mark.compile
@needs_toolchain
def test_probe_compiles_and_fits_on_both_targets(probe_outcomes):
    _, rows = probe_outcomes
    default = [r for r in rows if r.path == "lds16k"]
    assert sorted(r.target for r in default) == sorted(TARGETS)
    _assert_all_ok(default, "probe")


@pytest.mark.compile
@needs_toolchain
@pytest.mark.parametrize("target", TARGETS)
def test_metadata_reader_on_a_real_code_object(probe_outcomes, target):
    outcomes, _ = probe_outcomes
    out = next(o for o in outcomes if o.job.target == target and o.job.path == "lds16k")
    assert out.error is None, out.error
    (k,) = out.kernels
    co = read_code_object(k.elf)
    assert co.arch == target and co.target.endswith(target)
    r = co.kernel(k.kernel)
    # Known by construction: 256 threads, 16 KiB static LDS, no scratch, wave64.
    assert r.lds_bytes == 16 * 1024 and r.scratch_bytes == 0 and r.wavefront_size == 64
    assert r.max_flat_workgroup_size == 256 and r.reqd_workgroup_size == (256, 1, 1)
    assert 1 <= r.vgpr_count <= 512 and 1 <= r.sgpr_count <= 112 and r.agpr_count == 0
    # The kernel descriptor agrees with the metadata note.
    assert r.descriptor is not None
    assert r.descriptor.group_segment_fixed_size == r.lds_bytes
    assert r.descriptor.private_segment_fixed_size == r.scratch_bytes
    assert r.descriptor.vgpr_alloc(8) >= -(-r.vgpr_count // 8) * 8
    assert k.workgroup_size == 256


@pytest.mark.compile
@needs_toolchain
@pytest.mark.parametrize("path,why", [("lds96k", "LDS"),        # 96 KiB of LDS: more than gfx942 has
                                      ("lds48k", "per CU")])    # 48 KiB x 2 workgroups per CU assumed
def test_probe_breaking_a_limit_fails_on_gfx942_only(probe_outcomes, path, why):
    _, rows = probe_outcomes
    r = {r.target: r for r in rows if r.path == path}
    assert not r["gfx942"].ok and why in r["gfx942"].reason
    assert r["gfx950"].ok, r["gfx950"].reason


@pytest.mark.compile
@needs_toolchain
def test_probe_whose_compile_prints_an_error_fails(probe_outcomes):
    _, rows = probe_outcomes
    (r,) = [r for r in rows if r.path.endswith("-tan")]
    assert not r.ok and "compiler:" in r.reason and "error" in r.reason


def _backend_reason(name):
    from kernels.compilecheck import available_backends

    return available_backends()[name]


@pytest.mark.compile
@needs_toolchain
@pytest.mark.parametrize("backend,paths", [
    ("flydsl-own", {"small", "medium", "large"}),                      # on every target
    ("flydsl-upstream", {"oneshot", "2k", "4k", "fused", "gating"}),   # on some target
])
def test_kernels_fit_every_production_shape_path_mask_and_target(tmp_path, backend, paths):
    why = _backend_reason(backend)
    if why:
        pytest.skip(f"{backend}: {why}")
    jobs = compile_jobs(backend, TARGETS)
    _, rows = _compile(jobs)
    write_reports(rows, tmp_path)
    built = {(j.path, j.target) for j in jobs}
    if backend == "flydsl-own":
        assert built >= {(p, t) for p in paths for t in TARGETS}
    assert {p for p, _ in built} >= paths
    _assert_all_ok(rows, backend)


def test_markdown_lists_failures_first():
    rows = [Row("b", "k", "l", "p", "E8-k2-u32", "m", 1, False, "gfx942", False, reason="why")]
    md = markdown(rows)
    assert md.index("## Failures") < md.index("## All kernels") and "why" in md
