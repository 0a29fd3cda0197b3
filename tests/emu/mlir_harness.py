"""Run hand-written MLIR (the ops as the dialects define them) on the interpreter.

``run_lanes(body, in_types, out_type, inputs, nlanes)`` builds a one-workgroup
kernel: lane i loads ``%a0..%aK`` = ``inputs[k][i]`` through raw global
pointers, runs ``body`` (MLIR lines that must define ``%r`` of ``out_type``)
and stores ``%r`` to ``out[i]``; returns the output array.  ``uniform=True``
passes the inputs as kernel scalar arguments instead (wave-uniform values).
This tests op semantics independently of FlyDSL's front end.

Every module the harness runs goes through :func:`load`.  With
``$EMU_HARNESS_RECORD_OPS`` naming a file, :func:`load` appends the names of
the module's ops to it, one per line: the op-coverage test
(``test_op_coverage.py``) collects so which ops the per-op tests exercise.
"""
import os

import numpy as np

from kernels.emu import irload
from kernels.emu.memory import Allocation, GlobalMemory
from kernels.emu.simt import Options, Program
from kernels.targets import get_target

RECORD_ENV = "EMU_HARNESS_RECORD_OPS"


def op_names(module) -> set:
    """Names of every op in the host functions and kernels of ``module`` (nested regions too)."""
    return {op.name for func in list(module.host.values()) + list(module.kernels.values())
            for op in _walk_ops(func.body)}


def _walk_ops(block):
    for op in block.ops:
        yield op
        for region in op.regions:
            yield from _walk_ops(region)


def load(text, rename=None):
    """Parse ``text`` into the interpreter's IR (recording its ops when asked to).

    ``rename`` ({parsed op name: op name to run}) renames ops after parsing: it tests
    handlers of ops this MLIR build no longer parses (FlyDSL's older lowerings emit
    them) through the op that replaced them, with the same operands and results."""
    module = irload.load_module(text)
    for func in list(module.host.values()) + list(module.kernels.values()):
        for op in _walk_ops(func.body):
            op.name = (rename or {}).get(op.name, op.name)
    record = os.environ.get(RECORD_ENV)
    if record:
        with open(record, "a") as f:
            f.write("".join(f"{name}\n" for name in sorted(op_names(module))))
    return module


#: Kernel lines that make raw buffer descriptors ``%rs`` and ``%rd`` (stride 0,
#: ``%nrec`` bytes) of the global pointers ``%src`` and ``%dst``, and ``%soff`` = 0.
#: Holds no braces, so ``str.format`` templates may include it.
SRC_DST_BUFFERS = """
      %stride = arith.constant 0 : i16
      %flags = arith.constant 159744 : i32
      %soff = arith.constant 0 : i32
      %gs = llvm.addrspacecast %src : !llvm.ptr<1> to !llvm.ptr
      %gd = llvm.addrspacecast %dst : !llvm.ptr<1> to !llvm.ptr
      %rs = rocdl.make.buffer.rsrc %gs, %stride, %nrec, %flags : !llvm.ptr to <8>
      %rd = rocdl.make.buffer.rsrc %gd, %stride, %nrec, %flags : !llvm.ptr to <8>
"""


_NP = {"i1": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
       "f16": np.float16, "f32": np.float32, "f64": np.float64, "bf16": np.uint16}


def _mem_np(t):
    if t.startswith("vector<"):
        n, el = t[len("vector<"):-1].split("x")
        return _NP[el], int(n)
    return _NP[t], 1


def build_module(body, in_types, out_type, uniform=False, block=64, grid=1):
    kargs, hargs, largs, loads = [], [], [], []
    for k, t in enumerate(in_types):
        if uniform:
            kargs.append(f"%a{k}: {t}")
            hargs.append(f"%h{k}: {t}")
            largs.append(f"%h{k} : {t}")
        else:
            kargs.append(f"%p{k}: !llvm.ptr<1>")
            hargs.append(f"%h{k}: !llvm.ptr<1>")
            largs.append(f"%h{k} : !llvm.ptr<1>")
            loads.append(f"      %g{k} = llvm.getelementptr %p{k}[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {t}\n"
                         f"      %a{k} = llvm.load %g{k} : !llvm.ptr<1> -> {t}")
    kargs.append("%pout: !llvm.ptr<1>")
    hargs.append("%hout: !llvm.ptr<1>")
    largs.append("%hout : !llvm.ptr<1>")
    body = "\n".join("      " + ln.strip() for ln in body.strip().splitlines())
    return f"""
module attributes {{gpu.container_module}} {{
  gpu.module @kernels {{
    gpu.func @k({', '.join(kargs)}) kernel {{
      %t = gpu.thread_id x
      %ti = arith.index_cast %t : index to i64
{chr(10).join(loads)}
{body}
      %go = llvm.getelementptr %pout[%ti] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, {out_type}
      llvm.store %r, %go : {out_type}, !llvm.ptr<1>
      gpu.return
    }}
  }}
  func.func @host({', '.join(hargs)}) {{
    %c1 = arith.constant 1 : index
    %cg = arith.constant {grid} : index
    %cb = arith.constant {block} : index
    gpu.launch_func @kernels::@k blocks in (%cg, %c1, %c1) threads in (%cb, %c1, %c1) args({', '.join(largs)})
    return
  }}
}}
"""


def run_lanes(body, in_types, out_type, inputs, nlanes=None, uniform=False, target="gfx950", sanitize=True,
              rename=None):
    nlanes = nlanes or (len(inputs[0]) if inputs and not uniform else 64)
    text = build_module(body, in_types, out_type, uniform=uniform, block=nlanes)
    prog = Program(load(text, rename), get_target(target))
    keep, allocs, hvals = [], [], []
    for k, (t, vals) in enumerate(zip(in_types, inputs)):
        dt, n = _mem_np(t)
        if uniform:
            hvals.append(dt(vals) if n == 1 else np.asarray(vals, dt))
            continue
        arr = np.ascontiguousarray(np.asarray(vals, dtype=dt).reshape(nlanes, n) if n > 1 else
                                   np.asarray(vals, dtype=dt).reshape(nlanes))
        keep.append(arr)
        allocs.append(Allocation(arr.ctypes.data, arr.nbytes, f"in{k}"))
        hvals.append(np.int64(arr.ctypes.data))
    odt, on = _mem_np(out_type)
    out = np.zeros((nlanes, on) if on > 1 else nlanes, dtype=odt)
    allocs.append(Allocation(out.ctypes.data, out.nbytes, "out"))
    hvals.append(np.int64(out.ctypes.data))
    gm = GlobalMemory(allocs, sanitize)
    prog.run_host("host", tuple(hvals), gm, Options(sanitize=sanitize))
    return out


def run_module(text, args, tensors, target="gfx950", sanitize=True, strict_buffers=False):
    """Run the host function ``@host`` of ``text``; ``args`` are host values, ``tensors`` the live numpy arrays."""
    prog = Program(load(text), get_target(target))
    allocs = [Allocation(a.ctypes.data, a.nbytes, f"t{i}") for i, a in enumerate(tensors)]
    prog.run_host("host", tuple(args), GlobalMemory(allocs, sanitize),
                  Options(sanitize=sanitize, strict_buffers=strict_buffers))
