"""A broken FlyDSL setup is one line on stderr naming what is wrong, exit status 2, no traceback."""
import os
import subprocess
import sys

from tests.fuzz.campaign_helpers import ROOT


def _fuzz(tmp_path, *args, **env):
    cmd = [sys.executable, "-m", "fuzz", *args]
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([*env.pop("extra_path", ()), str(ROOT)]), **env)
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300)


def _one_clean_line(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _run_args(tmp_path, backend):
    return ["run", "--backend", backend, "--cases", "1", "--plain", "--fixtures", str(tmp_path / "fx"),
            "--db", str(tmp_path / "db"), "--out", str(tmp_path / "out")]


def test_a_flydsl_root_that_names_no_checkout(tmp_path):
    missing = tmp_path / "nowhere"
    line = _one_clean_line(_fuzz(tmp_path, *_run_args(tmp_path, "flydsl-upstream"), FLYDSL_ROOT=str(missing)))
    assert f"FLYDSL_ROOT={str(missing)!r}" in line and "kernels/__init__.py not found" in line


def test_a_checkout_whose_kernel_file_does_not_import(tmp_path):
    checkout = tmp_path / "FlyDSL"
    (checkout / "kernels" / "moe").mkdir(parents=True)
    (checkout / "kernels" / "__init__.py").write_text("")
    (checkout / "kernels" / "moe" / "__init__.py").write_text("")
    (checkout / "kernels" / "moe" / "moe_sorting_kernel.py").write_text("def moe_sorting_flydsl(:\n    pass\n")
    line = _one_clean_line(_fuzz(tmp_path, *_run_args(tmp_path, "flydsl-upstream"), FLYDSL_ROOT=str(checkout)))
    assert f"FLYDSL_ROOT={str(checkout)!r}" in line and "SyntaxError" in line
    assert "moe_sorting_kernel.py, line 1" in line


def test_a_flydsl_release_the_interpreter_does_not_know(tmp_path):
    fake = tmp_path / "site" / "flydsl"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "0.9.1"\n')
    proc = _fuzz(tmp_path, *_run_args(tmp_path, "flydsl-own"), extra_path=[str(fake.parent)])
    line = _one_clean_line(proc)
    assert "flydsl.__version__='0.9.1'" in line and "supports flydsl 0.4.2, 0.5.0" in line
