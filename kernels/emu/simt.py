"""Executor: runs the host function and, per ``gpu.launch_func``, the kernel over its grid.

Execution model (documented choice): a workgroup of B threads is a NumPy lane
array of ``Lp = ceil(B / W) * W`` lanes (W = wave size; padding lanes are never
active), waves are consecutive groups of W lanes and every op runs for all
waves in lockstep.  **Independent workgroups are vectorized too**: the grid,
in order, is cut into as few batches of at most ``Options.max_batch_lanes``
lanes as possible, of even size (each op costs its Python overhead once per
batch, so no batch is a small tail), and each batch runs as one lane array
(block ids become lane arrays, each workgroup gets its own LDS copy and its own
barrier epoch; a barrier must be reached by all live lanes of each workgroup
that reaches it).  This is one legal schedule of a launch; the schedule check
(``shuffle_schedule``) and ``wg_batch=False`` run one workgroup at a time
(then uniform values stay NumPy scalars and uniform loads/stores take scalar
fast paths).  A workgroup's LDS starts as :data:`LDS_POISON`, never zeros, so a
kernel that reads LDS it has not written gets garbage with the sanitizer on or off.

**Interleaved mode** (``Options.schedule``, a :class:`~.schedule.Schedule`;
off by default): workgroups are batched as in lockstep, and the waves run
with their own program counters between barriers, the scheduler choosing which
wave performs the next memory access, atomic or barrier arrival
(:mod:`.schedule`); wave ``w`` of every workgroup of a batch is one generator,
so the workgroups of a batch follow one schedule.  Results are those of that schedule; findings are the same
checks on the same lanes and waves.  Cross-lane ops act within one wave, whose
lanes step together, so they keep their wave-level semantics in every schedule.
Op counts of a launch count each region once per wave that runs it (lockstep:
once per workgroup); lane-ops are the same.

``Program(module_ir, target)`` caches the generated code of every function;
``Program.run_host(name, args, gmem, opts)`` executes the host function.
"""
from __future__ import annotations

import dataclasses
import pickle
import time

import numpy as np

from .amdgpu import AddressSpace
from .codegen import Compiled, compile_function
from .errors import EmuError
from .findings import Reporter
from .irload import Block, Func
from .lds_layout import align_up, kernel_globals, struct_layout
from .memory import LDS
from .mtypes import byte_size
from .runtime import AtomicLog
from .schedule import Schedule, run_batch
from .stats import STATS, LaunchRecord

#: What LDS holds when a workgroup starts (:meth:`.memory.LDS.reset`), never zeros: this
#: 32-bit word repeated, little-endian (bytes ``AD DB FA 7F``).  Read as i32/i64 it is a
#: huge positive number (2147146669), as f32/f64 a NaN, as i16/f16/bf16 halves -9299 and
#: 32762 / -245.6 and NaN / -9.7e16 and NaN.  In the schedule check's re-run (workgroups one
#: at a time, in the shuffled order) only the first workgroup gets it; each later one finds
#: the bytes its predecessor left, as a CU that runs the workgroups in that order would.
LDS_POISON = 0x7FFADBAD


@dataclasses.dataclass
class Options:
    """How launches run: the checks of :func:`kernels.emu.emulate` (``sanitize``,
    ``shuffle_schedule`` with its ``seed``, ``strict_buffers``), what a sanitizer
    finding does (``findings``: ``"raise"`` stops the launch, ``"record"`` records
    every finding and goes on, :mod:`.findings`), per-op timing (``profile``),
    workgroup batching (``wg_batch``, up to ``max_batch_lanes``), and whether the
    generated code uses the uniformity analysis (``uniformity``; off gives the plain
    per-lane code, for comparison: results, findings and op counts are the same), and
    the interleaved mode's ``schedule`` (None: lockstep; a :class:`~.schedule.Schedule`
    or its string)."""

    sanitize: bool = True
    shuffle_schedule: bool = False
    profile: bool = False
    seed: int = 0
    wg_batch: bool = True
    max_batch_lanes: int = 16384
    strict_buffers: bool = False
    findings: str = "raise"
    uniformity: bool = True
    schedule: Schedule | None = None

    def __post_init__(self):
        Reporter(self.findings)      # validates the mode
        if isinstance(self.schedule, str):
            self.schedule = Schedule.parse(self.schedule)
        if self.schedule is not None and not isinstance(self.schedule, Schedule):
            raise ValueError(f"schedule={self.schedule!r}; expected None, a Schedule or its string")
        if self.schedule is not None and self.shuffle_schedule:
            raise ValueError("schedule and shuffle_schedule=True: the schedule check runs lockstep; "
                             "choose one of the two")


class WG:
    """Context of one batch of ``nb`` workgroups (what generated kernel code sees as ``X``).

    Lane ``l`` is thread ``l % Lp`` of the batch's workgroup ``l // Lp`` (``Lp`` = threads
    rounded up to whole waves).  With ``nb == 1`` block ids and the workgroup id are
    scalars (uniform); with ``nb > 1`` they are lane arrays."""

    def __init__(self, Lp, W, nthreads, block, nb, lds, gmem, sanitize, rec, hist, prof):
        L = Lp * nb
        self.L = L
        self.Lp = Lp
        self.nb = nb
        self.W = W
        self.lane_ids = np.arange(L, dtype=np.int64)
        t = self.lane_ids % Lp
        bx, by, bz = block
        self.tid_x = (t % bx).astype(np.int64)
        self.tid_y = ((t // bx) % by).astype(np.int64)
        self.tid_z = (t // (bx * by)).astype(np.int64)
        self.tid32_x = self.tid_x.astype(np.int32)
        self.tid32_y = self.tid_y.astype(np.int32)
        self.tid32_z = self.tid_z.astype(np.int32)
        self.lane64 = (t % W).astype(np.int64)
        self.lane32 = (t % W).astype(np.int32)
        self.wave_lane = t // W                          # wave of each lane inside its workgroup
        self.copy_lane = self.lane_ids // Lp             # workgroup (LDS copy) of each lane in the batch
        self.bdim_x, self.bdim_y, self.bdim_z = (np.int64(b) for b in block)
        self.m0 = t < nthreads
        self.n_live = nthreads * nb
        self.full = nthreads == Lp
        self.lds = lds
        self.gmem = gmem
        self.sanitize = sanitize
        self.strict_buffers = False
        self.rec = rec
        self.hist = hist
        self.prof = prof
        self.rng = None
        self.atomic_log = None          # the schedule check's log of atomics' returned values (runtime.atomics)
        self.report = None
        self.wg = 0
        self.wg_lane = None
        self.mcache = (None, None, None)
        self.rcache = (None, None)
        self.wcache = (None, None, None, None)
        self.ncache = ((None, None, None, None),) * 2

    def set_workgroups(self, ws, grid):
        gx, gy, _gz = grid
        ws = np.asarray(ws, dtype=np.int64)
        bx, by, bz = ws % gx, (ws // gx) % gy, ws // (gx * gy)
        self.mcache = (None, None, None)
        self.rcache = (None, None)
        self.wcache = (None, None, None, None)
        self.ncache = ((None, None, None, None),) * 2
        self.wg = int(ws[0])
        if self.nb == 1:
            self.bid_x, self.bid_y, self.bid_z = np.int64(bx[0]), np.int64(by[0]), np.int64(bz[0])
            self.wg_lane = None
        else:
            self.bid_x, self.bid_y, self.bid_z = (np.repeat(v, self.Lp) for v in (bx, by, bz))
            self.wg_lane = np.repeat(ws, self.Lp)

    def all_active(self, m):
        return self.full and (m is self.m0 or m.all())

    def all_live(self, m):
        return m is self.m0 or np.array_equal(m, self.m0)

    def count(self, rid, n, m):
        """Region ``rid`` (``n`` ops) runs under mask ``m``: ops are counted once per workgroup
        with an active lane (batch-independent), lane-ops once per active lane."""
        if m is self.m0:
            self.rec.region_counts[rid] += self.nb
            self.rec.lane_ops += n * self.n_live
        else:
            self.rec.region_counts[rid] += 1 if self.nb == 1 else int(np.count_nonzero(m.reshape(self.nb, -1).any(1)))
            self.rec.lane_ops += n * int(np.count_nonzero(m))

    def prof(self, kind, dt, m):  # noqa: F811  (replaced per instance when profiling)
        pass

    def store_order(self, idx):
        if self.rng is None:
            return None
        return self.rng.permutation(idx.shape[0])


class _Prof:
    def __init__(self, rec):
        self.rec = rec

    def __call__(self, kind, dt, m):
        self.rec.time_by_kind[kind] += dt


class HostCtx:
    def __init__(self, program, gmem, opts):
        self.program = program
        self.gmem = gmem
        self.opts = opts
        self.sanitize = opts.sanitize
        self.report = Reporter(opts.findings, "host code")

    def count(self, rid, n, m):
        pass

    def launch(self, kname, grid, block, dyn_smem, kargs, info):
        self.program.launch(kname, grid, block, int(dyn_smem), kargs, self.gmem, self.opts, info)


class _ListingHostCtx(HostCtx):
    """Host context of :meth:`Program.kernels_launched`: launches are listed, not run."""

    def __init__(self, program, opts):
        super().__init__(program, None, opts)
        self.kernels: list[str] = []

    def launch(self, kname, grid, block, dyn_smem, kargs, info):
        self.kernels.append(kname)


#: The grid dimensions FlyDSL's ROCm runtime wrapper hands ``hipModuleLaunchKernel``:
#: ``intptr_t`` values converted to its ``unsigned int`` parameters.
GRID_DIM_BITS = 32


def launched_grid(kname, grid, report, info) -> tuple:
    """The grid the hardware launches for the host code's ``grid`` (index values): each
    dimension as the runtime passes it, modulo 2**32; a dimension of 0 or one that does not
    fit is reported (``launch-grid-out-of-range``): HIP refuses a launch with a zero
    dimension, and one past 2**32 - 1 runs with its low 32 bits."""
    launched = tuple(g % (1 << GRID_DIM_BITS) for g in grid)
    if launched != grid or 0 in grid:
        report.bind(None)
        report("launch-grid-out-of-range",
               f"kernel {kname}: grid {grid} from the host code; hipModuleLaunchKernel takes unsigned 32-bit "
               f"dimensions, so it gets {launched}" + (" and refuses the launch (no workgroup runs)"
                                                       if 0 in launched else ""),
               ("gpu.launch_func", info[1]))
    return launched


class Program:
    def __init__(self, module_ir, target, lds_layouts=None):
        self.ir = module_ir
        self.target = target
        self._compiled = {}
        self._full_ir = None            # pickled whole IR of a program loaded from the capture cache
        self.lds_layouts = lds_layouts if lds_layouts is not None else self._layout_lds()
        self.launch_seq = 0

    def _layout_lds(self):
        """Per kernel, ``({symbol: (lo, hi)}, static bytes)`` of the LDS globals it refers to,
        placed as the AMDGPU backend places them (:mod:`.lds_layout`); dynamic LDS
        (``hi`` None) follows the static struct.  Key None: every LDS global, for
        host functions."""
        static, dynamic = {}, {}
        for name, g in self.ir.globals.items():
            if int(g.attrs.get("addr_space", 0)) != AddressSpace.LDS:
                continue
            t = g.attrs.get("global_type")
            size = byte_size(t) if t is not None else 0
            align = int(g.attrs.get("alignment", 16) or 16)
            (static if size else dynamic)[name] = (size, align)

        def layout(names):
            offsets, end = struct_layout([(n, *static[n]) for n in names if n in static])
            lay = {n: (off, off + static[n][0]) for n, off in offsets.items()}
            off = end
            for n in sorted(n for n in names if n in dynamic):
                off = align_up(off, dynamic[n][1])
                lay[n] = (off, None)
            return lay, end

        every = set(static) | set(dynamic)
        layouts = {None: layout(every)}
        for kname, f in self.ir.kernels.items():
            layouts[kname] = layout(kernel_globals(f.body, every))
        return layouts

    def compiled(self, name, kind, profile=False, uniform=True, interleave=False):
        key = (name, kind, profile, uniform) + (("interleave",) if interleave else ())
        c = self._compiled.get(key)
        if c is None:
            if self._full_ir is not None:        # loaded from the capture cache without its ops
                self.ir, self._full_ir = pickle.loads(self._full_ir), None
            funcs = self.ir.kernels if kind == "kernel" else self.ir.host
            if name not in funcs:
                raise EmuError(f"function @{name} not found in the captured module")
            lay = dict(self.lds_layouts[name if kind == "kernel" else None][0])
            c = compile_function(funcs[name], kind, profile=profile, lds_layout=lay, uniform=uniform,
                                 interleave=interleave)
            self._compiled[key] = c
        return c

    def prepare(self):
        """Generate code for every function now (unknown ops fail here, before running)."""
        for n in self.ir.host:
            self.compiled(n, "host")
        for n in self.ir.kernels:
            self.compiled(n, "kernel")

    def state(self) -> dict:
        """Picklable data of a prepared program (the persistent capture cache): the generated
        code of every function, the IR's globals and function signatures (all that running
        needs), and the whole IR pickled apart (unpickled only to generate another variant:
        a profile, the code without the uniformity analysis)."""
        self.prepare()
        full = dataclasses.replace(self.ir, text="")

        def bare(f):
            return Func(f.name, Block(f.body.args, f.body.arg_types, []), f.attrs, f.loc)
        slim = dataclasses.replace(full, kernels={n: bare(f) for n, f in full.kernels.items()},
                                   host={n: bare(f) for n, f in full.host.items()})
        return {"ir": slim, "full_ir": pickle.dumps(full, protocol=pickle.HIGHEST_PROTOCOL), "lds": self.lds_layouts,
                "compiled": {k: c.state() for k, c in self._compiled.items() if not k[2] and len(k) == 4}}

    @classmethod
    def from_state(cls, state: dict, target) -> "Program":
        """The program :meth:`state` described, for ``target``, without generating code again."""
        p = cls(state["ir"], target, lds_layouts=state["lds"])
        p._full_ir = state["full_ir"]
        p._compiled = {k: Compiled.from_state(c) for k, c in state["compiled"].items()}
        return p

    def run_host(self, name, args, gmem, opts):
        c = self.compiled(name, "host")
        X = HostCtx(self, gmem, opts)
        with np.errstate(all="ignore"):
            c.fn(X, np.True_, args)

    def kernels_launched(self, name, args, opts) -> tuple:
        """The kernels host function ``name`` launches on ``args``, in order, without
        running them (their names as :meth:`launch` gets them)."""
        c = self.compiled(name, "host")
        X = _ListingHostCtx(self, opts)
        with np.errstate(all="ignore"):
            c.fn(X, np.True_, args)
        return tuple(X.kernels)

    def launch(self, kname, grid, block, dyn_smem, kargs, gmem, opts, info):
        grid = tuple(int(g) for g in grid)
        block = tuple(int(b) for b in block)
        report = Reporter(opts.findings, kname)
        grid = launched_grid(kname, grid, report, info)
        if 0 in grid:                   # the runtime refuses the launch: no workgroup runs
            self.launch_seq += 1
            return
        if opts.shuffle_schedule:
            logs = (AtomicLog(), AtomicLog())
            snap = [a.bytes.copy() for a in gmem.allocs]
            self._launch_once(kname, grid, block, dyn_smem, kargs, gmem, opts, None, report, logs[0])
            first = [a.bytes.copy() for a in gmem.allocs]
            for a, s in zip(gmem.allocs, snap):
                a.bytes[:] = s
            rng = np.random.default_rng(opts.seed + self.launch_seq)
            self._launch_once(kname, grid, block, dyn_smem, kargs, gmem, opts, rng, report, logs[1])
            for a, f in zip(gmem.allocs, first):
                if not np.array_equal(a.bytes, f):
                    j = int(np.nonzero(a.bytes != f)[0][0])
                    report.bind(None)
                    atomics = logs[0].differing(logs[1])
                    why = "" if not atomics else (
                        "; the values returned by " + ", ".join(f"{op} at {loc}" for op, loc in atomics[:3])
                        + (f" and {len(atomics) - 3} more atomics" if len(atomics) > 3 else "")
                        + " differ between the two schedules (lanes, waves and workgroups applied in another order)")
                    report("schedule-dependence",
                           f"kernel {kname}: result differs under a shuffled workgroup order / store order "
                           f"(tensor {a.name}, first differing byte {j}: {f[j]} vs {a.bytes[j]}){why}",
                           atomics[0] if atomics else ("gpu.launch_func", info[1]), addr=a.start + j)
                    for b, g in zip(gmem.allocs, first):     # recorded: keep the first schedule's result
                        b.bytes[:] = g
                    break
        else:
            self._launch_once(kname, grid, block, dyn_smem, kargs, gmem, opts, None, report)
        self.launch_seq += 1

    def _launch_once(self, kname, grid, block, dyn_smem, kargs, gmem, opts, rng, report, atomic_log=None):
        interleaved = opts.schedule is not None
        c = self.compiled(kname, "kernel", opts.profile, opts.uniformity, interleaved)
        t0 = time.perf_counter()
        W = self.target.wave_size
        nthreads = block[0] * block[1] * block[2]
        if nthreads > self.target.max_threads_per_block:
            raise EmuError(f"kernel {kname}: block of {nthreads} threads exceeds "
                           f"{self.target.max_threads_per_block}")
        L = -(-nthreads // W) * W
        lds_bytes = self.lds_layouts[kname][1] + dyn_smem
        if lds_bytes > self.target.lds_bytes:
            raise EmuError(f"kernel {kname}: needs {lds_bytes} bytes of LDS, target {self.target.arch} has "
                           f"{self.target.lds_bytes}")
        rec = LaunchRecord(kname, grid, block, c.region_hist, rerun=rng is not None)
        gx, gy, gz = grid
        n_wg = gx * gy * gz
        # schedule check: reversed grid order, then a random swap of neighbours, so the
        # last-writer of any word shared by workgroups changes
        if rng is None:
            order = np.arange(n_wg)
        else:
            order = np.arange(n_wg)[::-1].copy()
            if n_wg > 2:
                k = int(rng.integers(0, n_wg - 1))
                order[k], order[k + 1] = order[k + 1], order[k]
        nb = 1
        if opts.wg_batch and rng is None and n_wg > 1:
            cap = max(1, min(n_wg, opts.max_batch_lanes // L, (64 << 20) // max(lds_bytes, 1)))
            batches = -(-n_wg // cap)                # as few as the cap allows ...
            nb = -(-n_wg // batches)                 # ... of even size
        ctxs = {}

        def ctx(k):
            X = ctxs.get(k)
            if X is None:
                lds = LDS(lds_bytes, W, opts.sanitize, copies=k, lanes_per_wg=L)
                X = WG(L, W, nthreads, block, k, lds, gmem, opts.sanitize, rec, c.region_hist, None)
                if opts.profile:
                    X.prof = _Prof(rec)
                X.strict_buffers = opts.sanitize and opts.strict_buffers
                X.rng = rng
                X.atomic_log = atomic_log
                X.report = lds.report = report
                X.gdim_x, X.gdim_y, X.gdim_z = np.int64(gx), np.int64(gy), np.int64(gz)
                ctxs[k] = X
            return X

        gmem.sanitize = opts.sanitize
        gmem.report = report
        gmem.begin_launch()
        fn = c.fn
        args = tuple(kargs)
        pre = None
        with np.errstate(all="ignore"):
            for start in range(0, n_wg, nb):
                ws = order[start:start + nb]
                X = ctx(len(ws))
                X.set_workgroups(ws, grid)
                report.bind(X)
                if lds_bytes:       # the schedule check's re-run keeps the last workgroup's bytes
                    X.lds.reset(None if rng is not None and start else LDS_POISON)
                if pre is None and c.pre is not None:      # launch-uniform values, once per launch
                    pre = c.pre(X, X.m0, args)
                if interleaved:
                    rec.schedule_steps = max(rec.schedule_steps,
                                             run_batch(X, fn, args, pre, opts.schedule, kname))
                else:
                    fn(X, X.m0, args, pre)
        rec.workgroups = n_wg
        rec.batch = nb
        rec.time_s = time.perf_counter() - t0
        rec.workgroups = n_wg
        rec.finish()
        STATS.record(rec)
