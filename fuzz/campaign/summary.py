"""The end-of-run summary of a campaign, as plain text."""
from __future__ import annotations


def print_summary(data: dict, record_path) -> None:
    s = data["stats"]
    print("\n== fuzz run summary ==")
    for name, where in data["executed_on"].items():
        print(f"backend {name}: executed on {where}")
    workers = s.get("workers", 0)
    where = f" of the cluster at {s['cluster']}" if s.get("cluster") else ""
    print(f"{s['cases']} cases in {s['elapsed_s']:.1f} s: {s['cases_per_second']:.2f} cases/s "
          f"on {workers} worker{'s' if workers != 1 else ''}{where} ({s['seconds_in_kernels']:.1f} s inside backends)")
    cases = max(s["cases"], 1)
    judged = s.get("judged", s["cases"])
    print(f"fully judged: {judged} of {s['cases']} cases ({100.0 * judged / cases:.1f}%): outputs compared with "
          f"the golden model, every finding matched or reported")
    if s.get("hostile"):
        hostile = sum(s["hostile"].values())
        policies = ", ".join(f"{k} {v}" for k, v in sorted(s.get("policies", {}).items()))
        safety = sum(1 for key in s["failures"] if "/memory-safety/" in key)
        tolerated = s.get("tolerated", {})
        print(f"hostile ids: {hostile} cases (" + ", ".join(f"{k} {v}" for k, v in sorted(s["hostile"].items()))
              + f"); runs by policy: {policies}; memory-safety failures: {safety} signature(s); "
              f"findings outside the clause tolerated on unchecked runs: {sum(tolerated.values())}"
              + "".join(f"\n  tolerated {site}: {n} run(s)" for site, n in sorted(tolerated.items())))
    for source, n in sorted(s.get("dispatch_sources", {}).items()):
        print(f"declared dispatch of {source.replace(': ', ' from the ', 1)}: {n} case{'s' if n != 1 else ''}")
    if s.get("known"):
        print("known: " + ", ".join(f"{k} {v} case{'s' if v != 1 else ''}"
                                    for k, v in sorted(s["known"].items(), key=lambda kv: -kv[1])))
    if s.get("text_changed"):
        print("known (line text changed; `fuzz replay` and each case summary show both texts): "
              + ", ".join(f"{k} {v} case{'s' if v != 1 else ''}" for k, v in sorted(s["text_changed"].items())))
    if s["by_path"]:
        print("per backend:path: " + ", ".join(f"{k} {v}" for k, v in sorted(s["by_path"].items())))
    if s["by_bucket"]:
        print("per shape bucket: " + ", ".join(f"{k} {v}" for k, v in sorted(s["by_bucket"].items())))
    if s["failures"]:
        print(f"failures by signature ({len(s['failures'])}; {s['failed_cases']} failing cases in all):")
        for key, entry in s["failures"].items():
            print(f"  {key}: {entry.get('count', 0)} case(s), minimal {entry.get('case')}\n"
                  f"    {entry.get('summary')}\n    fixture: {entry.get('fixture')}")
    else:
        print("no failures")
    for w in s["warnings"]:
        print(f"warning: {w}")
    print(f"new failures: {len(data['new_failures'])}; campaign record: {record_path}")
