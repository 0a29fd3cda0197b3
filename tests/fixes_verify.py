"""Judge the FlyDSL checkout named by ``FLYDSL_ROOT`` on the inputs that show each ``bug`` entry.

Run as ``python -m tests.fixes_verify [ID ...]`` (a separate process, because
``FLYDSL_ROOT`` is read when ``kernels`` is first imported); prints one JSON
object: entry id -> the problems seen (empty: the finding is gone, nothing new
showed and the outputs agree with the golden model).  On a checkout with the
fixes of ``regressions/fixes.py`` applied every list must be empty; on the
unfixed checkout every entry must report its finding.

What shows each entry:

* an entry with a ``fixture``: that case (ids or router logits, as ``fuzz
  replay`` runs it) on each of the entry's backends that takes its input
  (the ids of a sort fixture, the logits of a router one) and both targets, judged
  as a campaign judges it (any new finding or output difference is a problem,
  and so is any ``bug`` entry the run matches);
* ``host-read-num-local-tokens``: the capture-replay check
  (:func:`kernels.graph_replay.check_capture_replay`) with
  ``num_local_tokens`` the harness's device tensor, for many M on every path,
  as the suite's own capture-safe kernels are checked;
* the gating and fused entries of ``CHECKS``, besides their fixtures: their
  minimal inputs (the ``notes`` of each entry) and the other degenerate rows,
  judged by ``check_gating`` / ``check_fused``.
"""
from __future__ import annotations

import dataclasses
import json
import sys

import torch

import regressions
from cases import Case
from fuzz.judge import run_case
from kernels.targets import TARGET_NAMES
from regressions import known_findings

#: (E, topk, T) of the capture-replay check: the oneshot path, the 2-kernel path on gfx942 /
#: oneshot on gfx950, and the 2-kernel / 4-kernel split.
CAPTURE_SHAPES = [(16, 2, 40), (513, 9, 12), (8, 2, 2100)]
#: Non-finite rows that make a degenerate gating row (see tests/test_upstream_gating.py).
DEGENERATE = {"nan": lambda row: row.__setitem__(1, float("nan")),
              "+inf": lambda row: row.__setitem__(5, float("inf")),
              "all -inf": lambda row: row.fill_(float("-inf"))}


def _bug_ids() -> set:
    return {e.id for e in known_findings.default().entries if e.status == "bug"}


def fixture_problems(entry) -> list[str]:
    from fuzz.judge_logits import judge_router
    from kernels.registry import get

    fixture = regressions.load(regressions.FIXTURE_DIR / f"{entry.fixture}.json")
    logits = fixture.takes == "logits"
    case = None if logits else Case.from_dict(fixture.case)
    backends = [b for b in entry.backends if get(b).takes == fixture.takes]
    if not backends:
        return [f"none of the backends {entry.backends} takes the fixture's {fixture.takes}"]
    problems = []
    for backend in backends:
        for target in TARGET_NAMES:
            outcome = judge_router(backend, fixture.inputs, target) if logits else run_case(case, backend, target)
            seen = sorted(set(outcome.known_counts) & _bug_ids())
            if not outcome.ok:
                problems.append(f"{backend}@{target}: {outcome.summary}")
            if seen:
                problems.append(f"{backend}@{target}: bug entries still seen: {seen}")
    return problems


def _capture_launch(inputs, buffers, target):
    """The upstream entry point called as a graph-capturing caller calls it: num_local_tokens is
    the harness's device tensor, the workspace sized by the capacity T."""
    from kernels import emu
    from kernels.backends.flydsl_upstream import upstream_session
    from kernels.harness import poisoned_workspace

    d = buffers.device_inputs
    with upstream_session(target, sanitize=True, findings="record") as sorting:
        workspace = poisoned_workspace(sorting.moe_sorting_get_workspace_size(
            inputs.tokens, inputs.num_experts, inputs.topk, inputs.unit_size), d.topk_ids.device)
        sorting.moe_sorting_flydsl(d.topk_ids, d.topk_weights, buffers.sorted_ids, buffers.sorted_weights,
                                   buffers.sorted_expert_ids, buffers.num_valid_ids, buffers.moe_buf,
                                   inputs.num_experts, inputs.unit_size, d.expert_mask, d.num_local_tokens, workspace)
        return emu.last_path()


def capture_problems(entry) -> list[str]:
    from kernels import emu
    from kernels.graph_replay import check_capture_replay
    from kernels.registry import get

    backend = dataclasses.replace(get("flydsl-upstream-sanitized"), capture_safe=True, launch=_capture_launch)
    problems = []
    for E, topk, T in CAPTURE_SHAPES:
        ids, weights, _, _ = Case(E, topk, T, seed=5).materialize()
        m_values = [T] + sorted({0, 1, 3, T // 2, T - 7, T - 1, T})
        for target in TARGET_NAMES:
            try:
                replays = check_capture_replay(backend, ids, weights, E, m_values=m_values, target=target)
            except emu.HostSyncError as exc:
                problems.append(f"E{E} k{topk} T{T}@{target}: the capture raised HostSyncError ({exc.read})")
                continue
            problems += [f"E{E} k{topk} T{T}@{target} M={r.m}: {r.verdict.summary}" for r in replays
                         if not r.verdict.ok]
    return problems


def gating_problems(entry) -> list[str]:
    from kernels.backends.flydsl_upstream_gating import check_gating, run_gating

    problems = []
    for how, make in DEGENERATE.items():
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.zeros(3, 8)
            make(x[1])
            x = x.to(dtype)
            for target in TARGET_NAMES:
                verdict = check_gating(x, 2, run_gating(x, 2, target=target))
                if verdict.problems:
                    problems.append(f"{how} row, {dtype}, {target}: {verdict.summary}")
    return problems


def fused_problems(entry) -> list[str]:
    from kernels.backends.flydsl_upstream_fused import check_fused, run_fused

    if entry.id == "fused-null-logits-read":
        x, topk, sanitize = torch.zeros(0, 256), 8, False
    else:
        x, topk, sanitize = torch.zeros(2, 8), 2, True
        x[1, 1] = float("nan")
    try:
        result = run_fused(x, topk, target="gfx950", sanitize=sanitize)
    except Exception as exc:  # a sanitizer finding or host error is this check's problem to report
        return [f"raised {type(exc).__name__}: {exc}"]
    verdict = check_fused(x, topk, result)
    return [verdict.summary] if verdict.problems else []


CHECKS = {
    "host-read-num-local-tokens": capture_problems,
    "gating-degenerate-row-id-minus-one": gating_problems,
    "fused-degenerate-row-dropped": fused_problems,
    "fused-null-logits-read": fused_problems,
}


def verify(ids=None) -> dict[str, list[str]]:
    """Entry id -> problems, for the ``bug`` entries ``ids`` (default: all)."""
    out = {}
    for entry in known_findings.default().entries:
        if entry.status != "bug" or (ids and entry.id not in ids):
            continue
        checks = ([fixture_problems] if entry.fixture else []) + ([CHECKS[entry.id]] if entry.id in CHECKS else [])
        if not checks:
            out[entry.id] = ["no check shows this entry (no fixture, none in tests/fixes_verify.py CHECKS)"]
            continue
        out[entry.id] = [problem for check in checks for problem in check(entry)]
    return out


if __name__ == "__main__":
    print(json.dumps(verify(sys.argv[1:] or None), indent=1))
