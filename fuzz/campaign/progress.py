"""Live campaign progress: a rich table on a terminal, plain lines otherwise."""
from __future__ import annotations

import sys
import time

from .stats import CampaignStats


def _workers(stats: CampaignStats) -> str:
    where = f" at {stats.where}" if stats.where else ""
    return f"{stats.workers} worker{'s' if stats.workers != 1 else ''}{where}"


def _status_line(stats: CampaignStats, budget: str) -> str:
    hostile = sum(stats.hostile.values())
    return (f"{stats.elapsed:7.1f}s/{budget}  {stats.cases} cases  {stats.cases_per_second:.2f} cases/s "
            f"on {_workers(stats)}  "
            f"judged {stats.judged}  " + (f"hostile {hostile}  " if hostile else "") +
            f"known findings seen {len(stats.known_counts)}  "
            f"failures: {len(stats.failures)} new, {stats.failed_cases} failing cases")


class PlainProgress:
    """One status line every ``interval`` seconds, plus a line per new failure."""

    def __init__(self, stats: CampaignStats, budget: str, interval: float = 5.0, stream=sys.stdout):
        self.stats, self.budget, self.interval, self.stream = stats, budget, interval, stream
        self.last = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def event(self, event: dict) -> None:
        if event["type"] == "failure":
            print(f"FAILURE {event['signature']}: {event['summary']}\n  fixture: {event['fixture']}",
                  file=self.stream, flush=True)
        elif event["type"] == "warning":
            print(f"warning: {event['message']}", file=self.stream, flush=True)
        now = time.time()
        if now - self.last >= self.interval:
            self.last = now
            print(_status_line(self.stats, self.budget), file=self.stream, flush=True)


class RichProgress(PlainProgress):
    """A live-updating table of throughput, paths, shape buckets and failures."""

    def __enter__(self):
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        self.live.update(self._render())
        return self.live.__exit__(*exc)

    def _render(self):
        from rich.table import Table

        table = Table(title=_status_line(self.stats, self.budget), show_header=True)
        table.add_column("backend:path")
        table.add_column("cases", justify="right")
        table.add_column("shape bucket")
        table.add_column("cases", justify="right")
        paths = self.stats.by_path.most_common(12)
        buckets = self.stats.by_bucket.most_common(12)
        for i in range(max(len(paths), len(buckets))):
            p = paths[i] if i < len(paths) else ("", "")
            b = buckets[i] if i < len(buckets) else ("", "")
            table.add_row(p[0], str(p[1]), b[0], str(b[1]))
        for key, count in self.stats.known_counts.most_common():
            table.add_row(f"[yellow]known {key}", str(count), "", "")
        for key, entry in self.stats.failures.items():
            table.add_row(f"[red]FAIL {key}", "", entry.get("case", ""), "")
        return table

    def event(self, event: dict) -> None:
        if event["type"] == "failure":
            self.console.print(f"[red]FAILURE[/red] {event['signature']}: {event['summary']}\n"
                               f"  fixture: {event['fixture']}")
        elif event["type"] == "warning":
            self.console.print(f"[yellow]warning[/yellow]: {event['message']}")
        now = time.time()
        if now - self.last >= 0.25:
            self.last = now
            self.live.update(self._render())


def make_progress(stats: CampaignStats, budget: str, plain: bool = False):
    if plain or not sys.stdout.isatty():
        return PlainProgress(stats, budget)
    return RichProgress(stats, budget)
