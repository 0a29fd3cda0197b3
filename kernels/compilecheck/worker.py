"""Worker side of the compile matrix: run FlyDSL launchers compile-only, keep the binaries.

How FlyDSL is driven (flydsl 0.5.0; ``flydsl/utils/env.py``,
``compiler/jit_function.py``, ``compiler/backends/rocm.py``):

* ``COMPILE_ONLY=1`` makes a ``@flyc.jit`` call run the whole pipeline
  (trace -> MLIR passes -> ROCDL -> LLVM AMDGPU -> ``ld.lld``) and return
  without creating a device runtime.  Host tensors (CPU torch tensors) are
  accepted as compile placeholders.
* ``ARCH`` picks the compile target; ``FLYDSL_GPU_ARCH`` is what
  ``flydsl.runtime.device.get_rocm_arch()`` answers, which kernels read to
  size themselves.  Both are read from ``os.environ`` on every call, but
  kernel builders cache their results per shape (``functools.lru_cache``
  without the arch in the key), so ONE PROCESS MUST ONLY EVER SEE ONE
  TARGET: the matrix runs one process pool per target (see
  :func:`init_worker`).
* ``FLYDSL_RUNTIME_CACHE_DIR`` is FlyDSL's on-disk artifact cache; the matrix
  points it at a temporary directory so nothing stale is reused and nothing
  leaks into ``~/.flydsl``.
* After each top-level call, ``JitFunction._last_compiled`` holds
  ``(key, CompiledArtifact)``; the artifact's ``.ir`` is the final MLIR
  module, with a ``gpu.binary`` per GPU module (the HSA code object bytes in
  its first ``#gpu.object``) and the host function's ``gpu.launch_func`` ops
  (kernel symbol, block size, dynamic LDS).  :func:`capture_compiles` records
  every top-level launcher call made inside it.

Contract: :func:`compile_in_worker` runs a provider's ``compile(job)`` under
the capture, redirects the compiler's stderr (LLVM prints diagnostics such as
"local memory (N) exceeds limit" there and still emits a binary) and returns
a :class:`JobOutcome`; it never raises for a failing job.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import time
import traceback
from typing import Optional

from .codeobject import KernelResources, read_code_object
from .jobs import CompileJob
from .providers import provider_module

#: Environment a compile-only worker runs under (plus ROCM_PATH and the cache dir).
COMPILE_ENV = {"COMPILE_ONLY": "1"}


@dataclasses.dataclass(frozen=True)
class CompiledKernel:
    """One GPU kernel of one launcher call, as compiled."""

    launcher: str  # the @flyc.jit function's name
    kernel: str  # the GPU kernel symbol
    resources: KernelResources
    workgroup_size: Optional[int]  # from the launch; None when not a constant
    dynamic_lds: int
    code_object_arch: str
    elf: bytes


@dataclasses.dataclass
class JobOutcome:
    job: CompileJob
    kernels: list
    error: Optional[str] = None
    diagnostics: str = ""
    seconds: float = 0.0


def init_worker(target: str, env: dict) -> None:
    """ProcessPool initializer: fix this process to ``target`` for its whole life."""
    os.environ.update(env)
    os.environ.update(COMPILE_ENV)
    os.environ["ARCH"] = target
    os.environ["FLYDSL_GPU_ARCH"] = target


@contextlib.contextmanager
def capture_compiles():
    """Yield a list that receives ``(launcher_name, CompiledArtifact)`` per top-level jit call."""
    from flydsl._mlir import ir
    from flydsl.compiler.jit_function import JitFunction

    if not hasattr(JitFunction, "_compile_or_execute"):
        raise RuntimeError(
            "this flydsl has no JitFunction._compile_or_execute; the compile "
            "matrix is written against flydsl 0.5.0's internals (kernels/compilecheck/worker.py)"
        )
    seen: list = []
    original = JitFunction._compile_or_execute

    def recording(self, args, kwargs, *, execute, return_compiled=False):
        top = ir.Context.current is None
        before = getattr(self, "_last_compiled", None)
        try:
            return original(self, args, kwargs, execute=execute, return_compiled=return_compiled)
        finally:
            after = getattr(self, "_last_compiled", None)
            if top and after is not None and after is not before:
                seen.append((self.func.__name__, after[1]))

    JitFunction._compile_or_execute = recording
    try:
        yield seen
    finally:
        JitFunction._compile_or_execute = original


def binaries_and_launches(ir_text: str):
    """From a compiled module's text: ({module: elf bytes}, [(module, kernel, block, dyn_lds)])."""
    from flydsl._mlir import ir
    from flydsl._mlir.dialects import gpu
    from flydsl.compiler.jit_function import _create_mlir_context

    binaries: dict = {}
    launches: list = []

    def constant(value):
        if value is None:
            return 0
        owner = value.owner
        if getattr(owner, "name", None) != "llvm.mlir.constant":
            return None
        return ir.IntegerAttr(owner.attributes["value"]).value

    def visit(op):
        if op.name == "gpu.binary":
            objects = ir.ArrayAttr(op.attributes["objects"])
            binaries[ir.StringAttr(op.attributes["sym_name"]).value] = bytes(gpu.ObjectAttr(objects[0]).object)
        elif op.name == "gpu.launch_func":
            launch = op.opview
            dims = [constant(launch.blockSizeX), constant(launch.blockSizeY), constant(launch.blockSizeZ)]
            block = None if None in dims else dims[0] * dims[1] * dims[2]
            module, kernel = ir.SymbolRefAttr(launch.kernel).value
            launches.append((module, kernel, block, constant(launch.dynamicSharedMemorySize) or 0))
        return ir.WalkResult.ADVANCE

    with _create_mlir_context():
        ir.Module.parse(ir_text).operation.walk(visit)
    return binaries, launches


def kernels_of(launcher: str, artifact) -> list:
    """Every GPU kernel ``artifact`` launches, with its code-object resources."""
    binaries, launches = binaries_and_launches(artifact.ir)
    out = []
    parsed = {name: read_code_object(elf) for name, elf in binaries.items()}
    launched = set()
    for module, kernel, block, dyn in launches:
        if (module, kernel) in launched:
            continue
        launched.add((module, kernel))
        co = parsed[module]
        out.append(CompiledKernel(launcher, kernel, co.kernel(kernel), block, dyn, co.arch, binaries[module]))
    # Kernels in a binary that no launch names (still compiled, still checked).
    for module, co in parsed.items():
        for res in co.kernels:
            if (module, res.name) not in launched:
                out.append(CompiledKernel(launcher, res.name, res, None, 0, co.arch, binaries[module]))
    return out


@contextlib.contextmanager
def _stderr_to(path: str):
    """Redirect file descriptor 2 (where LLVM writes) to ``path`` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as f:
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def compile_in_worker(job) -> JobOutcome:
    """Run ``job``'s provider compile under capture; return what was built or why not."""
    start = time.monotonic()
    outcome = JobOutcome(job=job, kernels=[])
    fd, log_path = tempfile.mkstemp(prefix="flydsl-diag-", suffix=".txt")
    os.close(fd)
    try:
        with _stderr_to(log_path), capture_compiles() as seen:
            try:
                provider_module(job.backend).compile(job)
            except Exception as exc:  # noqa: BLE001 - reported per job
                outcome.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
                outcome.diagnostics = traceback.format_exc(limit=6)
        for launcher, artifact in seen:
            try:
                outcome.kernels.extend(kernels_of(launcher, artifact))
            except Exception as exc:  # noqa: BLE001
                outcome.error = outcome.error or f"reading the code object of {launcher}: {exc}"
        if not seen and outcome.error is None:
            outcome.error = "the launcher compiled no FlyDSL kernel (did it reach @flyc.jit?)"
        with open(log_path, "r", errors="replace") as f:
            outcome.diagnostics = (f.read() + outcome.diagnostics).strip()
    finally:
        os.unlink(log_path)
        outcome.seconds = time.monotonic() - start
    return outcome

