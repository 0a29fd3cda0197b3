"""The suite's FlyDSL kernels through FlyDSL's pipeline on the CPU (COMPILE_ONLY=1).

* IR checks (always): the structured stage (after ``convert-fly-to-rocdl`` and
  its canonicalize) of every path has no atomics, reaches global memory only
  through buffer resources, and the host function launches 1 / 2 / 4 kernels.
* Binary checks (``compile`` marker): with the ROCm toolchain of
  ``kernels.compilecheck.toolchain`` the pipeline ends in a gfx942 / gfx950 code object.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kernels.moesort import choose_path, path_thresholds
from kernels.targets import TARGET_NAMES

HERE = Path(__file__).resolve().parent
KERNELS_PER_PATH = {"small": 1, "medium": 2, "large": 4}


def _toolchain_env():
    try:
        from kernels.compilecheck import toolchain
    except ImportError as exc:
        return None, f"kernels.compilecheck.toolchain does not import: {exc}"
    env = dict(os.environ)
    try:
        toolchain.ensure_toolchain(env)
    except Exception as exc:  # ToolchainMissing: one line with the fix
        return None, str(exc)
    return env, None


def _run(args, env):
    return subprocess.run([sys.executable, str(HERE / "compile_case.py"), *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=600)


def _tokens_for(path, E, topk, target):
    th = path_thresholds(E, topk, 32, target)
    return {"small": th.medium - 1, "medium": th.medium, "large": th.large}[path]


@pytest.mark.parametrize("path", ["small", "medium", "large"])
def test_structured_ir(path, tmp_path):
    E, topk, target = 257, 9, "gfx950"
    T = _tokens_for(path, E, topk, target)
    env = dict(os.environ, COMPILE_ONLY="1", ARCH=target, FLYDSL_DUMP_IR="1",
               FLYDSL_DUMP_DIR=str(tmp_path))
    tc_env, _ = _toolchain_env()
    if tc_env is not None:
        env["ROCM_PATH"] = tc_env["ROCM_PATH"]
    r = _run([E, topk, T, 32, 1, target], env)
    stages = sorted(tmp_path.glob("*/*_canonicalize.mlir"))
    picked = []
    for d in {p.parent for p in stages}:
        files = sorted(d.glob("*.mlir"))
        names = [f.name for f in files]
        idx = next(i for i, n in enumerate(names) if "convert_fly_to_rocdl" in n)
        picked.append(files[idx + 1])
    assert picked, f"no IR stages dumped; stderr:\n{r.stderr[-2000:]}"
    if r.returncode != 0:
        assert tc_env is None and ("bitcode" in r.stderr or "lld" in r.stderr), r.stderr[-3000:]
    text = "\n".join(p.read_text() for p in picked)
    body = "\n".join(l for l in text.splitlines() if not l.startswith("#loc"))
    assert "atomic" not in body
    # global memory only through buffer resources: no raw loads/stores on addrspace 1
    assert not re.search(r"llvm\.(load|store)[^\n]*!llvm\.ptr<1>", body)
    assert "rocdl.raw.ptr.buffer.store" in body
    launches = len(re.findall(r"gpu\.launch_func", body))
    assert launches == KERNELS_PER_PATH[path]
    if path == "small":
        assert "rocdl.update.dpp" in body and "rocdl.ds_bpermute" in body


@pytest.mark.compile
@pytest.mark.parametrize("target", TARGET_NAMES)
@pytest.mark.parametrize("path", ["small", "medium", "large"])
def test_binary(path, target):
    env, reason = _toolchain_env()
    if env is None:
        pytest.skip(f"ROCm toolchain unavailable: {reason}")
    E, topk = 513, 9
    T = _tokens_for(path, E, topk, target)
    assert choose_path(T, E, topk, 32, target) == path
    env.update(COMPILE_ONLY="1", ARCH=target)
    r = _run([E, topk, T, 32, 1, target], env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"path={path}" in r.stdout
