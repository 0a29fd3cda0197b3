"""Bisection over a FlyDSL repository's history with ``git bisect run``.

:func:`bisect` makes a detached worktree, starts ``git bisect`` there between
``good`` and ``bad`` (optionally only over commits touching ``paths``, as
git's own pathspec does) and lets ``git bisect run`` drive the test command
in that worktree -- by default the fixture's verdict
(:mod:`fuzz.revisions.verdict`) in a fresh process with ``FLYDSL_ROOT`` at
the worktree.  The test's exit status is git's: 0 good, 125 skip (git
never blames a skipped commit alone), 1..127 bad, 128 and above stop the
bisection.  Returns the first bad commit, or the candidates when skipped
commits leave it open, with every step's verdict from ``git bisect log``.
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

from . import git
from .runner import SUITE_ROOT

_FIRST_BAD = re.compile(r"^([0-9a-f]{40}) is the first bad commit", re.M)
_STEP = re.compile(r"^# (good|bad|skip): \[([0-9a-f]{40})\]", re.M)
_SHA = re.compile(r"^([0-9a-f]{40})\b", re.M)


class BisectError(RuntimeError):
    """The bisection could not finish (the message holds git's output)."""


@dataclasses.dataclass
class BisectResult:
    good: git.Commit
    bad: git.Commit
    first_bad: Optional[git.Commit]      # None: skipped commits leave it open (see candidates)
    candidates: list                     # Commits the first bad one may be, when skips leave it open
    steps: list                          # (verdict, Commit) in the order git tested them


def verdict_command(fixture: Path, backend: str, target: Optional[str], successor: Optional[Path]) -> list:
    """The default test: the fixture's verdict, run with ``-P`` so that the worktree (the working
    directory, itself holding a ``kernels`` package) is not put ahead of this suite on sys.path."""
    argv = [sys.executable, "-P", "-m", "fuzz.revisions.verdict", str(Path(fixture).resolve()), "--backend", backend]
    if target:
        argv += ["--target", target]
    if successor is not None:
        argv += ["--successor", str(successor)]
    return argv


def bisect(repo, good: str, bad: str, test: list, scratch: Path, paths=(), echo=None) -> BisectResult:
    """Bisect ``repo`` between ``good`` and ``bad`` with the command ``test`` (see the module doc);
    ``echo`` gets git's output lines as they come (None: quiet)."""
    good_c, bad_c = git.resolve(repo, good), git.resolve(repo, bad)
    if good_c.sha == bad_c.sha:
        raise BisectError(f"--good and --bad are one commit ({good_c.short})")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SUITE_ROOT), os.environ.get("PYTHONPATH")])))
    with git.worktree(repo, bad_c.sha, Path(scratch) / "bisect") as tree:
        env["FLYDSL_ROOT"] = str(tree)
        git.git(tree, "bisect", "start", bad_c.sha, good_c.sha, "--", *paths)
        try:
            proc = subprocess.Popen(["git", "-C", str(tree), "bisect", "run", *test], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if echo is not None:
                    echo(line.rstrip("\n"))
            proc.wait()
            log = git.git(tree, "bisect", "log", check=False)
        finally:
            git.git(tree, "bisect", "reset", check=False)
    output = "".join(lines)
    steps = [(v, git.describe(repo, sha)) for v, sha in _STEP.findall(log)]
    found = _FIRST_BAD.search(output)
    if found:
        return BisectResult(good_c, bad_c, git.describe(repo, found.group(1)), [], steps)
    if "only 'skip'ped commits left" in output:
        tail = output.split("could be any of:", 1)[-1]
        candidates = [git.describe(repo, sha) for sha in _SHA.findall(tail)]
        return BisectResult(good_c, bad_c, None, candidates, steps)
    raise BisectError(f"git bisect run ended without a first bad commit (status {proc.returncode}):\n"
                      + output[-2000:])

