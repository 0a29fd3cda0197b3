"""``fuzz revisions`` and ``fuzz bisect``: revision arguments, git plumbing, the table, bisection.

Most tests use a small git repository made here, whose "kernel" is a text
file: the bisection's test command reads it, and the gate's stand-in
(monkeypatched ``run_gate``) reports what the revision's own tree holds, so
each test fails if a revision were evaluated on another tree.  The gate's
own "does not run here" answers come from the real gate process on trees
without FlyDSL's sort.  One test runs the real gate on ``$FLYDSL_ROOT``
(skipped, saying so, without it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from fuzz.__main__ import main as fuzz_main
from fuzz.errors import UsageError
from fuzz.revisions import git
from fuzz.revisions.bisect import bisect
from fuzz.revisions.prepare import SUCCESSOR_PATH, apply_requested_fixes, pack, prepared, unpack
from fuzz.revisions.runner import GateOptions, run_gate
from fuzz.revisions.spec import parse_revision

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.com"}


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=dict(os.environ, **ENV)).stdout.strip()


def _commit(repo, files: dict, subject: str) -> str:
    for rel, text in files.items():
        path = Path(repo) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", subject)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def history(tmp_path):
    """A repository of six commits: a kernel file whose 3rd version holds BUG, an unrunnable
    marker in none; tags v1 (first) and v6 (last), a branch ``side``."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    shas = [_commit(repo, {"kernel.txt": "ok 1\n", SUCCESSOR_PATH: "# successor\n"}, "one: the kernel")]
    shas.append(_commit(repo, {"notes.txt": "two\n"}, "two: notes"))
    shas.append(_commit(repo, {"kernel.txt": "BUG 3\n"}, "three: the bug (#77)"))
    shas.append(_commit(repo, {"notes.txt": "four\n"}, "four: notes"))
    shas.append(_commit(repo, {"kernel.txt": "BUG 5\n"}, "five: kernel edit"))
    shas.append(_commit(repo, {"notes.txt": "six\n"}, "six: notes"))
    _git(repo, "tag", "v1", shas[0])
    _git(repo, "tag", "v6", shas[5])
    _git(repo, "branch", "side", shas[1])
    return repo, shas


#: The bisection test of ``history``: bad when kernel.txt holds BUG, skip when SKIP.txt exists.
TEST = [sys.executable, "-c", "import pathlib, sys; "
        "sys.exit(125 if pathlib.Path('SKIP.txt').exists() else 1 if 'BUG' in pathlib.Path('kernel.txt').read_text() "
        "else 0)"]


def test_revision_arguments_parse_and_bad_ones_are_named():
    assert parse_revision("3790e1f8") == parse_revision("3790e1f8")
    plain = parse_revision("origin/main")
    assert (plain.rev, plain.fixes, plain.fix_ids) == ("origin/main", False, None)
    every = parse_revision("11c4174d+fixes")
    assert (every.rev, every.fixes, every.fix_ids) == ("11c4174d", True, None)
    some = parse_revision("v1.0+p23-cumsum-race+oneshot-null-input-read")
    assert (some.rev, some.fixes, some.fix_ids) == ("v1.0", True, ("p23-cumsum-race", "oneshot-null-input-read"))
    for bad, says in (("", "empty"), ("+fixes", "nothing before"), ("abc+fixes+p23", "not both"),
                      ("abc+", "neither"), ("abc+a b", "neither")):
        with pytest.raises(UsageError, match=says):
            parse_revision(bad)


def test_revisions_resolve_by_hash_tag_branch_and_pull_request_number(history):
    repo, shas = history
    assert git.resolve(repo, shas[2][:8]).sha == shas[2]
    assert git.resolve(repo, "v6").sha == shas[5]
    assert git.resolve(repo, "side").sha == shas[1]
    found = git.resolve(repo, "#77")
    assert (found.sha, found.subject) == (shas[2], "three: the bug (#77)")
    assert len(found.date) == 10 and found.date.count("-") == 2
    _git(repo, "update-ref", "refs/pull/9/head", shas[3])
    assert git.resolve(repo, "pr/9").sha == shas[3]
    with pytest.raises(git.GitError, match="'nope'"):
        git.resolve(repo, "nope")
    with pytest.raises(git.GitError, match="#78"):
        git.resolve(repo, "#78")


def test_bisect_finds_the_first_bad_commit(history, tmp_path):
    repo, shas = history
    result = bisect(repo, "v1", "v6", TEST, tmp_path / "scratch")
    assert result.first_bad is not None and result.first_bad.sha == shas[2]
    assert result.first_bad.subject == "three: the bug (#77)"
    tested = {c.sha: v for v, c in result.steps}
    assert tested[shas[2]] == "bad" and all(tested.get(s, "good") == "good" for s in shas[:2])
    assert len(_git(repo, "worktree", "list").splitlines()) == 1      # its worktree is gone


def test_bisect_skips_revisions_that_cannot_run_and_names_the_candidates(history, tmp_path):
    repo, shas = history
    _git(repo, "checkout", "-q", "-b", "skipping", shas[0])
    a = _commit(repo, {"SKIP.txt": "cannot run\n"}, "a: cannot run")
    b = _commit(repo, {"kernel.txt": "BUG b\n"}, "b: the bug, still unrunnable")
    c = _commit(repo, {"other.txt": "c\n"}, "c: unrunnable too")
    _git(repo, "rm", "-q", "SKIP.txt")
    d = _commit(repo, {}, "d: runs again, bug shows")
    result = bisect(repo, shas[0], "skipping", TEST, tmp_path / "scratch")
    assert result.first_bad is None
    assert {b, c, d} <= {x.sha for x in result.candidates}
    assert all(v == "skip" for v, x in result.steps if x.sha in (a, b, c))


def test_bisect_command_prints_the_first_bad_commit_with_its_subject(history, tmp_path, monkeypatch, capsys):
    repo, shas = history
    import fuzz.revisions.bisect as bisect_module

    monkeypatch.setattr(bisect_module, "verdict_command", lambda *a, **k: TEST)
    fixture = Path(__file__).resolve().parents[2] / "regressions" / "fixtures" / \
        "E257-k9-T1-u32-f8c5697ac05b9e84.json"
    assert fuzz_main(["bisect", str(fixture), "--repo", str(repo), "--good", "v1", "--bad", "v6"]) == 0
    out = capsys.readouterr().out
    assert f"first bad commit: {shas[2]} three: the bug (#77)" in out
    assert fuzz_main(["bisect", str(tmp_path / "none.json"), "--repo", str(repo), "--good", "v1",
                      "--bad", "v6"]) == 2


def test_fixes_are_applied_through_regressions_fixes(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("regressions.fixes")
    fake.apply_fixes = lambda root, ids: calls.append((root, ids)) or ["p23-cumsum-race"]
    monkeypatch.setitem(sys.modules, "regressions.fixes", fake)
    assert apply_requested_fixes(tmp_path, parse_revision("abc+fixes")) == (["p23-cumsum-race"], "")
    assert apply_requested_fixes(tmp_path, parse_revision("abc+x+y")) == (["p23-cumsum-race"], "")
    assert apply_requested_fixes(tmp_path, parse_revision("abc")) == ([], "")
    assert calls == [(tmp_path, None), (tmp_path, ["x", "y"])]

    def refuse(root, ids):
        raise KeyError("no fix for 'y'")
    fake.apply_fixes = refuse
    applied, why = apply_requested_fixes(tmp_path, parse_revision("abc+y"))
    assert applied == [] and why.startswith("fixes did not apply: KeyError") and "'y'" in why


def test_without_regressions_fixes_a_fixes_row_says_fixes_unavailable(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "regressions.fixes", None)      # import fails as for a missing module
    applied, why = apply_requested_fixes(tmp_path, parse_revision("abc+fixes"))
    assert applied == [] and why.startswith("fixes unavailable")


def test_prepared_tree_is_the_revision_with_fixes_and_the_successor_then_removed(history, tmp_path, monkeypatch):
    repo, shas = history
    fake = types.ModuleType("regressions.fixes")
    fake.apply_fixes = lambda root, ids: ((root / "kernel.txt").write_text("fixed\n"), ["all"])[1]
    monkeypatch.setitem(sys.modules, "regressions.fixes", fake)
    spec = parse_revision("v6+fixes")
    with prepared(repo, spec, git.resolve(repo, spec.rev), tmp_path / "p", successor=shas[0]) as p:
        assert p.fixes == ["all"] and p.why_not == ""
        assert (p.tree / "kernel.txt").read_text() == "fixed\n" and (p.tree / "notes.txt").read_text() == "six\n"
        assert p.successor.read_text() == "# successor\n"
        (p.tree / "kernels").mkdir(exist_ok=True)
        (p.tree / "kernels" / "k.py").write_text("x = 1\n")
        tree, successor = unpack(pack(p), tmp_path / "unpacked")
        assert (tree / "kernels" / "k.py").read_text() == "x = 1\n" and successor.read_text() == "# successor\n"
        assert not (tree / "notes.txt").exists()        # only what the gate reads travels
        made = p.tree
    assert not made.exists() and str(made) not in _git(repo, "worktree", "list")
    assert git.show(repo, "v1", "no/such/file.py") is None


def _stand_in_gate(tree, successor, options, echo=True):
    """What the real gate answers, computed from the tree it is handed (kernel.txt)."""
    text = (Path(tree) / "kernel.txt").read_text()
    bug = "BUG" in text
    return {"runs_here": True, "why": "", "provided": [], "paths": ["p0v2_kernel+p23_kernel"], "runs": 3,
            "judged": 3, "agreeing": 3 - bug, "known": {"p23-cumsum-race": 2},
            "new": {"x/-/-/finding/bug": {"summary": text.strip(), "first": "suite c@gfx950", "runs": 1}} if bug else {},
            "absent": [], "stale": ["gfx942-lds-too-small"], "seconds": 1.0}


def test_revisions_command_writes_one_row_per_revision_from_its_own_tree(history, tmp_path, monkeypatch, capsys):
    repo, shas = history
    import fuzz.revisions.runner as runner

    monkeypatch.setattr(runner, "run_gate", _stand_in_gate)
    monkeypatch.setitem(sys.modules, "regressions.fixes", None)
    out = tmp_path / "out"
    status = fuzz_main(["revisions", "--repo", str(repo), "v1", shas[2][:10], "v6+fixes", "--out", str(out)])
    assert status == 1                                    # the BUG revision has a new failure
    rows = json.loads((out / "revisions.json").read_text())["rows"]
    assert [r["revision"] for r in rows] == ["v1", shas[2][:10], "v6+fixes"]
    assert [r["commit"] for r in rows] == [shas[0], shas[2], shas[5]]
    assert [r["subject"] for r in rows] == ["one: the kernel", "three: the bug (#77)", "six: notes"]
    assert rows[0]["agreeing"] == 3 and rows[0]["new"] == {}
    assert rows[1]["agreeing"] == 2 and rows[1]["new"]["x/-/-/finding/bug"]["summary"] == "BUG 3"
    assert rows[2]["runs_here"] is False and rows[2]["why"].startswith("fixes unavailable")
    md = (out / "revisions.md").read_text()
    assert "| v1 " in md and "three: the bug (#77)" in md and "no: fixes unavailable" in md
    assert "new `x/-/-/finding/bug`" in md and "stale: gfx942-lds-too-small" in md
    printed = capsys.readouterr().out
    assert "three: the bug" in printed and "3 revisions in" in printed
    with pytest.raises(SystemExit):
        fuzz_main(["revisions", "--repo", str(repo)])
    assert fuzz_main(["revisions", "--repo", str(repo), "nope"]) == 2
    assert fuzz_main(["revisions", "--repo", str(repo), "v1", "--max-cases", "-1"]) == 2


def test_a_revision_with_fixes_is_gated_without_their_entries_in_the_known_list(history, tmp_path, monkeypatch):
    """The fixes a tree carries reach the gate as --fixed, and the gate judges against the
    list less those entries: a fixed finding that shows again is new, not known."""
    repo, _ = history
    import fuzz.revisions.runner as runner
    from regressions import known_findings

    handed = []
    monkeypatch.setattr(runner, "run_gate", lambda tree, successor, options, echo=True:
                        handed.append(options) or _stand_in_gate(tree, successor, options))
    fake = types.ModuleType("regressions.fixes")
    fake.apply_fixes = lambda root, ids: ["p23-cumsum-race"] if ids is None else list(ids)
    monkeypatch.setitem(sys.modules, "regressions.fixes", fake)
    fuzz_main(["revisions", "--repo", str(repo), "v1", "v1+fixes", "--out", str(tmp_path / "out")])
    assert [o.fixed for o in handed] == [(), ("p23-cumsum-race",)]
    assert handed[1].argv()[-2:] == ["--fixed", "p23-cumsum-race"]
    full = known_findings.default()
    less = full.without(["p23-cumsum-race"])
    assert "p23-cumsum-race" not in {e.id for e in less.entries}
    assert len(less.entries) == len(full.entries) - 1


def test_the_gate_process_says_in_one_line_why_a_tree_does_not_run(tmp_path):
    no_sort = tmp_path / "no-sort"
    (no_sort / "kernels").mkdir(parents=True)
    (no_sort / "kernels" / "__init__.py").write_text("")
    answer = run_gate(no_sort, None, GateOptions(), echo=False)
    assert answer["runs_here"] is False and "has no kernels/moe/moe_sorting_kernel.py" in answer["why"]
    broken = tmp_path / "broken"
    (broken / "kernels" / "moe").mkdir(parents=True)
    (broken / "kernels" / "__init__.py").write_text("")
    (broken / "kernels" / "moe" / "__init__.py").write_text("")
    (broken / "kernels" / "moe" / "moe_sorting_kernel.py").write_text("from flydsl.expr import gone_module\n")
    answer = run_gate(broken, None, GateOptions(), echo=False)
    assert answer["runs_here"] is False and "does not import" in answer["why"] and "gone_module" in answer["why"]
    assert "\n" not in answer["why"]
    old = tmp_path / "old-layout"
    (old / "kernels").mkdir(parents=True)
    (old / "kernels" / "__init__.py").write_text("")
    (old / "kernels" / "moe_sorting_kernel.py").write_text("raise ImportError('old layout reached')\n")
    answer = run_gate(old, None, GateOptions(), echo=False)
    assert "kernels.moe_sorting_kernel" in answer["why"] and "old layout reached" in answer["why"]


@pytest.mark.interpreter
@pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"), reason="FLYDSL_ROOT is not set: no FlyDSL checkout to gate")
def test_the_gate_on_a_flydsl_checkout_judges_every_path_of_its_dispatch():
    answer = run_gate(Path(os.environ["FLYDSL_ROOT"]), None,
                      GateOptions(max_cases=0, fixtures=False, shapes=("E257-k9-u32",)), echo=False)
    assert answer["runs_here"] is True, answer["why"]
    assert len(answer["paths"]) == 3 and any(p.endswith("p23_kernel") for p in answer["paths"])
    assert answer["by_kind"]["dispatch-boundary"] >= 8 and answer["by_kind"]["capture"] == 1
    assert answer["judged"] == answer["agreeing"] > 0
    assert answer["new"] == {}, answer["new"]
    assert "host-read-num-local-tokens" in answer["known"]      # the capture run
    assert "p23-cumsum-race" in answer["known"]


ENTRY = '''[[finding]]
id = "planted-race"
title = "a race"
status = "bug"
backends = ["flydsl-upstream-sanitized"]
check = "lds-race"
why = "-"
fix = "-"
evidence = "reported"
hardware = "-"
{extra}
[[finding.where]]
line = "x = 1"
'''


def test_introduced_at_is_read_checked_and_shown_in_findings_md():
    from regressions import known_findings
    from regressions.findings_doc import render

    listed = known_findings.parse(ENTRY.format(extra='introduced_at = { commit = "3790e1f8", subject = "[Feat] X" }'))
    assert listed.by_id("planted-race").introduced_at == ("3790e1f8", "[Feat] X")
    assert "- **Introduced at**: FlyDSL `3790e1f8` ([Feat] X)" in render(listed)
    plain = known_findings.parse(ENTRY.format(extra=""))
    assert plain.by_id("planted-race").introduced_at == () and "Introduced at" not in render(plain)
    for bad in ('introduced_at = "3790e1f8"', 'introduced_at = { commit = "3790e1f8" }',
                'introduced_at = { commit = "", subject = "s" }'):
        with pytest.raises(known_findings.KnownFindingsError, match="finding 'planted-race': introduced_at"):
            known_findings.parse(ENTRY.format(extra=bad))


def _judgement(*failures, known_counts=None):
    from fuzz.judge import Failure
    from fuzz.signature import Signature

    made = [Failure(Signature("b", "gfx950", "p", output, kind), f"{output} {kind}") for output, kind in failures]
    return types.SimpleNamespace(known_counts=known_counts or {}, new=[], summary="ok", failures=lambda: made)


def test_a_fixture_shows_by_its_known_entry_its_signature_up_to_line_numbers_or_any_failure():
    from fuzz.revisions.verdict import shows

    race = {"signature": {"output": "finding", "kind": "lds-race@k.py:12<40"}}
    fixture = types.SimpleNamespace(failure=race)
    assert shows(fixture, _judgement(("finding", "lds-race@k.py:15<43")), "b")[0] is True      # lines moved
    assert shows(fixture, _judgement(("finding", "lds-out-of-bounds@k.py:12<40")), "b")[0] is False
    assert shows(fixture, _judgement(("sorted_ids", "value")), "b")[0] is False
    edge = types.SimpleNamespace(failure=None)
    assert shows(edge, _judgement(("sorted_ids", "value")), "b")[0] is True
    assert shows(edge, _judgement(), "b")[0] is False
    known = types.SimpleNamespace(failure={"known_finding": "p23-cumsum-race"})
    assert shows(known, _judgement(known_counts={"p23-cumsum-race": 1}), "flydsl-upstream-sanitized")[0] is True
    assert shows(known, _judgement(("finding", "lds-race@x.py:1")), "flydsl-upstream-sanitized")[0] is False


def test_on_a_dask_cluster_each_revision_is_a_task_and_the_rows_equal_a_local_run(tmp_path):
    pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'moesort-verify[cluster]')")
    from .campaign_helpers import fuzz
    from .loopback_cluster import start_cluster

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, {"kernels/__init__.py": ""}, "one: no sort kernel yet")
    _commit(repo, {"kernels/moe/__init__.py": "", "kernels/moe/moe_sorting_kernel.py": "raise ImportError('two')\n"},
            "two: a sort kernel that does not import")
    local = fuzz("revisions", "--repo", repo, "HEAD~1", "HEAD", "--out", tmp_path / "local", timeout=300)
    assert local.returncode == 0, local.stdout + local.stderr
    cluster = start_cluster(tmp_path / "cluster", workers=1)
    try:
        remote = fuzz("revisions", "--repo", repo, "HEAD~1", "HEAD", "--out", tmp_path / "remote",
                      "--scheduler", cluster.address, timeout=300)
    finally:
        cluster.stop()
    assert remote.returncode == 0, remote.stdout + remote.stderr
    rows = [json.loads((tmp_path / side / "revisions.json").read_text())["rows"] for side in ("local", "remote")]
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows[0]] == \
        [{k: v for k, v in r.items() if k not in drop} for r in rows[1]]
    assert "FLYDSL_ROOT='<tree>' has no kernels/moe/moe_sorting_kernel.py" in rows[1][0]["why"]
    assert "ImportError: two" in rows[1][1]["why"]
