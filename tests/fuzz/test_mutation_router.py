"""``fuzz mutate --upstream`` reaches FlyDSL's router kernels: the fused entry and the gating kernel.

Without ``FLYDSL_ROOT``: the configuration lists the gating kernel file and the
router backends, and the line recorder keeps each file's lines apart.  With it:
the logits suite cases reach every path of the fused entry and run on both
logits backends, the baseline holds FlyDSL's fused test lists, the mutants come
from both files, and a planted gating-grid mutant is killed by a router case
while the unmutated kernel passes the same cases.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from fuzz.mutation import config, router_cases

needs_checkout = pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                                    reason="FLYDSL_ROOT is not set: no FlyDSL checkout to mutate")


def test_upstream_sources_are_the_sort_file_and_the_gating_file():
    assert config.UPSTREAM_SOURCES[0] == config.UPSTREAM_SOURCE
    assert "flydsl:kernels/moe/topk_gating_softmax_kernel.py" in config.UPSTREAM_SOURCES


def test_router_backends_are_registered_logits_backends():
    from kernels.registry import get

    for sort_backend, router in config.ROUTER_BACKENDS.items():
        assert get(sort_backend).takes != "logits"
        fused, gating = (get(name) for name in router)
        assert fused.takes == gating.takes == "logits"
        assert fused.name.startswith("flydsl-upstream-fused") and gating.name.startswith("flydsl-upstream-gating")
        assert fused.name.endswith("-sanitized") == sort_backend.endswith("-sanitized")


def test_fused_baseline_is_the_oneshot_list_then_the_fallback_list():
    cases = router_cases.fused_baseline_cases()
    assert len(cases) == len(router_cases.FUSED_ONESHOT) + len(router_cases.FUSED_FALLBACK)
    assert all(c.renormalize and c.distribution == "spread" for c in cases)
    assert all(T <= 16 for T, *_ in router_cases.FUSED_ONESHOT)          # FUSED_ONESHOT_MAX_T
    assert all(T > 16 for T, *_ in router_cases.FUSED_FALLBACK)


def test_line_recorder_keeps_each_file_apart(tmp_path):
    for name, body in (("first_mod", "def f():\n    a = 1\n    return a\n"),
                       ("second_mod", "def g():\n    b = 2\n\n    return b\n")):
        (tmp_path / f"{name}.py").write_text(body)
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(tmp_path)!r})
        from fuzz.mutation.check_mutant import _trace_lines
        lines = _trace_lines([{str(tmp_path / 'first_mod.py')!r}, {str(tmp_path / 'second_mod.py')!r}])
        import first_mod, second_mod
        first_mod.f(); second_mod.g()
        sys.settrace(None)
        print(json.dumps([sorted(s) for s in lines]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=os.getcwd(), env=dict(os.environ, PYTHONPATH=os.getcwd()))
    first, second = json.loads(out.stdout.splitlines()[-1])
    assert {2, 3} <= set(first) and 4 not in first
    assert {2, 4} <= set(second) and 3 not in second


@needs_checkout
def test_router_cases_reach_every_path_of_the_fused_entry_and_run_on_the_gating_kernel():
    from fuzz.mutation.check_mutant import _case_paths
    from kernels.registry import get

    fused, gating = (get(n) for n in config.ROUTER_BACKENDS["flydsl-upstream-sanitized"])
    pairs = router_cases.router_cases(fused, gating)
    on_fused = [c for b, c in pairs if b == fused.name]
    reached = {_case_paths(c, t, fused.name) for c in on_fused for t in fused.targets}
    assert reached == {f"path{i}" for i in range(len(fused.declared_kernels(8, 2, 32, "gfx950")))}
    on_gating = [c for b, c in pairs if b == gating.name]
    assert on_gating and max(c.num_experts for c in on_gating) == 1024     # the layout's widest token
    assert {c.dtype for c in on_gating} == {"f32", "bf16", "f16"}
    assert set(router_cases.HARD_DISTRIBUTIONS) <= {c.distribution for c in on_fused}
    assert {c.dtype for c in on_fused} == {"f32", "bf16", "f16"}
    assert any(c.mask_mode != "none" for c in on_fused) and any(c.local_tokens_on_device for c in on_fused)
    assert any(c.num_local_tokens is not None and c.num_local_tokens < c.tokens for c in on_fused)
    assert any(not c.renormalize for c in on_fused)
    accepted = {(s.num_experts, s.topk) for s in __import__("cases").PRODUCTION_SHAPES
                if min(fused.path_boundaries(s.num_experts, s.topk, s.unit_size, t) for t in fused.targets)[0] > 0}
    assert {(c.num_experts, c.topk) for c in on_fused} == accepted and accepted


@needs_checkout
def test_suite_and_baseline_checks_of_an_upstream_run_include_the_router():
    from fuzz.mutation.check_mutant import _cases

    suite = list(_cases("suite", "flydsl-upstream-sanitized"))
    on = {b for kind, _, b in suite if kind == "router"}
    assert on == set(config.ROUTER_BACKENDS["flydsl-upstream-sanitized"])
    baseline = [(c, b) for kind, c, b in _cases("baseline", "flydsl-upstream-sanitized")
                if getattr(c, "kind", "ids") == "logits"]
    assert len(baseline) == len(router_cases.fused_baseline_cases())
    assert {b for _, b in baseline} == {"flydsl-upstream-fused"}
    assert not any(kind == "router" for kind, _, _ in _cases("suite", "flydsl-own"))


@needs_checkout
def test_upstream_mutants_come_from_both_files():
    from fuzz.mutation import runner

    found = runner.select(list(config.UPSTREAM_SOURCES), config.OWN_SOURCES)
    assert {m.path for m in found} == set(config.UPSTREAM_SOURCES)


@needs_checkout
@pytest.mark.interpreter
def test_a_gating_grid_mutant_is_killed_by_a_router_case(tmp_path):
    """The gating launcher's grid one short: its last block of tokens is never routed.  A
    gating and a fused-fallback case (chosen through the screen's ``reached`` list, as a
    mutation run does) kill it; the unmutated kernel passes the same cases."""
    from fuzz.mutation import runner
    from fuzz.mutation.check_mutant import _key
    from kernels.registry import get

    mutant = next(m for m in runner.select([config.UPSTREAM_GATING_SOURCE], config.OWN_SOURCES)
                  if m.operator == "grid" and m.after.endswith("- 1)"))
    fused, gating = config.ROUTER_BACKENDS["flydsl-upstream-sanitized"]
    pairs = router_cases.router_cases(get(fused), get(gating))
    chosen = [next((b, c) for b, c in pairs if b == gating and c.tokens == 2),
              next((b, c) for b, c in pairs if b == fused and c.tokens == 18 and c.mask_mode == "none")]
    screen = tmp_path / "screen.json"
    keys = [_key(c, "gfx950", "flydsl-upstream-sanitized", b) for b, c in chosen]
    screen.write_text(json.dumps({"suite": [], "baseline": [], "reached": {"suite": keys}}))
    verdicts = {}
    for label, m in (("original", None), ("mutant", mutant)):
        where = runner.workspace(m, tmp_path, label)
        verdicts[label] = runner._check(where, "suite", 240, 0, "flydsl-upstream-sanitized", exclude=screen)
    assert verdicts["original"]["status"] == "survived" and verdicts["original"]["runs"] == 2, verdicts
    assert verdicts["mutant"]["status"] == "killed", verdicts
    assert verdicts["mutant"]["by"] == "router" and verdicts["mutant"]["backend"] in (fused, gating)
