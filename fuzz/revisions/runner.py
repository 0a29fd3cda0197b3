"""Running the gate for one revision in a fresh process, and the row it makes.

:func:`run_gate` starts ``python -m fuzz.revisions.gate`` with ``FLYDSL_ROOT``
at the tree (this suite's root as the working directory) and returns its
JSON answer; a process that dies or runs past ``timeout`` is an answer too
(``runs_here`` False, ``why`` saying so).  :func:`row` joins the revision's
commit facts and that answer into one row of the table
(:mod:`fuzz.revisions.table`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from .gate import DEFAULT_BACKEND, DEFAULT_MAX_CASES, DEFAULT_TARGETS
from .prepare import Prepared

SUITE_ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class GateOptions:
    """What the gate runs (see :mod:`fuzz.revisions.gate`) and its time limit per revision."""

    backend: str = DEFAULT_BACKEND
    targets: tuple = DEFAULT_TARGETS
    max_cases: int = DEFAULT_MAX_CASES
    fixtures: bool = True
    case_timeout: Optional[float] = 300.0
    timeout: float = 1800.0
    shapes: tuple = ()
    fixed: tuple = ()          # known-finding ids whose fixes the tree carries: judged as must-not-appear

    def describe(self) -> str:
        """The gate's size in words, for the table's header."""
        shapes = ", ".join(self.shapes) if self.shapes else "every production shape"
        return (f"{self.backend}, targets {' '.join(self.targets)}, {shapes}, "
                f"{self.max_cases} suite cases per target, fixtures {'on every target' if self.fixtures else 'off'}")

    def argv(self) -> list:
        out = ["--backend", self.backend, "--max-cases", str(self.max_cases)]
        for t in self.targets:
            out += ["--target", t]
        if not self.fixtures:
            out.append("--no-fixtures")
        for pattern in self.shapes:
            out += ["--shape", pattern]
        if self.case_timeout is not None:
            out += ["--case-timeout", str(self.case_timeout)]
        for ident in self.fixed:
            out += ["--fixed", ident]
        return out


def run_gate(tree: Path, successor: Optional[Path], options: GateOptions, echo: bool = True) -> dict:
    """The gate's answer for the FlyDSL tree at ``tree`` (see the module doc); its progress lines
    go to this process's stderr when ``echo``."""
    with tempfile.TemporaryDirectory(prefix="moesort-gate-") as tmp:
        out = Path(tmp) / "gate.json"
        argv = [sys.executable, "-m", "fuzz.revisions.gate", "--json", str(out), *options.argv()]
        if successor is not None:
            argv += ["--successor", str(successor)]
        env = dict(os.environ, FLYDSL_ROOT=str(tree))
        start = time.monotonic()
        try:
            proc = subprocess.run(argv, cwd=SUITE_ROOT, env=env, timeout=options.timeout, text=True,
                                  stdout=subprocess.PIPE, stderr=None if echo else subprocess.PIPE)
        except subprocess.TimeoutExpired:
            return {"runs_here": False, "why": f"the gate ran past its {options.timeout:g} s limit"}
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            return {"runs_here": False, "why": f"the gate's process exited with status {proc.returncode}: "
                                               f"{tail[0][:200]}", "seconds": round(time.monotonic() - start, 1)}
        return json.loads(out.read_text())


def row(p: Prepared, answer: Optional[dict]) -> dict:
    """One row: the revision as given, its commit facts, the fixes applied, and the gate's answer
    (None: the gate did not run, ``p.why_not`` says why)."""
    out = {"revision": p.spec.text, **p.commit.to_dict(), "fixes": p.fixes}
    if answer is None:
        return dict(out, runs_here=False, why=p.why_not)
    return dict(out, **answer)
