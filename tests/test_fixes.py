"""The verified fixes (``regressions/fixes.py``): every bug entry has one, they apply to a
copy of the checkout, refuse code they no longer match, and remove their findings.

The data and ``apply_fixes`` are checked on a small synthetic checkout without
FlyDSL.  With ``FLYDSL_ROOT`` the fixes are applied to a copy of that
checkout's ``kernels/`` and ``tests/fixes_verify.py`` judges the copy in a
separate process: every bug entry's inputs must be clean there, and the same
judge must see every finding on the unfixed checkout (so it can fail).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from regressions import known_findings
from regressions.fixes import FixError, apply_fixes, missing_patches, patch_of

ROOT = Path(__file__).resolve().parent.parent

SOURCE = '''\
def helper(x):
    return x


def kernel(ids, n):
    total = n * 2
    for i in range(total):
        helper(ids[i])
    if total:
        store(total)


def other(ids):
    if total:
        store(total)
'''
CHECKOUT = {"kernels/moe/sort.py": SOURCE}


def _entry(ident: str, status: str, line: str, patch: str = "") -> str:
    """One known-findings entry of the synthetic list; ``patch``: its [finding.patch] tables."""
    return (f'[[finding]]\nid = "{ident}"\ntitle = "t"\nstatus = "{status}"\nbackends = ["flydsl-upstream"]\n'
            f'check = "lds-race"\nwhy = "-"\nfix = "-"\nevidence = "reported"\nhardware = "-"\n[[finding.where]]\nline = "{line}"\n{patch}\n')


LIST = _entry("a-bug", "bug", "store(total)", '''[finding.patch]
summary = "guard the store and count from n"
verified_at = "abc"
[[finding.patch.edit]]
file = "kernels/moe/sort.py"
function = "kernel"
old = """
if total:
    store(total)"""
new = """
if total > 0:
    barrier()
    store(total)"""
[[finding.patch.edit]]
file = "kernels/moe/sort.py"
old = "def helper(x):"
new = """
def clamp(x):
    return max(x, 0)


def helper(x):"""
''') + _entry("same-bug", "bug", "helper(ids[i])", '''[finding.patch]
summary = "the fix of a-bug"
same_as = "a-bug"
''') + _entry("benign-one", "benign", "total = n * 2")


def _checkout(tmp_path: Path) -> Path:
    for rel, text in CHECKOUT.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def _known(text=LIST):
    return known_findings.parse(text)


# ---------------------------------------------------------------- the committed data
def test_every_bug_entry_has_a_fix_that_parses():
    known = known_findings.default()
    assert missing_patches(known) == []
    bugs = [e for e in known.entries if e.status == "bug"]
    assert bugs
    for entry in bugs:
        patch = patch_of(entry)
        assert patch.summary
        target = patch_of(known.by_id(patch.same_as)) if patch.same_as else patch
        assert target.edits, entry.id


def test_a_bug_entry_without_a_fix_is_reported():
    text = LIST.replace('[finding.patch]\nsummary = "the fix of a-bug"\nsame_as = "a-bug"\n', "")
    assert missing_patches(_known(text)) == ["same-bug"]


@pytest.mark.parametrize("bad,message", [
    ('summary = "guard the store and count from n"', "patch: summary is missing"),
    ('function = "kernel"', None),
])
def test_malformed_patch_names_the_field(bad, message, tmp_path):
    if message is None:   # function is optional: the same edit then matches twice in the file
        known = _known(LIST.replace(bad, "", 1))
        with pytest.raises(FixError, match=r"'a-bug'.*whole file.*found 2 times \(lines \[9, 14\]\)"):
            apply_fixes(_checkout(tmp_path), ["a-bug"], known_list=known)
        return
    with pytest.raises(FixError, match=message):
        patch_of(_known(LIST.replace(bad, "", 1)).by_id("a-bug"))


def test_a_patch_with_edits_and_same_as_is_refused():
    text = LIST.replace('summary = "the fix of a-bug"', 'summary = "x"\n[[finding.patch.edit]]\nfile = "f"\n'
                                                         'old = "a"\nnew = "b"', 1)
    text = text.replace('[[finding.patch.edit]]\nfile = "f"\nold = "a"\nnew = "b"\nsame_as = "a-bug"',
                        'same_as = "a-bug"\n[[finding.patch.edit]]\nfile = "f"\nold = "a"\nnew = "b"')
    with pytest.raises(FixError, match="not both"):
        patch_of(_known(text).by_id("same-bug"))


# ---------------------------------------------------------------- apply_fixes on a synthetic checkout
def test_apply_fixes_edits_a_copy_keeping_indentation(tmp_path):
    root = _checkout(tmp_path)
    applied = apply_fixes(root, None, known_list=_known())
    assert applied == ["a-bug", "same-bug"]          # every bug entry; the benign one has no fix
    text = (root / "kernels/moe/sort.py").read_text()
    kernel_guard = "    if total:\n        store(total)\n\n\ndef other"
    assert kernel_guard in SOURCE
    assert text == "def clamp(x):\n    return max(x, 0)\n\n\n" + SOURCE.replace(
        kernel_guard, "    if total > 0:\n        barrier()\n        store(total)\n\n\ndef other")


def test_same_as_brings_the_other_entry_fix(tmp_path):
    root = _checkout(tmp_path)
    assert apply_fixes(root, ["same-bug"], known_list=_known()) == ["a-bug", "same-bug"]
    assert "if total > 0:" in (root / "kernels/moe/sort.py").read_text()


def test_a_source_text_that_no_longer_matches_is_refused_and_nothing_is_written(tmp_path):
    root = _checkout(tmp_path)
    path = root / "kernels/moe/sort.py"
    path.write_text(path.read_text().replace("    if total:\n        store(total)\n\n\ndef other",
                                             "    if total:\n        store(total_renamed)\n\n\ndef other"))
    before = path.read_text()
    with pytest.raises(FixError) as err:
        apply_fixes(root, ["a-bug"], known_list=_known())
    assert "'a-bug'" in str(err.value) and "function kernel" in str(err.value)
    assert "store(total)" in str(err.value) and "not found" in str(err.value)
    assert path.read_text() == before


def test_applying_twice_is_refused(tmp_path):
    root = _checkout(tmp_path)
    apply_fixes(root, ["a-bug"], known_list=_known())
    with pytest.raises(FixError, match="not found"):
        apply_fixes(root, ["a-bug"], known_list=_known())


def test_unknown_id_and_entry_without_fix_are_refused(tmp_path):
    root = _checkout(tmp_path)
    with pytest.raises(FixError, match="no known finding 'nope'"):
        apply_fixes(root, ["nope"], known_list=_known())
    with pytest.raises(FixError, match="'benign-one' has no fix"):
        apply_fixes(root, ["benign-one"], known_list=_known())


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(FixError, match="does not exist"):
        apply_fixes(tmp_path, ["a-bug"], known_list=_known())


# ---------------------------------------------------------------- with FlyDSL: the fixes remove the findings
needs_flydsl = pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                                  reason="FLYDSL_ROOT is not set: no FlyDSL checkout to apply the fixes to")


def _copy(tmp_path: Path, name: str) -> Path:
    where = tmp_path / name
    shutil.copytree(Path(os.environ["FLYDSL_ROOT"]) / "kernels", where / "kernels",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return where


@needs_flydsl
def test_every_fix_applies_alone_and_all_together(tmp_path):
    known = known_findings.default()
    bugs = [e.id for e in known.entries if e.status == "bug"]
    for ident in bugs:
        assert ident in apply_fixes(_copy(tmp_path, ident), [ident])
    assert apply_fixes(_copy(tmp_path, "all"), None) == bugs


def _verify(root: Path) -> dict:
    env = dict(os.environ, FLYDSL_ROOT=str(root), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "tests.fixes_verify"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@needs_flydsl
@pytest.mark.interpreter
def test_the_fixed_checkout_shows_none_of_the_bug_findings(tmp_path):
    bugs = [e.id for e in known_findings.default().entries if e.status == "bug"]
    fixed = _copy(tmp_path, "fixed")
    apply_fixes(fixed, None)
    problems = _verify(fixed)
    assert sorted(problems) == sorted(bugs)
    assert {k: v for k, v in problems.items() if v} == {}
    unfixed = _verify(_copy(tmp_path, "unfixed"))
    assert sorted(k for k, v in unfixed.items() if not v) == [], "the judge must see every finding unfixed"
