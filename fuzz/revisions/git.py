"""Revisions of a FlyDSL git repository: resolving, worktrees, files at a revision.

Every call runs ``git`` with ``-C REPO``; a failure is :class:`GitError`
holding git's own message.
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional


class GitError(RuntimeError):
    """A git command failed; the message holds the command and git's stderr."""


def git(repo, *args: str, check: bool = True) -> str:
    """stdout of ``git -C repo ARGS`` (stripped); :class:`GitError` on a non-zero exit when ``check``."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


@dataclasses.dataclass(frozen=True)
class Commit:
    sha: str
    date: str       # committer date, YYYY-MM-DD
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:8]

    def to_dict(self) -> dict:
        return {"commit": self.sha, "date": self.date, "subject": self.subject}


_PR = re.compile(r"^(?:#|pr/|pull/)(\d+)$")


def _pull_request(repo, number: str) -> Optional[str]:
    """The commit of pull request ``number``: a fetched ref of it (``refs/pull/N/head``,
    ``refs/remotes/origin/pull/N/head``, ``refs/remotes/origin/pr/N``), else the commit of
    the first-parent history of HEAD whose subject ends in ``(#N)`` (a squash merge)."""
    for ref in (f"refs/pull/{number}/head", f"refs/remotes/origin/pull/{number}/head",
                f"refs/remotes/origin/pr/{number}"):
        sha = git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if sha:
            return sha
    found = git(repo, "log", "--first-parent", "--format=%H", "-F", f"--grep=(#{number})", "HEAD")
    for sha in found.splitlines():
        if git(repo, "log", "-1", "--format=%s", sha).endswith(f"(#{number})"):
            return sha
    return None


def resolve(repo, rev: str) -> Commit:
    """The commit ``rev`` names in ``repo`` (``#N``, ``pr/N``, ``pull/N``: pull request N);
    :class:`GitError` naming ``rev`` when it names none."""
    if not (Path(repo) / ".git").exists() and not git(repo, "rev-parse", "--git-dir", check=False):
        raise GitError(f"--repo {repo}: not a git repository")
    pr = _PR.match(rev)
    sha = _pull_request(repo, pr.group(1)) if pr else None
    if sha is None:
        sha = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if not sha:
        raise GitError(f"revision {rev!r}: not a commit of {repo}")
    return describe(repo, sha)


def describe(repo, sha: str) -> Commit:
    full, date, subject = git(repo, "log", "-1", "--format=%H%x00%cs%x00%s", sha).split("\0", 2)
    return Commit(full, date, subject)


def show(repo, rev: str, path: str) -> Optional[bytes]:
    """The bytes of ``path`` at ``rev``; None when the revision has no such file."""
    proc = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


@contextlib.contextmanager
def worktree(repo, sha: str, path: Path):
    """A detached worktree of ``sha`` at ``path`` (created, then removed with the
    repository's record of it)."""
    path = Path(path)
    git(repo, "worktree", "add", "--detach", "--force", str(path), sha)
    try:
        yield path
    finally:
        git(repo, "worktree", "remove", "--force", str(path), check=False)
        shutil.rmtree(path, ignore_errors=True)
        git(repo, "worktree", "prune", check=False)
