"""Generate mutants of FlyDSL kernel files, judge each in isolation, summarize.

Each mutant is judged in a private copy of the suite's packages
(:data:`PACKAGES`) in which one kernel file holds the mutation, by ``python -m
fuzz.mutation.check_mutant`` in a subprocess with a time limit: once in
``suite`` mode (the suite's ci checks) and once in ``baseline`` mode (FlyDSL's
own test-shape list, per-block).  Mutants run in parallel across ``jobs``
processes.

Source paths are relative to the repo, or ``flydsl:<path>`` for a file of the
FlyDSL checkout named by ``FLYDSL_ROOT``; such a mutant is judged with a
private copy of the checkout's ``kernels/`` as ``FLYDSL_ROOT``.  Cases the
unmutated kernel already fails (found by :func:`screen`) are left out of
every mutant's checks: they cannot tell a mutant from the original.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional

from .baseline import baseline_cases
from .config import run_by
from .operators import Mutant, mutants

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("oracle", "cases", "kernels", "fuzz", "regressions")
#: Seconds beyond the check's own budget after which the mutant counts as hanging.  The
#: compile-limits stage of a survivor runs after the budget and inside this grace: on a
#: loaded machine raise it (``fuzz mutate --hang-grace``), or survivors are killed as hangs.
HANG_GRACE_S = 300


@dataclasses.dataclass
class Judged:
    mutant: Mutant
    suite: dict
    baseline: Optional[dict]
    seconds: float

    def to_dict(self, original: str) -> dict:
        return {"id": self.mutant.id, "path": self.mutant.path, "operator": self.mutant.operator,
                "line": self.mutant.line, "before": self.mutant.before, "after": self.mutant.after,
                "suite": self.suite, "baseline": self.baseline, "seconds": round(self.seconds, 1),
                "diff": self.mutant.diff(original)}


def source_digest(text: str) -> str:
    """The digest of a kernel file's text that ``mutation.json`` records (12 hex digits of sha256)."""
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:12]


UPSTREAM_PREFIX = "flydsl:"


def source_file(rel: str) -> Path:
    """The file a source path names: repo-relative, or ``flydsl:<path>`` in ``$FLYDSL_ROOT``."""
    if rel.startswith(UPSTREAM_PREFIX):
        root = os.environ.get("FLYDSL_ROOT")
        if not root:
            raise FileNotFoundError(f"{rel}: FLYDSL_ROOT is not set")
        return Path(root) / rel[len(UPSTREAM_PREFIX):]
    return ROOT / rel


def stratified(found: list, n: int, rng: random.Random) -> list:
    """``n`` mutants of ``found`` spread over its (operator, function) groups: one from
    each group in turn (groups and members in a seeded random order) until ``n``."""
    groups: dict = {}
    for m in found:
        groups.setdefault((m.operator, m.function), []).append(m)
    order = sorted(groups)
    rng.shuffle(order)
    for key in order:
        rng.shuffle(groups[key])
    chosen = []
    while len(chosen) < n and any(groups.values()):
        for key in order:
            if groups[key] and len(chosen) < n:
                chosen.append(groups[key].pop())
    return chosen


def select(paths, token_names: dict, operators=None, sample: Optional[int] = None,
           const_per_file: Optional[int] = None, seed: int = 0, stratify: bool = False,
           lines: Optional[dict] = None) -> list[Mutant]:
    """Mutants of ``paths`` (see :func:`source_file`), filtered and (deterministically) sampled.

    ``stratify``: the sample spreads over (operator, function) groups (:func:`stratified`).
    ``lines`` ({path: line numbers}): only mutants on lines the checks run."""
    rng = random.Random(seed)
    chosen = []
    for rel in paths:
        source = source_file(rel).read_text()
        found = [m for m in mutants(source, str(rel), token_names.get(str(rel)))
                 if (operators is None or m.operator in operators)
                 and (lines is None or rel not in lines or m.line in lines[rel])]
        consts = [m for m in found if m.operator == "const"]
        if const_per_file is not None and len(consts) > const_per_file:
            keep = set(id(m) for m in rng.sample(consts, const_per_file))
            found = [m for m in found if m.operator != "const" or id(m) in keep]
        chosen += found
    if sample is not None and len(chosen) > sample:
        chosen = stratified(chosen, sample, rng) if stratify else rng.sample(chosen, sample)
    return sorted(chosen, key=lambda m: (m.path, m.line, m.col, m.operator, m.after))


def workspace(mutant: Optional[Mutant], base: Path, prefix: str = "original") -> Path:
    """A private copy of the suite (and of the checkout's ``kernels/`` as ``where/flydsl``
    when FLYDSL_ROOT is set) with ``mutant`` applied; None copies the originals."""
    where = Path(tempfile.mkdtemp(prefix=f"{mutant.id if mutant else prefix}-", dir=base))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, where / pkg, ignore=ignore)
    if os.environ.get("FLYDSL_ROOT"):
        shutil.copytree(Path(os.environ["FLYDSL_ROOT"]) / "kernels", where / "flydsl" / "kernels", ignore=ignore)
    if mutant is not None:
        rel = mutant.path
        target = (where / "flydsl" / rel[len(UPSTREAM_PREFIX):]) if rel.startswith(UPSTREAM_PREFIX) else where / rel
        target.write_text(mutant.source)
    return where


def _check(where: Path, mode: str, timeout: float, seed: int, backend: str, paths=(),
           exclude: Optional[Path] = None, collect: bool = False, lines_of=(),
           hang_grace: float = HANG_GRACE_S, roles=(), function: str = "", past_screen: bool = False) -> dict:
    # the interpreter's capture cache is private to the workspace too: its entries name the
    # workspace's files, so no other mutant could use them (and none may see another's)
    env = dict(os.environ, PYTHONPATH=str(where), PYTHONDONTWRITEBYTECODE="1",
               FLYDSL_RUNTIME_CACHE_DIR=str(where / ".flydsl-cache"), MOESORT_EMU_CACHE_DIR=str(where / ".emu-cache"))
    if (where / "flydsl").is_dir():
        env["FLYDSL_ROOT"] = str(where / "flydsl")
    cmd = [sys.executable, "-m", "fuzz.mutation.check_mutant", "--mode", mode, "--seed", str(seed),
           "--backend", backend, "--paths", ",".join(paths), "--budget", str(timeout)]
    if roles:
        cmd += ["--on", ",".join(roles)]
    if function:
        cmd += ["--function", function]
    if past_screen:
        cmd.append("--past-screen")
    if exclude is not None:
        cmd += ["--exclude", str(exclude)]
    if collect:
        cmd.append("--collect")
    for rel in lines_of:
        target = (where / "flydsl" / rel[len(UPSTREAM_PREFIX):]) if rel.startswith(UPSTREAM_PREFIX) else where / rel
        cmd += ["--lines-of", str(target)]
    try:
        # The check stops itself after ``timeout`` s; the hard limit is for kernels that hang.
        proc = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True,
                              timeout=timeout + hang_grace)
    except subprocess.TimeoutExpired:
        return {"status": "killed", "check": "hang",
                "detail": f"no verdict within {timeout + hang_grace:.0f} s: the kernel does not terminate"}
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-600:]
        if "Error" in tail and ("flydsl" in tail or "mlir" in tail.lower()):
            return {"status": "compile_failed", "check": "compile", "detail": tail}
        if proc.returncode > 0:
            # check_mutant reports every failure of the checks it runs; an exit of its own
            # (bad arguments, an unreadable screen file) judged nothing.
            return {"status": "error", "check": None, "detail": tail}
        return {"status": "killed", "check": "crash", "detail": tail}
    return json.loads(lines[-1])


def screen(seed: int, backend: str, timeout: float, out: Path, lines_of=(),
           modes=("suite", "baseline"), budget: Optional[float] = None) -> dict:
    """Run every check of ``modes`` (both by default; a run without the baseline
    needs only the suite's) on the unmutated sources; write the cases that fail
    there to ``out`` (JSON ``{"suite": [...], "baseline": [...], "reached": {mode: [...]}}``
    of ``case@target`` keys: failing ones, and every one the screen ran) and return it.
    Mutants then run only cases that do not fail: in the baseline mode only reached ones; in
    the suite mode the others too, a kill by one of them confirmed on the unmutated kernel
    (:func:`judge`).  ``budget``: seconds per mode (default: twice a mutant's ``timeout``,
    which covers every case a mutant can reach in the same order).  ``lines_of`` (source paths):
    the suite mode also records which of their lines ran, under ``"lines"`` ({path: [...]}):
    a mutant elsewhere cannot be told from the original by these checks."""
    base = Path(tempfile.mkdtemp(prefix="moesort-screen-"))
    try:
        where = workspace(None, base)
        screened = {mode: _check(where, mode, 2 * timeout if budget is None else budget, seed, backend, collect=True,
                                 lines_of=(tuple(lines_of) if mode == "suite" else ()))
                    for mode in modes}
        broken = {mode: r["detail"] for mode, r in screened.items() if r.get("status") == "error"}
        broken.update({mode: f"no case ran within the screen's {2 * timeout:.0f} s: raise --timeout"
                       for mode, r in screened.items() if mode not in broken and not r.get("reached")})
        if broken:
            raise RuntimeError(f"the screen could not run the checks on the unmutated kernel: {broken}")
        found = {mode: r.get("failing", []) for mode, r in screened.items()}
        found["reached"] = {mode: r.get("reached", []) for mode, r in screened.items()}
        if lines_of:
            ran = screened["suite"].get("lines", [[] for _ in lines_of])
            found["lines"] = {rel: ran[i] for i, rel in enumerate(lines_of)}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    out.write_text(json.dumps(found, indent=1) + "\n")
    return found


#: How many kills by cases past the screen :func:`judge` checks on the unmutated kernel
#: before it stops looking (each one the original fails too is left out and the suite rerun).
MAX_CONFIRMATIONS = 3


def judge(mutant: Mutant, base: Path, timeout: float, seed: int, backend: str, baseline: bool,
          paths=(), exclude: Optional[Path] = None, hang_grace: float = HANG_GRACE_S) -> Judged:
    """Judge ``mutant`` in a private workspace: the suite's checks (only on the backends
    that run its file, the cases that launch its function first) and the baseline.  With a
    screen (``exclude``), the suite also runs the cases the screen did not reach; a kill by
    one of them counts only once the unmutated kernel passes that case (:func:`_confirmed`)."""
    start = time.time()
    where = workspace(mutant, base)
    try:
        suite = _suite_verdict(mutant, where, base, timeout, seed, backend, paths, exclude, hang_grace)
        base_result = (_check(where, "baseline", timeout, seed, backend, (), exclude, hang_grace=hang_grace)
                       if baseline else None)
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return Judged(mutant, suite, base_result, time.time() - start)


def _suite_verdict(mutant, where, base, timeout, seed, backend, paths, exclude, hang_grace) -> dict:
    def run(screen):
        return _check(where, "suite", timeout, seed, backend, paths, screen, hang_grace=hang_grace,
                      roles=run_by(mutant.path), function=mutant.function, past_screen=screen is not None)

    suite, screen = run(exclude), exclude
    for _ in range(MAX_CONFIRMATIONS):
        if not (suite.get("status") == "killed" and suite.get("unscreened")):
            break
        if _confirmed(suite["key"], base, timeout, seed, backend, paths, hang_grace):
            suite["confirmed_on_original"] = True
            break
        screen = _excluding(screen, suite["key"], base)          # the original fails it too
        suite = run(screen)
    else:
        if suite.get("status") == "killed" and suite.get("unscreened"):
            suite = {"status": "error", "check": None,
                     "detail": f"{MAX_CONFIRMATIONS} cases past the screen fail on the unmutated kernel too"}
    return suite


def _confirmed(key: str, base: Path, timeout: float, seed: int, backend: str, paths, hang_grace) -> bool:
    """The unmutated kernel passes the case ``key`` (``case@target[#backend]``)."""
    only = base / f"confirm-{os.getpid()}-{time.monotonic_ns()}.json"
    only.write_text(json.dumps({"suite": [], "reached": {"suite": [key]}}))
    original = workspace(None, base, "confirm")
    try:
        result = _check(original, "suite", timeout, seed, backend, paths, only, collect=True, hang_grace=hang_grace)
    finally:
        shutil.rmtree(original, ignore_errors=True)
        only.unlink(missing_ok=True)
    return result.get("status") == "screened" and key in result.get("reached", []) and not result.get("failing")


def _excluding(screen: Optional[Path], key: str, base: Path) -> Path:
    """A copy of the screen file ``screen`` with ``key`` added to the suite's failing cases."""
    data = json.loads(screen.read_text()) if screen is not None else {"suite": []}
    data["suite"] = sorted(set(data.get("suite", [])) | {key})
    out = base / f"screen-{os.getpid()}-{time.monotonic_ns()}.json"
    out.write_text(json.dumps(data))
    return out


def run_all(chosen: list[Mutant], jobs: int, timeout: float, seed: int, backend: str,
            baseline: bool, on_done: Callable[[Judged], None], paths_of=lambda path: (),
            exclude: Optional[Path] = None, hang_grace: float = HANG_GRACE_S) -> list[Judged]:
    base = Path(tempfile.mkdtemp(prefix="moesort-mutants-"))
    results = []
    try:
        with ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(judge, m, base, timeout, seed, backend, baseline, paths_of(m.path), exclude,
                                   hang_grace) for m in chosen]
            for f in futures:
                judged = f.result()
                results.append(judged)
                on_done(judged)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results


def source_commit(rel: str) -> str:
    """Where a source file comes from: ``<git commit>`` (``+modified`` when the file differs
    from it) for a file in a git checkout, else ``sha256:<digest>`` of its text."""
    path = source_file(rel)
    try:
        head = subprocess.run(["git", "-C", str(path.parent), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30)
        if head.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(path.parent), "diff", "--quiet", "HEAD", "--", path.name],
                                   timeout=30).returncode != 0
            return head.stdout.strip() + ("+modified" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "sha256:" + source_digest(path.read_text())


def figures(results: list, summary: dict) -> dict:
    """``summary`` plus one row per mutant without any source text: what may be committed
    about a kernel of another project."""
    rows = [{"id": r.mutant.id, "operator": r.mutant.operator, "function": r.mutant.function,
             "line": r.mutant.line, "suite": r.suite.get("status"), "killed_by": r.suite.get("check"),
             "case": r.suite.get("case"), "baseline": (r.baseline or {}).get("status"),
             "seconds": round(r.seconds, 1)} for r in results]
    return dict(summary, mutants_judged=rows)


def _rate(killed: int, total: int) -> float:
    return round(100.0 * killed / total, 1) if total else 0.0


def summarize(results: list[Judged], equivalent: dict) -> dict:
    """The numbers of ``mutation.json``: ``kill_rate_percent`` is killed of the mutants not
    listed as equivalent, ``killed_of_all_percent`` killed of every judged mutant, and
    ``hardware_only`` how many of the equivalent ones differ only on hardware
    (``equivalent``: id -> :class:`fuzz.mutation.equivalents.Equivalent`).  Compile-failed
    and unjudged mutants are in neither rate."""
    def tally(key):
        compile_failed = [r for r in results if r.suite["status"] == "compile_failed"]
        judged = [(r, getattr(r, key) or {}) for r in results if r.suite["status"] != "compile_failed"]
        unjudged = [r for r, v in judged if v.get("status") == "error"]
        live = [(r, v) for r, v in judged if v.get("status") != "error"]
        killed = [r for r, v in live if v.get("status") == "killed"]
        equiv = [r for r, v in live if v.get("status") == "survived" and r.mutant.id in equivalent]
        survivors = [r for r, v in live if v.get("status") == "survived" and r.mutant.id not in equivalent]
        scored = len(live) - len(equiv)
        return {"mutants": len(results), "killed": len(killed), "equivalent": len(equiv),
                "hardware_only": sum(equivalent[r.mutant.id].hardware_only for r in equiv),
                "compile_failed": len(compile_failed), "survivors": [r.mutant.id for r in survivors],
                "unjudged": [r.mutant.id for r in unjudged], "kill_rate_percent": _rate(len(killed), scored),
                "killed_of_all_percent": _rate(len(killed), len(live))}
    summary = tally("suite")
    if any(r.baseline is not None for r in results):
        summary["baseline"] = tally("baseline")
    return summary


def markdown(results: list[Judged], summary: dict, equivalent: dict, originals: dict, config: dict,
             title: str = "the suite's own FlyDSL kernels", with_source: bool = True) -> str:
    """The report; ``with_source=False`` leaves out every diff and source fragment."""
    lines = [f"# Mutation testing of {title}", ""]
    lines.append(f"Configuration: {json.dumps(config)}")
    lines.append("")
    b = summary.get("baseline")
    lines.append("| check set | mutants | killed | equivalent (of which only hardware could tell) | compile failed "
                 "| survivors | killed of all | killed of non-equivalent |")
    lines.append("|---|---|---|---|---|---|---|---|")
    rows = [("the suite (ci profile: fixtures, boundary cases, Hypothesis; sanitizer, shuffled schedule)", summary)]
    if b:
        fused = ", 16 fused cases" if "gating" in title else ""
        rows.append((f"FlyDSL's test-file shape lists ({len(baseline_cases())} sort cases, per-block{fused})", b))
    for name, t in rows:
        lines.append(f"| {name} | {t['mutants']} | {t['killed']} | {t['equivalent']} ({t['hardware_only']}) | "
                     f"{t['compile_failed']} | {len(t['survivors'])} | {t['killed_of_all_percent']}% | "
                     f"**{t['kill_rate_percent']}%** |")
    lines += ["", "Killed of all: of every judged mutant (compile-failed ones apart). Killed of non-equivalent: "
                  "the equivalent ones left out as well. Only hardware could tell: equivalent mutants that do "
                  "differ on a GPU, in what the interpreter does not model (see `fuzz/mutation/equivalents.py`)."]
    if summary["unjudged"]:
        lines += ["", f"**Not judged** (the checks could not run; neither killed nor survived): "
                      f"{', '.join(summary['unjudged'])}"]
    lines += ["", "## Kills by operator and check", ""]
    table = {}
    for r in results:
        row = table.setdefault(r.mutant.operator, {})
        key = r.suite.get("check") or r.suite["status"]
        row[key] = row.get(key, 0) + 1
    checks = sorted({k for row in table.values() for k in row})
    lines.append("| operator | " + " | ".join(checks) + " |")
    lines.append("|---|" + "---|" * len(checks))
    for op, row in sorted(table.items()):
        lines.append(f"| {op} | " + " | ".join(str(row.get(c, 0)) for c in checks) + " |")
    lines += ["", "## Survivors", ""]
    surv = [r for r in results if r.suite["status"] == "survived"]
    if not surv:
        lines.append("None.")
    for r in surv:
        entry = equivalent.get(r.mutant.id)
        verdict = "NOT KILLED" if entry is None else ("equivalent here, only hardware could tell: " if
                                                      entry.hardware_only else "equivalent: ") + entry.reason
        lines.append(f"### {r.mutant.id} ({verdict})")
        if entry is not None:
            lines.append("Assumes: " + "; ".join(f"{k}: {v}" for k, v in entry.assumes.items()))
            lines.append("")
        if with_source:
            lines += ["```diff", r.mutant.diff(originals[r.mutant.path]).rstrip(), "```", ""]
        else:
            lines += [f"`{r.mutant.function or 'module'}`, line {r.mutant.line}, operator `{r.mutant.operator}`", ""]
    lines += ["", "## Every mutant", "", "| mutant | suite | killed by | case | baseline |", "|---|---|---|---|---|"]
    for r in results:
        base = (r.baseline or {}).get("status", "-")
        lines.append(f"| {r.mutant.id} `{r.mutant.path}:{r.mutant.line}` | {r.suite['status']} | "
                     f"{r.suite.get('check') or '-'} ({r.suite.get('by', '-')}) | {r.suite.get('case', '-')} | {base} |")
    return "\n".join(lines) + "\n"
