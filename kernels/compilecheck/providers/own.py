"""Compile provider for ``flydsl-own``: the suite's own kernels in ``kernels.moesort``.

Uses only the package's public surface:

* ``kernels.moesort.paths.choose_path(tokens, num_experts, topk, unit_size, target)``
  and ``PATHS`` -- to pick, per path, the largest T that takes it;
* ``kernels.moesort.moe_sorting(topk_ids, topk_weights, sorted_ids,
  sorted_weights, sorted_expert_ids, num_valid_ids, moe_buf, num_experts,
  unit_size, expert_mask=None, *, target=None)`` -- called with CPU placeholders under
  ``COMPILE_ONLY=1``, so FlyDSL compiles every kernel the path launches and
  runs none.

The small path sizes its LDS mesh for two workgroups per CU
(``paths.lds_budget`` is half the target's LDS), so its jobs assume
``min_workgroups_per_cu = 2``.

Provider contract: see :mod:`kernels.compilecheck.providers`.
"""
from __future__ import annotations

from typing import Optional

from ...moesort import paths
from ...moesort.api import moe_sorting
from ..jobs import CompileJob, path_representatives, placeholders

NAME = "flydsl-own"
PATHS = paths.PATHS  # small, medium, large
MIN_WG_PER_CU = {"small": 2}


def probe() -> Optional[str]:
    """None: the suite's own kernels are part of it (a broken import shows when this module loads)."""
    return None


def jobs(targets, shapes) -> list:
    out = []
    for target in targets:
        for s in shapes:
            reps = path_representatives(
                lambda t: paths.choose_path(t, s.num_experts, s.topk, s.unit_size, target))
            for path, tokens in reps.items():
                for mask in (False, True):
                    out.append(CompileJob(
                        backend=NAME, kernel=path, path=path, num_experts=s.num_experts,
                        topk=s.topk, unit_size=s.unit_size, tokens=tokens, mask=mask,
                        target=target, min_workgroups_per_cu=MIN_WG_PER_CU.get(path, 1),
                        model=s.model,
                    ))
    return out


def compile(job: CompileJob) -> None:
    b = placeholders(job.tokens, job.num_experts, job.topk, job.unit_size, job.mask)
    # The worker's ARCH already names the target; the API takes it too.
    path = moe_sorting(
        b["topk_ids"], b["topk_weights"], b["sorted_ids"], b["sorted_weights"],
        b["sorted_expert_ids"], b["num_valid_ids"], b["moe_buf"], job.num_experts,
        job.unit_size, expert_mask=b["expert_mask"], target=job.target,
    )
    if isinstance(path, str) and path != job.path:
        raise RuntimeError(f"moe_sorting took path {path!r}, the job expected {job.path!r}")
