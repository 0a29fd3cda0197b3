"""A campaign report a person reads in a minute: Markdown plus a PNG heat map.

``write_report(campaign_dir)`` reads ``campaign.json`` and writes
``report.md`` and ``coverage.png`` (cases per (E bucket, T bucket) cell, one
panel per kernel path) beside it.
"""
from __future__ import annotations

import collections
import json
import re
from pathlib import Path

from cases import PRODUCTION_SHAPES

from .buckets import EXPERT_EDGES, TOKEN_EDGES, expert_bucket, token_bucket


def _table(header, rows) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _cells_by_path(cells: dict) -> dict:
    grid = collections.defaultdict(collections.Counter)
    for key, count in cells.items():
        path, E, T = key.split("|")
        grid[path][(expert_bucket(int(E)), token_bucket(int(T)))] += count
    return grid


def heat_map(cells: dict, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    grid = _cells_by_path(cells)
    paths = sorted(grid) or ["-"]
    e_labels = [expert_bucket(e) for e in EXPERT_EDGES[:-1]]
    t_labels = [token_bucket(t) for t in TOKEN_EDGES[:-1]]
    fig, axes = plt.subplots(1, len(paths), figsize=(4.5 * len(paths), 4), squeeze=False)
    for ax, path in zip(axes[0], paths):
        data = np.array([[grid[path][(e, t)] for e in e_labels] for t in t_labels], dtype=float)
        im = ax.imshow(np.log10(1 + data), origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(e_labels)), e_labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(t_labels)), t_labels, fontsize=7)
        for (y, x), v in np.ndenumerate(data):
            if v:
                ax.text(x, y, int(v), ha="center", va="center", fontsize=6, color="w")
        ax.set_title(f"path: {path}")
        fig.colorbar(im, ax=ax, label="log10(1 + cases)")
    fig.suptitle("cases per (E, T) cell")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def _entry_absence(entry, fuzzed: set) -> str | None:
    """Why ``entry``'s code is absent from the sources of the fuzzed backends it names,
    as they are now (``regressions.known_findings.absence``); None when present."""
    from kernels.registry import all_backends
    from regressions import known_findings

    backends = all_backends()
    roots = [r for b in sorted(fuzzed & set(entry.backends)) if b in backends for r in backends[b].sources()]
    return known_findings.absence(entry, roots)


def _known_findings_section(s: dict, cfg: dict) -> list[str]:
    """Known findings seen (cases each), the entries for the fuzzed backends whose code
    the checkout no longer has (absent in this revision), and those no case matched:
    stale, perhaps fixed upstream, or not reached by this campaign."""
    from regressions import known_findings

    known_list = known_findings.cached(cfg.get("known_findings"))
    fuzzed = {pair[0] for pair in cfg.get("pairs", [])}
    seen = s.get("known", {})
    cases = max(s["cases"], 1)
    judged = s.get("judged", s["cases"])
    out = [f"{judged} of {s['cases']} cases ({100.0 * judged / cases:.1f}%) fully judged: outputs compared with "
           f"the golden model, every finding matched by an entry or reported as a failure.", ""]
    rows = [(k, known_list.by_id(k).status if any(e.id == k for e in known_list.entries) else "?", v)
            for k, v in sorted(seen.items(), key=lambda kv: -kv[1])]
    out += _table(["known finding", "status", "cases"], rows) if rows else ["No known finding was seen."]
    unseen = [e for e in known_list.entries if fuzzed & set(e.backends) and e.id not in seen]
    absent = [(e, why) for e in unseen for why in [_entry_absence(e, fuzzed)] if why]
    stale = [e for e in unseen if e.id not in {a.id for a, _ in absent}]
    out += ["", "Entries absent in this revision (their code is gone from the checkout; not a failure):", ""]
    out += _table(["entry", "status", "why"], [(e.id, e.status, why) for e, why in absent]) if absent else ["None."]
    out += ["", "Entries for the fuzzed backends that no case matched (stale (fixed?): perhaps fixed upstream, "
                "or outside what this campaign drew):", ""]
    out += _table(["entry", "status", "fixture"], [(e.id, e.status, e.fixture) for e in stale]) if stale else ["None."]
    return out


def _hostile_section(s: dict) -> list[str]:
    """Cases with invalid ids by kind and by the policy their runs took, and the
    memory-safety signatures (CONTRACT.md, "Robustness")."""
    safety = [k for k in s["failures"] if "/memory-safety/" in k]
    out = [f"{sum(s['hostile'].values())} case(s) planted invalid ids; runs by policy: "
           + ", ".join(f"{k} {v}" for k, v in sorted(s.get("policies", {}).items()))
           + "; findings outside the robustness clause tolerated on unchecked runs: "
           + f"{sum(s.get('tolerated', {}).values())}.", ""]
    out += _table(["kind", "cases"], sorted(s["hostile"].items()))
    if s.get("tolerated"):
        out += [""] + _table(["tolerated finding (check@site)", "runs"], sorted(s["tolerated"].items()))
    out += ["", f"Memory-safety failure signatures: {len(safety)}" + (": " + ", ".join(f"`{k}`" for k in safety)
                                                                    if safety else ".")]
    return out


def write_report(campaign_dir) -> Path:
    campaign_dir = Path(campaign_dir)
    data = json.loads((campaign_dir / "campaign.json").read_text())
    s, cfg = data["stats"], data["config"]
    lines = [f"# Fuzz campaign report: {campaign_dir.name}", ""]
    lines.append(f"**{s['cases']} cases in {s['elapsed_s']:.0f} s: {s['cases_per_second']:.2f} cases/s**; "
                 f"{len(s['failures'])} failure signature(s), {s['failed_cases']} failing case(s); "
                 f"seed {cfg['seed']}, {cfg['workers']} worker(s)"
                 + (f" of the cluster at {cfg['scheduler']}" if cfg.get("scheduler") else "")
                 + f", T <= {cfg['max_tokens']}.")
    if data.get("stopped_early"):
        lines.append("")
        lines.append(f"**Stopped early**: {data['stopped_early']} (last written {data.get('refreshed_at', '?')}); "
                     "the counts are those of that moment.")
    lines.append("")
    lines += _table(["backend", "executed on"], sorted(data["executed_on"].items()))
    lines += ["", "## Failures by signature", ""]
    if s["failures"]:
        lines += _table(["signature", "cases", "minimal case", "summary", "fixture"],
                        [(k, e.get("count", 0), e.get("case"), e.get("summary", "").replace("|", "\\|"),
                          e.get("fixture")) for k, e in s["failures"].items()])
    else:
        lines.append("None.")
    if s.get("hostile"):
        lines += ["", "## Invalid expert ids", ""] + _hostile_section(s)
    lines += ["", "## Known findings", ""]
    lines += _known_findings_section(s, cfg)
    lines += ["", "## Cases per backend and path", ""]
    lines += _table(["backend:path", "cases"], sorted(s["by_path"].items()))
    lines += ["", "## Cases per shape bucket (all paths)", ""]
    e_labels = [expert_bucket(e) for e in EXPERT_EDGES[:-1]]
    t_labels = [token_bucket(t) for t in TOKEN_EDGES[:-1]]
    lines += _table(["E \\ T"] + t_labels,
                    [[e] + [s["by_bucket"].get(f"{e}/{t}", 0) for t in t_labels] for e in e_labels])
    lines += ["", "## Path-boundary coverage", ""]
    if s.get("boundaries"):
        per_boundary = collections.defaultdict(dict)
        for key, count in s["boundaries"].items():
            shape, at = key.split("@")
            base, offset = re.fullmatch(r"(\d+)([+-]1)?", at).groups()
            per_boundary[(shape, int(base))][offset or "0"] = count
        production = {f"E{p.num_experts}-k{p.topk}-u{p.unit_size}" for p in PRODUCTION_SHAPES}
        rows = [(shape, b, d.get("-1", 0), d.get("0", 0), d.get("+1", 0))
                for (shape, b), d in sorted(per_boundary.items()) if shape in production]
        lines.append("Production shapes: cases at T = boundary - 1, boundary, boundary + 1.")
        lines.append("")
        lines += _table(["shape", "boundary T", "T-1", "T", "T+1"], rows) if rows else ["None."]
        others = {shape for shape, _ in per_boundary} - production
        hits = sum(sum(d.values()) for (shape, _), d in per_boundary.items() if shape in others)
        lines += ["", f"Other shapes: {hits} case(s) within one of a boundary, over {len(others)} shape(s)."]
    else:
        lines.append("No case landed within one of a kernel path boundary.")
    heat_map(s["cells"], campaign_dir / "coverage.png")
    lines += ["", "## Coverage heat map", "", "![cases per (E, T) cell and path](coverage.png)"]
    if s["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in s["warnings"]]
    report = campaign_dir / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
