"""Worker of ``benchmarks/bench_cases.py``: judges cases of one source tree, on request.

Run as ``python benchmarks/emu_case_worker.py`` with the tree to measure as
the working directory and first on ``PYTHONPATH``, so that ``kernels``,
``cases`` and ``fuzz`` are that tree's (it uses only APIs every revision of
the suite since the layout restructuring has: ``cases.Case``,
``fuzz.judge.run_case``, ``kernels.emu.last_launches``).  It reads one JSON
request per line on stdin and answers one JSON line on stdout:

* ``{"op": "case", "backend", "E", "topk", "unit", "T", "seed", "target"}`` (and
  optionally ``"schedule"``: run in the interpreter's interleaved mode under it) ->
  ``{"time": s, "kernel_s": s, "capture_s": s, "lane_ops": n, "ok": bool, "path": str}``
  (``time`` is the whole judged case: inputs, launch, golden model, comparison;
  ``capture_s`` the part of it spent getting kernels ready to run: FlyDSL's
  decorators, which rewrite the kernels' source, and the interpreter's
  ``capture._get_program`` -- tracing, lowering, parsing and code generation,
  or loading all that from the persistent cache);
* ``{"op": "paths", "backend", "E", "topk", "unit", "target"}`` -> ``{"bounds": [...]}``
  (the backend's path boundaries in T);
* ``{"op": "quit"}``.

The first line it prints is ``{"ready": true, "import_s": s}``.
"""
import json
import os
import sys
import time

_t0 = time.perf_counter()
sys.path.insert(0, os.getcwd())

import kernels  # noqa: E402
import kernels.emu as emu  # noqa: E402
from cases import Case  # noqa: E402
from fuzz.judge import run_case  # noqa: E402
from kernels.registry import get  # noqa: E402

_capture = {"s": 0.0, "depth": 0}


def _timed(fn):
    """``fn``, adding the time of its outermost calls to ``_capture``."""
    def wrapper(*args, **kwargs):
        _capture["depth"] += 1
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _capture["depth"] -= 1
            if _capture["depth"] == 0:
                _capture["s"] += time.perf_counter() - start
    return wrapper


def _time_capture():
    from flydsl.compiler.jit_function import JitFunction
    from flydsl.compiler.kernel_function import KernelFunction

    from kernels.emu import capture

    JitFunction.__init__ = _timed(JitFunction.__init__)
    KernelFunction.__init__ = _timed(KernelFunction.__init__)
    capture._get_program = _timed(capture._get_program)


def _case(req):
    case = Case(req["E"], req["topk"], req["T"], unit_size=req["unit"], seed=req["seed"])
    _capture["s"] = 0.0
    start = time.perf_counter()
    if req.get("schedule"):
        with emu.interpreter_options(schedule=req["schedule"]):
            out = run_case(case, req["backend"], req["target"])
    else:
        out = run_case(case, req["backend"], req["target"])
    elapsed = time.perf_counter() - start
    recs = emu.last_launches()
    return {"time": elapsed, "kernel_s": sum(r.time_s for r in recs), "lane_ops": sum(r.lane_ops for r in recs),
            "capture_s": _capture["s"], "ok": bool(out.ok), "path": out.path}


def _paths(req):
    b = get(req["backend"])
    return {"bounds": list(b.path_boundaries(req["E"], req["topk"], req["unit"], req["target"]))}


def _preload():
    """Import what a first case would import (FlyDSL's compiler, the kernels' modules), so that
    the first case's time is its own and not the process's imports."""
    import importlib

    kernels.available()
    for name in ("flydsl.compiler", "flydsl.expr", "kernels.moesort.multi", "kernels.moesort.small",
                 "kernels.emu.capture", "oracle", "regressions.known_findings", "numpy.random", "numpy.ctypeslib",
                 "numpy.ma"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from regressions import known_findings
    known_findings.default()
    _time_capture()


def main():
    _preload()
    print(json.dumps({"ready": True, "import_s": time.perf_counter() - _t0}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "quit":
            break
        try:
            ans = _case(req) if req["op"] == "case" else _paths(req)
        except Exception as exc:  # noqa: BLE001 - reported to the benchmark, which prints it
            ans = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        print(json.dumps(ans), flush=True)


if __name__ == "__main__":
    main()
