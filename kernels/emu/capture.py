"""Capture: get FlyDSL's structured, lowered module for a ``@flyc.jit`` call and run it.

Extension points used:

* an ``"emu"`` compile backend (``flydsl.compiler.backends.register_backend``),
  a ROCm backend for the emulated arch whose pipeline stops after
  ``convert-fly-to-rocdl`` + ``canonicalize`` -- the last stage that still has
  structured ``scf`` control flow (we cut FlyDSL's own fragment list before
  its first ``convert-scf-to-cf``, so new FlyDSL versions keep their passes);
* ``register_compile_runtime_mapping("emu", "rocm")`` so FlyDSL's
  backend/runtime pairing check accepts it.

The small hook: FlyDSL has no extension point to replace the *executor* of a
compiled artifact (``CallState`` always calls an LLVM ``ExecutionEngine`` that
needs HIP), so while :func:`kernels.emu.emulate` is active we replace
``JitFunction._compile_or_execute`` (this module's :func:`_emu_compile_or_execute`,
installed/removed only by :func:`install` / :func:`uninstall`).  It traces with
FlyDSL's own ``_trace`` (0.5.0; ``_trace_and_compile`` on 0.4.2), lowers with
the ``emu`` backend's pipeline, and
executes the host function with the real arguments.  ``flyc.compile(...)``
goes through the same method and returns an :class:`EmuCompiledFunction`.

Caches: the captured, code-generated :class:`simt.Program` is cached in
memory per (launcher, target, constexpr values, argument cache signatures:
dtype/rank/layout kind of tensors, types of scalars), so a second launch of
the same shape skips tracing and lowering; and on disk (:mod:`.diskcache`),
keyed by a digest of the interpreter's own source, FlyDSL's version, Python's
version, the target, the launcher's fingerprint (its function, source file and
the values its closure captures, :mod:`.fingerprint`), the argument signatures
and FlyDSL's compile hints.  An entry also lists the digest of every source
file its module's locations name (the kernel's files, their helpers') and is
used only while each still matches, so an edited or mutated kernel copy never
reuses a stale capture.  While a session is active, FlyDSL's AST rewrite of
decorated functions comes from the same cache (:mod:`.rewrite_cache`).  Arguments are decoded from
FlyDSL's own C ABI packing (``c_abi_spec`` fills), one slot per host-function
argument.
"""
from __future__ import annotations

import ctypes
import inspect
import sys
import threading

import numpy as np

from ..targets import get_target
from . import diskcache, fingerprint, irload, rewrite_cache, session
from .errors import EmuError
from .findings import FINDINGS, parse_loc
from .memory import Allocation, GlobalMemory
from .mtypes import field_offset, np_dtype
from .semantics import bits_to_bf16
from .simt import Program
from .stats import STATS

_lock = threading.RLock()
_state = {"installed": 0, "orig": None}
_output_only = {}      # storage data_ptr -> True (cleared by unmark_output_only)
_cached_launchers = []


def clear_cache(launcher=None):
    targets = [launcher] if launcher is not None else list(_cached_launchers)
    for jf in targets:
        jf = getattr(jf, "__self__", jf)
        jf.__dict__.pop("_emu_cache", None)
        if jf in _cached_launchers:
            _cached_launchers.remove(jf)


# ----------------------------------------------------------------- backend
def _make_backend_class():
    from flydsl.compiler.backends.base import GPUTarget
    from flydsl.compiler.backends.rocm import RocmBackend

    class EmuBackend(RocmBackend):
        """ROCm lowering for an emulated target, stopping at structured MLIR."""

        @staticmethod
        def detect_target():
            from flydsl.runtime.device import get_rocm_arch
            from flydsl.utils import env
            arch = env.compile.arch or get_rocm_arch()
            return GPUTarget(backend="rocm", arch=arch, warp_size=get_target(arch).wave_size)

        @classmethod
        def make_target(cls, arch):
            return GPUTarget(backend="rocm", arch=arch, warp_size=get_target(arch).wave_size)

        def pipeline_fragments(self, *, compile_hints):
            frags = RocmBackend.pipeline_fragments(self, compile_hints=compile_hints)
            out = []
            for f in frags:
                if "convert-scf-to-cf" in f:
                    break
                out.append(f)
            return out

        def toolkit_fingerprint(self):
            return "emu"

    return EmuBackend


def register():
    """Register the ``emu`` backend (idempotent)."""
    from flydsl.compiler import backends
    from flydsl.runtime import device_runtime

    if "emu" not in backends._registry:
        backends.register_backend("emu", _make_backend_class())
    device_runtime.register_compile_runtime_mapping("emu", "rocm")


# ----------------------------------------------------------------- hook
def install():
    from flydsl.compiler.jit_function import JitFunction

    with _lock:
        register()
        if _state["installed"] == 0:
            _state["orig"] = JitFunction.__dict__["_compile_or_execute"]
            JitFunction._compile_or_execute = _emu_compile_or_execute
            rewrite_cache.install()
        _state["installed"] += 1


def uninstall():
    from flydsl.compiler.jit_function import JitFunction

    with _lock:
        _state["installed"] -= 1
        if _state["installed"] == 0:
            JitFunction._compile_or_execute = _state["orig"]
            rewrite_cache.uninstall()


def _arg_signature(param, value):
    from flydsl.compiler.jit_argument import is_type_param_annotation
    from flydsl.expr.typing import Constexpr

    ann = param.annotation
    if ann is not inspect.Parameter.empty and (Constexpr.is_constexpr_annotation(ann) or is_type_param_annotation(ann)):
        try:
            hash(value)
            return ("c", value)
        except TypeError:
            return ("c", repr(value))
    sig = getattr(value, "__cache_signature__", None)
    if sig is not None:
        try:
            s = sig()
            hash(s)
            return ("j", s)
        except Exception:
            pass
    t = getattr(value, "torch_tensor", None)
    if t is not None:
        return ("t", str(t.dtype), tuple(t.shape), tuple(t.stride()))
    return ("v", type(value).__name__)


def _emu_compile_or_execute(self, args, kwargs, *, execute, return_compiled=False):
    from flydsl._mlir import ir

    if ir.Context.current is not None:          # nested @jit call while tracing: inline it
        return self.func(*args, **kwargs)
    sess = session.current()
    bound_self, args = self._split_self(args)
    sig = self._sig
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    _resolve(self, bound.arguments)
    args_tuple = tuple(bound.arguments.values())
    program, host_name = _get_program(self, sig, bound, bound_self, sess)
    if return_compiled:
        return EmuCompiledFunction(self, sig, program, host_name)
    if not execute:
        return None
    _execute(program, host_name, sig, args_tuple, sess)
    return None


def _resolve(jf, arguments):
    """Replace call values by FlyDSL JitArguments in place (0.5.0 and 0.4.2 spell it differently)."""
    if hasattr(jf, "_resolve_arguments"):
        jf._resolve_arguments(arguments)
    else:
        jf._resolve_and_make_cache_key(arguments, effective_hints=jf._effective_compile_hints())


def _get_program(jf, sig, bound, bound_self, sess):
    key = (sess.target.arch, id(bound_self) if bound_self is not None else None, _signatures(sig, bound))
    cache = jf.__dict__.get("_emu_cache")
    if cache is None:
        cache = jf.__dict__["_emu_cache"] = {}
        _cached_launchers.append(jf)
    hit = cache.get(key)
    if hit is not None:
        sess.cache_hits += 1
        return hit
    sess.cache_misses += 1
    disk, disk_key, files = _disk_entry(jf, key, bound_self)
    if disk is not None:
        hit = _load(disk, disk_key, sess.target)
        if hit is not None:
            sess.disk_hits += 1
            cache[key] = hit
            return hit
    text = _lower(jf, sig, bound, bound_self)
    mod = irload.load_module(text)
    if len(mod.host) != 1:
        raise EmuError(f"expected one host function in the captured module, found {list(mod.host)}")
    program = Program(mod, sess.target)
    program.prepare()
    host_name = next(iter(mod.host))
    cache[key] = (program, host_name)
    if disk is not None:
        _store(disk, disk_key, files, program, host_name)
    return program, host_name


def _disk_entry(jf, key, bound_self):
    """(the persistent cache, the entry's key, the launcher's source files), or Nones when
    the cache is off or the launcher has no stable fingerprint (it is then cached in memory only)."""
    disk = diskcache.current()
    if disk is None or bound_self is not None:
        return None, None, ()
    try:
        desc, files = fingerprint.launcher_fingerprint(getattr(jf.func, "__wrapped__", jf.func))
    except fingerprint.Unstable:
        return None, None, ()
    import flydsl

    try:
        hints = repr(sorted(jf._effective_compile_hints().items()))
    except Exception:  # noqa: BLE001 - hints that do not sort or print: no disk cache
        return None, None, ()
    disk_key = diskcache.key_of(fingerprint.interpreter_version(), getattr(flydsl, "__version__", "?"), sys.version,
                                key[0], desc, key[2], hints)
    if disk_key is None:
        return None, None, ()
    return disk, disk_key, files


def _source_files(program) -> set:
    """Every file a source location of the program's ops names."""
    files = set()

    def walk(block):
        for op in block.ops:
            for f, _line in parse_loc(op.loc):
                files.add(f)
            for r in op.regions:
                walk(r)
    for fn in list(program.ir.kernels.values()) + list(program.ir.host.values()):
        walk(fn.body)
    return files


def _load(disk, disk_key, target):
    payload = disk.load(disk_key)
    if payload is None:
        return None
    for path, digest in payload.get("deps", {}).items():
        if fingerprint.file_digest(path) != digest:
            return None
    try:
        return Program.from_state(payload["program"], target), payload["host_name"]
    except Exception:  # noqa: BLE001 - an entry that does not rebuild is captured again
        return None


def _store(disk, disk_key, files, program, host_name):
    # a location naming no readable file is recorded as None: it must stay unreadable
    deps = {path: fingerprint.file_digest(path) for path in set(files) | _source_files(program)}
    disk.store(disk_key, {"deps": deps, "host_name": host_name, "program": program.state()})


def _lower(jf, sig, bound, bound_self):
    """Trace with FlyDSL and lower with the emu backend; returns structured MLIR text."""
    from flydsl._mlir.passmanager import PassManager
    from flydsl.compiler import jit_function as J
    from flydsl.compiler.backends import get_backend
    from flydsl.compiler.kernel_function import CompilationContext

    hints = jf._effective_compile_hints()
    backend = get_backend()
    if not hasattr(jf, "_trace"):
        # FlyDSL 0.4.2: one method traces and lowers with the active (emu) backend's pipeline
        with J._create_mlir_context() as ctx, CompilationContext.compile_hints(hints):
            res = jf._trace_and_compile(ctx, sig, bound, bound_self, execute=False)
            return res.compiled_module.operation.get_asm(enable_debug_info=True, assume_verified=True)
    with J._create_mlir_context() as ctx, CompilationContext.compile_hints(hints):
        traced = _call_trace(jf, ctx, sig, bound, bound_self)
        module = traced.module if hasattr(traced, "module") else traced[0]
        module.operation.verify()
        frags = backend.pipeline_fragments(compile_hints=hints)
        pm = PassManager.parse(f"builtin.module({','.join(frags)})")
        J._run_pass_manager(pm, module)
        return module.operation.get_asm(enable_debug_info=True, assume_verified=True)


def lowered_text(launcher, *args, **kwargs) -> str:
    """The structured MLIR the interpreter would run for ``launcher(*args, **kwargs)``, traced and
    lowered inside the current session and neither cached nor prepared (unknown ops do not fail
    here).  For tools that inspect a kernel's ops (:mod:`kernels.emu.coverage`)."""
    jf = getattr(launcher, "__self__", launcher)
    bound_self, args = jf._split_self(args)
    sig = jf._sig
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    _resolve(jf, bound.arguments)
    return _lower(jf, sig, bound, bound_self)


def launch_signature(launcher, *args, **kwargs) -> tuple:
    """The argument signatures (constexpr values; dtype, rank and layout of tensors; types of
    scalars) that the module cache files ``launcher(*args, **kwargs)`` under: for one launcher
    and target, two calls with equal signatures share one captured module."""
    jf = getattr(launcher, "__self__", launcher)
    _bound_self, args = jf._split_self(args)
    bound = jf._sig.bind(*args, **kwargs)
    bound.apply_defaults()
    _resolve(jf, bound.arguments)
    return _signatures(jf._sig, bound)


def _signatures(sig, bound) -> tuple:
    return tuple(_arg_signature(sig.parameters[n], v) for n, v in bound.arguments.items())


def _call_trace(jf, ctx, sig, bound, bound_self):
    params = inspect.signature(jf._trace).parameters
    if "execute" in params:
        return jf._trace(ctx, sig, bound, bound_self, execute=False)
    return jf._trace(ctx, sig, bound, bound_self)


# ----------------------------------------------------------------- arguments
def _decode(raw: bytes, ty, off=0):
    if ty.kind == "ptr":
        return np.int64(int.from_bytes(raw[off:off + 8], "little", signed=True))
    if ty.kind == "int":
        n = max(1, ty.width // 8)
        v = int.from_bytes(raw[off:off + n], "little", signed=True)
        return np_dtype(ty)(v) if ty.width > 1 else np.bool_(v & 1)
    if ty.kind == "float":
        n = ty.width // 8
        dt = {2: np.float16, 4: np.float32, 8: np.float64}[n]
        v = np.frombuffer(raw[off:off + n], dtype=dt)[0]
        if ty.name == "bf16":
            return np.float32(bits_to_bf16(np.frombuffer(raw[off:off + 2], np.uint16))[0])
        return np_dtype(ty)(v)
    if ty.kind == "struct":
        return tuple(_decode(raw, f, off + field_offset(ty, i)) for i, f in enumerate(ty.fields))
    if ty.kind == "token":
        return None
    raise EmuError(f"cannot pass a host argument of type {ty}")


def _allocations(args_tuple):
    import torch

    seen = {}
    n = 0

    def add(t, name):
        nonlocal n
        if not isinstance(t, torch.Tensor):
            return
        if t.device.type != "cpu":
            raise EmuError(f"argument {name}: the CPU interpreter needs CPU tensors, got {t.device}")
        st = t.untyped_storage()
        p = st.data_ptr()
        if p in seen or st.nbytes() == 0:
            return
        seen[p] = Allocation(p, st.nbytes(), name, output_only=p in _output_only)

    for i, a in enumerate(args_tuple):
        t = getattr(a, "torch_tensor", a)
        add(t, f"arg{i}")
        n += 1
    return list(seen.values())


def _execute(program, host_name, sig, args_tuple, sess):
    """Run the host function on the arguments, or record the launch into the graph
    being captured (:func:`session.recording_graph`): arguments are packed now, as a
    graph freezes pointers and scalars, and the tensors are read when it is replayed."""
    values = _pack(program, host_name, sig, args_tuple)
    names = list(sig.parameters)
    graph = session.recording_graph()
    if graph is not None:
        graph.record(host_name, sess, lambda options: _run(program, host_name, values, names, args_tuple, options),
                     program.kernels_launched(host_name, values, sess.options))
        return
    _run(program, host_name, values, names, args_tuple, sess.options)


def _pack(program, host_name, sig, args_tuple) -> tuple:
    """The host function's argument values, decoded from FlyDSL's C ABI packing."""
    from flydsl.compiler.jit_function import _build_call_spec

    spec = _build_call_spec(sig, args_tuple)
    host = program.ir.host[host_name]
    types = host.body.arg_types
    if len(spec) != len(types):
        raise EmuError(f"ABI mismatch: {len(spec)} packed slots for {len(types)} host arguments")
    values = []
    for (arg_idx, ctype, fill), ty in zip(spec, types):
        try:
            s = ctype(0)
        except TypeError:
            s = ctype()
        if fill is not None:
            fill(args_tuple[arg_idx], s)
        raw = ctypes.string_at(ctypes.addressof(s), ctypes.sizeof(s))
        values.append(_decode(raw, ty))
    return tuple(values)


def _run(program, host_name, values, names, args_tuple, options) -> None:
    allocs = _allocations(args_tuple)
    for a in allocs:
        i = int(a.name[3:])
        if i < len(names):
            a.name = names[i]
    gmem = GlobalMemory(allocs, options.sanitize)
    STATS.begin_call()
    FINDINGS.begin_call()
    program.run_host(host_name, values, gmem, options)


class EmuCompiledFunction:
    """What ``flyc.compile(...)`` returns under emulation: call it with the launcher's positional args."""

    def __init__(self, jf, sig, program, host_name):
        self._jf = jf
        self._sig = sig
        self._program = program
        self._host = host_name

    def __call__(self, *args):
        bound = self._sig.bind(*args)
        bound.apply_defaults()
        _resolve(self._jf, bound.arguments)
        _execute(self._program, self._host, self._sig, tuple(bound.arguments.values()), session.current())


def mark_output_only(*tensors):
    """Flag tensors whose bytes count as uninitialized at each launch until written in it."""
    for t in tensors:
        _output_only[t.untyped_storage().data_ptr()] = True


def unmark_output_only(*tensors):
    """Undo :func:`mark_output_only`."""
    for t in tensors:
        _output_only.pop(t.untyped_storage().data_ptr(), None)
