"""Launch statistics for benchmarks: per launch time, op counts by kind, lane-ops.

``STATS`` (process-wide) keeps every :class:`LaunchRecord` since the last
``reset()``; ``kernels.emu.last_launches()`` returns those of the most recent
launcher call.  Op counts are exact (per executed region, its static op
histogram); lane-ops = sum over executed ops of the active lanes.
"""
from __future__ import annotations

from collections import Counter


class LaunchRecord:
    """One execution of a kernel; ``rerun`` marks the second, shuffled-schedule execution
    the interpreter adds under ``shuffle_schedule`` (the launch itself happened once)."""

    def __init__(self, kernel, grid, block, region_hist, rerun=False):
        self.kernel = kernel
        self.rerun = rerun
        self.grid = grid
        self.block = block
        self.region_counts = Counter()
        self._hist = region_hist
        self.lane_ops = 0
        self.time_s = 0.0
        self.workgroups = 0
        self.schedule_steps = 0         # interleaved mode: most scheduler steps one batch of workgroups took
        self.ops_by_kind = Counter()
        self.time_by_kind = Counter()

    def finish(self):
        for rid, n in self.region_counts.items():
            for k, c in self._hist[rid].items():
                self.ops_by_kind[k] += c * n
        self._hist = None

    @property
    def ops(self):
        return sum(self.ops_by_kind.values())

    def __repr__(self):
        return (f"LaunchRecord({self.kernel}, grid={self.grid}, block={self.block}, ops={self.ops}, "
                f"lane_ops={self.lane_ops}, time={self.time_s * 1e3:.2f} ms)")


class Stats:
    def __init__(self):
        self.records = []
        self.call_start = 0

    def record(self, rec):
        self.records.append(rec)

    def begin_call(self):
        self.call_start = len(self.records)

    def last_call(self):
        return list(self.records[self.call_start:])

    def reset(self):
        self.records.clear()
        self.call_start = 0

    def summary(self):
        ops = Counter()
        lane_ops = 0
        t = 0.0
        for r in self.records:
            ops.update(r.ops_by_kind)
            lane_ops += r.lane_ops
            t += r.time_s
        return {"launches": len(self.records), "ops_by_kind": ops, "ops": sum(ops.values()),
                "lane_ops": lane_ops, "time_s": t}


STATS = Stats()
