"""The known-findings list and the machinery that applies it, on the suite's own planted kernel.

The ``planted-findings`` backend (test-only) sorts correctly and runs a small
FlyDSL kernel of ours with two planted defects: a discarded read one past an
LDS array on every launch, and a missing barrier when E is odd.  With an
entry for the first, even-E cases pass with the finding counted as known;
odd-E cases fail naming the new finding; an entry nothing matches is listed
as stale.  No FlyDSL checkout is needed.
"""
import json
import re
import types

import pytest

import oracle
import regressions
from cases import Case
from fuzz.judge import run_case
from regressions import known_findings
from regressions.findings_doc import FINDINGS_MD, render

from .fuzz.campaign_helpers import campaign_args, failure_fixtures, fuzz, record

PLANTED = "planted-findings"
BENIGN_LINE = "nxt = last.select(fx.Int32(0), dsl.lds_load(a, tid + fx.Int32(1)))"


def finding_toml(ident: str, line: str, check: str = "lds-out-of-bounds", chain: str = "[]",
                 function: str = "planted_kernel", file: str = "tests/backends/planted_findings.py") -> str:
    """One ``[[finding]]`` table for the planted backend, with one site (a race check's
    evidence ``reported``)."""
    evidence = 'evidence = "reported"\n' if check in known_findings.RACE_CHECKS else ""
    return f'''
[[finding]]
id = "{ident}"
title = "-"
status = "benign"
backends = ["{PLANTED}"]
check = "{check}"
file = "{file}"
why = "(test entry)"
fix = "(test entry)"
{evidence}[[finding.where]]
function = "{function}"
line = "{line}"
chain = {chain}
'''


WITNESSED = 'evidence = "witnessed"'
HARDWARE = 'hardware = "a wave reads the word after another wave stored it"'


LIST = '\n[meta]\nkernel = "the planted kernel"\n' + finding_toml("planted-benign-read", BENIGN_LINE) + f'''
[[finding]]
id = "planted-odd-moe-buf"
title = "odd moe_buf rows refused"
status = "limitation"
backends = ["{PLANTED}"]
check = "host-exception"
error = "ValueError"
retry = "default-moe-buf"
why = "the buffer cannot be passed"
fix = "accept any moe_buf"
[[finding.where]]
function = "_launch"
line = 'raise ValueError(f"moe_buf rows of {{moe_buf.shape[-1] * moe_buf.element_size()}} bytes: an odd byte count")'

[[finding]]
id = "never-seen"
title = "a finding upstream has fixed"
status = "bug"
backends = ["{PLANTED}"]
check = "lds-race"
why = "-"
fix = "-"
evidence = "reported"
{HARDWARE}
[[finding.where]]
line = "this line is gone"
'''


@pytest.fixture(scope="module")
def known_list(tmp_path_factory):
    path = tmp_path_factory.mktemp("known") / "known.toml"
    path.write_text(LIST)
    return path


# ---------------------------------------------------------------- the list itself
def test_committed_list_parses_and_every_fixture_exists():
    known = known_findings.default()
    assert known.entries
    for e in known.entries:
        if e.fixture:
            assert (regressions.FIXTURE_DIR / f"{e.fixture}.json").is_file(), e.id


def test_findings_md_is_rendered_from_the_list():
    assert FINDINGS_MD.read_text() == render(known_findings.default()), \
        "FINDINGS.md is out of date: run python -m fuzz findings --write"


def _evidence(lines: str):
    """An edit of ``LIST``: the race entry's evidence line replaced by ``lines``."""
    return lambda t: t.replace('evidence = "reported"\n', lines + "\n" if lines else "")


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.replace('status = "benign"', 'status = "meh"'), "finding 'planted-benign-read': status = 'meh'"),
    (lambda t: t.replace('check = "lds-race"', 'check = "lds-oops"'), "finding 'never-seen': check = 'lds-oops'"),
    (lambda t: t.replace('id = "never-seen"', 'id = "planted-benign-read"'), "appears twice"),
    (lambda t: t.replace('fix = "-"\n', ''), "finding 'never-seen': fix is missing"),
    (lambda t: t.replace('[[finding.where]]\nline = "this line is gone"\n', ''), "where"),
    (lambda t: t + 'colour = "red"\n', "unknown field(s) ['colour']"),
    (lambda t: t + '[[', "not valid TOML"),
    (_evidence(""), "finding 'never-seen': evidence is missing"),
    (_evidence('evidence = "seen"'), "finding 'never-seen': evidence = 'seen', expected one of ('witnessed', 'reported')"),
    (_evidence('evidence = "witnessed"'), "finding 'never-seen': evidence = 'witnessed' needs witness"),
    (_evidence(WITNESSED + '\nwitness = { outputs = ["sorted_ids"] }'),
     "finding 'never-seen': witness = {'outputs': ['sorted_ids']} must be"),
    (_evidence(WITNESSED + '\nwitness = { schedule = "pct:7", outputs = [] }'),
     "finding 'never-seen': witness = {'schedule': 'pct:7', 'outputs': []} must be"),
    (_evidence('evidence = "reported"\nwitness = { schedule = "pct:7", outputs = ["x"] }'),
     "finding 'never-seen': witness given with evidence = 'reported'"),
    (lambda t: t.replace(f'{HARDWARE}\n', ''), "finding 'never-seen': status = 'bug' with evidence = 'reported' needs hardware"),
    (lambda t: t.replace('retry = "default-moe-buf"', 'retry = "default-moe-buf"\nevidence = "reported"'),
     "finding 'planted-odd-moe-buf': evidence only for race checks"),
])
def test_a_malformed_list_names_the_entry_and_field(edit, message):
    with pytest.raises(known_findings.KnownFindingsError, match=re.escape(message)):
        known_findings.parse(edit(LIST))


def test_a_witnessed_race_needs_no_hardware_text_and_findings_md_names_its_schedule_and_outputs():
    witnessed = LIST.replace(f'evidence = "reported"\n{HARDWARE}',
                             WITNESSED + '\nwitness = { schedule = "pct:seed=7", outputs = ["sorted_ids", "sorted_expert_ids"] }')
    listed = known_findings.parse(witnessed)
    entry = listed.by_id("never-seen")
    assert (entry.evidence, entry.witness, entry.hardware) == (
        "witnessed", ("pct:seed=7", ("sorted_ids", "sorted_expert_ids")), "")
    text = render(listed)
    assert ("- **Evidence**: witnessed: the interpreter's schedule `pct:seed=7` produces wrong outputs "
            "(`sorted_ids`, `sorted_expert_ids` differ from the golden model)") in text
    assert "| [never-seen](#never-seen) | bug (witnessed) | lds-race |" in text
    assert "What would have to happen on hardware" not in text


def test_findings_md_states_the_evidence_of_every_race_entry():
    known = known_findings.default()
    races = [e for e in known.entries if e.check in known_findings.RACE_CHECKS]
    assert races
    sections = {part.split("\n", 1)[0]: part for part in render(known).split("\n## ")[1:]}
    for e in races:
        section = sections[e.id]
        assert f"- **Status**: {e.status} ({e.evidence})" in section, e.id
        assert f"- **Evidence**: {e.evidence}: " in section, e.id
        if e.status == "bug" and e.evidence == "reported":
            assert f"- **What would have to happen on hardware**: {e.hardware}" in section, e.id
    others = [e for e in known.entries if e.check not in known_findings.RACE_CHECKS]
    assert all("**Evidence**" not in sections[e.id] for e in others)


def test_wrong_output_entry_covers_only_the_moe_buf_tail():
    entry = next(e for e in known_findings.default().entries if e.check == "wrong-output")
    backend = entry.backends[0]
    miss = oracle.Mismatch("moe_buf", "moe_buf")
    tail = types.SimpleNamespace(moe_buf_residue={"nbytes": 20, "first": 16, "last": 19, "count": 4})
    body = types.SimpleNamespace(moe_buf_residue={"nbytes": 20, "first": 3, "last": 19, "count": 5})
    assert entry.covers_mismatch(miss, tail, backend)
    assert not entry.covers_mismatch(miss, body, backend)
    assert not entry.covers_mismatch(oracle.Mismatch("sorted_ids", "value"), tail, backend)
    assert not entry.covers_mismatch(miss, tail, "torch-cpu")


# ---------------------------------------------------------------- the machinery, case by case
def test_known_finding_is_counted_and_the_outputs_still_judged(known_list):
    outcome = run_case(Case(8, 2, 5), PLANTED, known_list=known_findings.load(known_list))
    assert outcome.ok and outcome.judged, outcome.summary
    assert outcome.known_counts == {"planted-benign-read": 1}
    assert [f["check"] for f in outcome.findings] == ["lds-out-of-bounds"]


def test_without_its_entry_the_same_finding_fails_naming_it():
    outcome = run_case(Case(8, 2, 5), PLANTED, known_list=known_findings.parse(""))
    assert not outcome.ok and outcome.judged
    sig = outcome.signature
    assert sig.output == "memory-safety" and sig.target is None     # an LDS access out of bounds
    assert sig.kind.startswith("lds-out-of-bounds@dsl.py:") and "<planted_findings.py:" in sig.kind
    assert BENIGN_LINE in outcome.summary and "planted_kernel" in outcome.summary


def test_a_new_finding_fails_beside_a_known_one(known_list):
    outcome = run_case(Case(9, 2, 5), PLANTED, known_list=known_findings.load(known_list))
    assert not outcome.ok and outcome.judged
    assert outcome.known_counts == {"planted-benign-read": 1}
    kinds = [s.kind for s in outcome.signatures]
    assert kinds and all(k.startswith("lds-race@") for k in kinds), kinds
    assert "new finding: lds-race in planted_kernel" in outcome.summary


def test_a_refused_input_is_known_and_the_sort_still_judged_through_the_retry(known_list):
    case = Case(8, 2, 5, moe_buf="uint8x3")
    outcome = run_case(case, PLANTED, known_list=known_findings.load(known_list))
    assert outcome.ok and outcome.judged, outcome.summary
    assert outcome.known_counts == {"planted-odd-moe-buf": 1, "planted-benign-read": 1}
    without_retry = known_findings.parse(LIST.replace('retry = "default-moe-buf"\n', ""))
    outcome = run_case(case, PLANTED, known_list=without_retry)
    assert outcome.ok and not outcome.judged and outcome.known_counts == {"planted-odd-moe-buf": 1}
    outcome = run_case(case, PLANTED, known_list=known_findings.parse(""))
    assert not outcome.ok and outcome.signature.kind.startswith("host-exception:ValueError@planted_findings.py:")


def test_outputs_are_compared_even_when_only_known_findings_show(known_list, monkeypatch):
    from tests.backends import planted_findings

    def wrong_sort(inputs, buffers, target):
        buffers.sorted_expert_ids[0] = 77
    monkeypatch.setattr(planted_findings, "torch_launch", wrong_sort)
    outcome = run_case(Case(8, 2, 5), PLANTED, known_list=known_findings.load(known_list))
    assert not outcome.ok and outcome.known_counts == {"planted-benign-read": 1}
    assert outcome.signature.output in ("sorted_expert_ids", "sorted_ids", "num_valid_ids")


# ---------------------------------------------------------------- the machinery in a campaign
def test_campaign_counts_known_findings_makes_no_fixture_and_reports_stale_entries(tmp_path, known_list):
    run = fuzz(*campaign_args(tmp_path, "--backend", PLANTED, "--shape", "E8-k2", "--cases", "6",
                              "--known-findings", known_list))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "known: planted-benign-read" in run.stdout and "fully judged: " in run.stdout
    assert "no failures" in run.stdout and not failure_fixtures(tmp_path)
    stats = record(tmp_path)["stats"]
    assert stats["known"]["planted-benign-read"] == stats["cases"] == stats["judged"]
    report = fuzz("report", tmp_path / "c")
    assert report.returncode == 0, report.stdout + report.stderr
    text = (tmp_path / "c" / "report.md").read_text()
    section = text.split("## Known findings")[1].split("## ")[0]
    assert "| planted-benign-read | benign |" in section
    stale = section.split("no case matched")[1]
    assert "| never-seen | bug |" in stale and "planted-benign-read" not in stale


def test_campaign_saves_one_fixture_per_new_finding_site(tmp_path, known_list):
    run = fuzz(*campaign_args(tmp_path, "--backend", PLANTED, "--shape", "E9-k2", "--cases", "8",
                              "--known-findings", known_list))
    assert run.returncode == 1, run.stdout + run.stderr
    saved = failure_fixtures(tmp_path)
    kinds = sorted(json.loads(p.read_text())["failure"]["signature"]["kind"].split("@")[0] for p in saved)
    assert kinds == ["lds-race", "lds-race"], kinds
    for p in saved:
        failure = json.loads(p.read_text())["failure"]
        assert failure["finding"]["check"] == "lds-race" and failure["known_findings_also_seen"] == [
            "planted-benign-read"]
    replay = fuzz("replay", "--fixture", saved[0], "--backend", PLANTED, "--known-findings", known_list)
    assert replay.returncode == 1 and "FAIL" in replay.stdout and "new finding: lds-race" in replay.stdout


# ---------------------------------------------------------------- identity that survives clean-ups
#: The planted read's call chain, innermost first: the LDS load helper, then the kernel.
CHAIN = '["lds_load", "planted_kernel"]'
RENAMED = "nxt = last.select(fx.Int32(0), dsl.lds_load(arr, tid + fx.Int32(1)))"    # as an older revision had it


def _one_entry(line: str, **fields):
    return known_findings.parse(finding_toml("the-entry", line, **{"chain": CHAIN, **fields}))


def test_a_finding_whose_line_text_changed_is_known_and_says_so_with_both_texts():
    outcome = run_case(Case(8, 2, 5), PLANTED, known_list=_one_entry(RENAMED))
    assert outcome.ok and outcome.known_counts == {"the-entry": 1}, outcome.summary
    assert outcome.text_changed == {"the-entry": (RENAMED, BENIGN_LINE)}
    assert f"known (line text changed): the-entry, entry `{RENAMED}`, now `{BENIGN_LINE}`" in outcome.summary
    exact = run_case(Case(8, 2, 5), PLANTED, known_list=_one_entry(BENIGN_LINE))
    assert exact.ok and exact.known_counts == {"the-entry": 1} and exact.text_changed == {}
    assert "line text changed" not in exact.summary


def test_a_finding_in_a_moved_file_is_the_entry_of_that_file_name():
    # the entry names the file where an older tree kept it; the finding's frames lie in tests/backends/
    moved = run_case(Case(8, 2, 5), PLANTED, known_list=_one_entry(BENIGN_LINE, file="kernels/planted_findings.py"))
    assert moved.ok and moved.known_counts == {"the-entry": 1}, moved.summary
    other = run_case(Case(8, 2, 5), PLANTED, known_list=_one_entry(BENIGN_LINE, file="kernels/other_findings.py"))
    assert not other.ok and other.known_counts == {}, other.summary


@pytest.mark.parametrize("why, entry", [
    ("another check", lambda: _one_entry(RENAMED, check="lds-race")),
    ("another call chain (the store helper)", lambda: _one_entry(RENAMED, chain='["lds_store", "planted_kernel"]')),
    ("the chain one frame longer", lambda: _one_entry(RENAMED, chain='["lds_load", "planted_kernel", "planted_kernel"]')),
    ("another function", lambda: _one_entry(RENAMED, function="lds_load")),
    ("no chain recorded: exact text only", lambda: _one_entry(RENAMED, chain="[]")),
    # the entry's own line is still in the function: a finding on another line is another finding
    ("the entry's line is still there", lambda: _one_entry("dsl.lds_store(a, tid, tid + fx.Int32(1))")),
])
def test_findings_that_are_not_the_entry_stay_new(why, entry):
    outcome = run_case(Case(8, 2, 5), PLANTED, known_list=entry())
    assert not outcome.ok and outcome.known_counts == {}, why
    assert "new finding: lds-out-of-bounds in planted_kernel" in outcome.summary, why


def test_a_chain_must_hold_the_sites_function():
    with pytest.raises(known_findings.KnownFindingsError, match=re.escape("does not hold function = 'planted_kernel'")):
        _one_entry(RENAMED, chain='["lds_load"]')


# ---------------------------------------------------------------- entries that do not apply to a revision
ROOT = str(regressions.FIXTURE_DIR.parents[1])


@pytest.mark.parametrize("kw, absent", [
    ({"line": BENIGN_LINE}, None),
    ({"line": RENAMED}, "absent in this revision: its lines no longer exist in tests/backends/planted_findings.py"),
    ({"line": BENIGN_LINE, "function": "gone_kernel", "chain": '["lds_load", "gone_kernel"]'},
     "absent in this revision: function(s) gone_kernel no longer exist in tests/backends/planted_findings.py"),
    ({"line": BENIGN_LINE, "file": "kernels/backends/gone.py"}, "kernels/backends/gone.py does not exist in the checkout"),
    ({"line": BENIGN_LINE, "file": "kernels/planted_findings.py"}, None),       # moved: found by its file name
    ({"line": RENAMED, "file": "kernels/planted_findings.py"},
     "absent in this revision: its lines no longer exist in kernels/planted_findings.py"),
])
def test_an_entry_whose_code_is_gone_is_absent_and_one_whose_code_is_there_is_not(kw, absent):
    (entry,) = _one_entry(**kw).entries
    assert known_findings.absence(entry, [ROOT]) == absent
    assert known_findings.absence(entry, []) is None            # no checkout to look in: cannot tell


def test_campaign_report_lists_absent_entries_apart_from_stale_ones(tmp_path, known_list):
    gone = LIST + finding_toml("gone-kernel-entry", "x = 1", check="lds-race", function="removed_kernel")
    path = tmp_path / "known.toml"
    path.write_text(gone)
    run = fuzz(*campaign_args(tmp_path, "--backend", PLANTED, "--shape", "E8-k2", "--cases", "2",
                              "--known-findings", path))
    assert run.returncode == 0, run.stdout + run.stderr
    report = fuzz("report", tmp_path / "c")
    assert report.returncode == 0, report.stdout + report.stderr
    section = (tmp_path / "c" / "report.md").read_text().split("## Known findings")[1].split("## ")[0]
    absent, stale = section.split("Entries absent in this revision")[1].split("no case matched")
    assert "| gone-kernel-entry | benign | absent in this revision: function(s) removed_kernel" in absent
    assert "gone-kernel-entry" not in stale and "| never-seen | bug |" in stale
