"""Campaign statistics: aggregated from worker events, printed and saved.

:class:`CampaignStats` consumes the events of :mod:`fuzz.campaign` and keeps
counts per backend, path and shape bucket, the (E, T) cells covered per path
(for the report's heat map), how many cases were fully judged (outputs
compared with the golden model), the known findings seen (cases per entry),
the failures by signature, the cases with invalid ids (by kind and by the
policy they ran under, and how many findings outside the robustness clause
``unchecked`` runs tolerated), the timing, and the number of workers searching
(``{"type": "workers", "count", "where"}`` events: local processes, or the
accepted workers of a cluster at ``where``).
``to_dict()`` is what ``campaign.json`` holds; ``merge`` lets a resumed
campaign add to an earlier file.
"""
from __future__ import annotations

import collections
import time


class CampaignStats:
    def __init__(self):
        self.started = time.time()
        self.cases = 0
        self.judged = 0
        self.failed_cases = 0
        self.known_counts = collections.Counter()  # known-finding id -> cases it was seen in
        self.seconds_in_kernels = 0.0
        self.by_backend = collections.Counter()
        self.by_path = collections.Counter()
        self.by_bucket = collections.Counter()
        self.cells = collections.Counter()  # "path|E|T" -> count
        self.failures = {}  # signature -> {"count", "case", "summary", "fixture"}
        self.duplicates = collections.Counter()
        self.boundaries = collections.Counter()  # "E257-k9-u32@2048-1" -> count
        self.warnings = []
        self.workers = 0
        self.where = None  # the scheduler's address when the workers are a cluster's
        self.hostile = collections.Counter()    # hostile-ids kind -> cases
        self.policies = collections.Counter()   # invalid-ids policy of the run -> cases
        self.tolerated = collections.Counter()  # "<check>@<chain>" -> unchecked runs that tolerated it
        self.dispatch_sources = collections.Counter()  # "<backend>: <where its declared dispatch came from>"
        self.text_changed = collections.Counter()  # known-finding id -> cases it matched with its line text changed
        self.previous_elapsed = 0.0
        self.previous_cases = 0
        self.previous_judged = 0

    @property
    def elapsed(self) -> float:
        return time.time() - self.started

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.elapsed if self.elapsed > 0 else 0.0

    def consume(self, event: dict) -> None:
        kind = event["type"]
        if kind == "case":
            self.cases += 1
            self.seconds_in_kernels += event["seconds"]
            backend = event["backend"] + (f"@{event['target']}" if event.get("target") else "")
            path = event.get("path") or "-"
            self.by_backend[backend] += 1
            self.by_path[f"{backend}:{path}"] += 1
            self.by_bucket[event["bucket"]] += 1
            self.cells[f"{path}|{event['experts']}|{event['tokens']}"] += 1
            if event.get("boundary"):
                self.boundaries[event["boundary"]] += 1
            self.judged += bool(event.get("judged", True))
            if event.get("hostile"):
                self.hostile[event["hostile"]] += 1
            self.policies[event.get("invalid_ids", "reject")] += 1
            self.tolerated.update(event.get("tolerated", ()))
            self.known_counts.update(event.get("known", ()))
            self.text_changed.update(event.get("text_changed", ()))
            if event.get("dispatch_source"):
                self.dispatch_sources[f"{event['backend']}: {event['dispatch_source']}"] += 1
            if not event["ok"]:
                self.failed_cases += 1
                self.duplicates[event["signature"]] += 1
        elif kind == "failure":
            entry = self.failures.setdefault(event["signature"], {"count": 0})
            entry.update(case=event["case"], summary=event["summary"], fixture=event["fixture"])
        elif kind == "warning":
            self.warnings.append(event["message"])
        elif kind == "workers":
            self.workers, self.where = event["count"], event.get("where")

    def to_dict(self) -> dict:
        for key, entry in self.failures.items():
            entry["count"] = self.duplicates.get(key, 0)
        return {
            "cases": self.cases + self.previous_cases,
            "judged": self.judged + self.previous_judged,
            "known": dict(self.known_counts),
            "elapsed_s": round(self.elapsed + self.previous_elapsed, 3),
            "cases_per_second": round(self.cases_per_second, 3),
            "seconds_in_kernels": round(self.seconds_in_kernels, 3),
            "workers": self.workers,
            "cluster": self.where,
            "failed_cases": self.failed_cases,
            "by_backend": dict(self.by_backend),
            "by_path": dict(self.by_path),
            "by_bucket": dict(self.by_bucket),
            "cells": dict(self.cells),
            "boundaries": dict(self.boundaries),
            "failures": self.failures,
            "warnings": self.warnings,
            "hostile": dict(self.hostile),
            "policies": dict(self.policies),
            "tolerated": dict(self.tolerated),
            "dispatch_sources": dict(self.dispatch_sources),
            "text_changed": dict(self.text_changed),
        }

    def merge(self, previous: dict) -> None:
        """Add an earlier run's counts (a resumed campaign)."""
        self.previous_cases = previous.get("cases", 0)
        self.previous_judged = previous.get("judged", self.previous_cases)
        self.previous_elapsed = previous.get("elapsed_s", 0.0)
        for name in ("by_backend", "by_path", "by_bucket", "cells", "boundaries", "known", "hostile", "policies",
                     "tolerated", "dispatch_sources", "text_changed"):
            getattr(self, name).update(previous.get(name, {}))
        for key, entry in previous.get("failures", {}).items():
            self.failures.setdefault(key, dict(entry))
