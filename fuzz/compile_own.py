"""Compile provider for ``flydsl-own``: the suite's own kernels in ``kernels.moesort``.

Uses only the package's public surface (issue 4):

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

Provider contract: see :mod:`fuzz.compile_jobs`.
"""
from __future__ import annotations

from typing import Optional

from fuzz.compile_jobs import CompileJob, path_representatives, placeholders

NAME = "flydsl-own"
MIN_WG_PER_CU = {"small": 2}


def probe() -> Optional[str]:
    try:
        import kernels.moesort as ms
        from kernels.moesort import paths  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"kernels.moesort does not import: {type(exc).__name__}: {exc}"
    if not hasattr(ms, "moe_sorting"):
        return "kernels.moesort has no moe_sorting launcher yet"
    return None


def jobs(targets, shapes) -> list:
    from kernels.moesort.paths import choose_path

    out = []
    for target in targets:
        for s in shapes:
            reps = path_representatives(
                lambda t: choose_path(t, s.num_experts, s.topk, s.unit_size, target))
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
    import inspect

    from kernels.moesort import moe_sorting

    b = placeholders(job.tokens, job.num_experts, job.topk, job.unit_size, job.mask)
    # The worker's ARCH already names the target; pass it too where the API takes it.
    kw = {"target": job.target} if "target" in inspect.signature(moe_sorting).parameters else {}
    path = moe_sorting(
        b["topk_ids"], b["topk_weights"], b["sorted_ids"], b["sorted_weights"],
        b["sorted_expert_ids"], b["num_valid_ids"], b["moe_buf"], job.num_experts,
        job.unit_size, expert_mask=b["expert_mask"], **kw,
    )
    if isinstance(path, str) and path != job.path:
        raise RuntimeError(f"moe_sorting took path {path!r}, the job expected {job.path!r}")
