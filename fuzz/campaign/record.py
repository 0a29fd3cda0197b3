"""``campaign.json`` kept as the run goes: written at start, refreshed, never half-written.

:class:`RunningRecord` writes the record atomically (a temporary file renamed
over it) when the campaign starts, then again whenever :data:`REFRESH_S`
seconds have passed since the last write or a new failure signature arrives,
and once more at the end.  Every write before the last carries
``stopped_early`` (the run had not finished when it was written) and
``refreshed_at``: a campaign killed outright (SIGKILL, the OOM killer)
leaves a record of everything judged up to its last refresh, which ``fuzz
report`` reads like any other.  The final write, by :meth:`finish`, drops the
mark unless the run did stop early (say, its cluster went away).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

#: Seconds between two refreshes of a running campaign's record.
REFRESH_S = 5.0
RUNNING = "the run had not finished when this record was written (refreshed every {:g} s while it runs)"


def write_atomically(path: Path, data: dict) -> None:
    """``path`` holds ``data`` as JSON, whole, or keeps what it held before."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(path)


class RunningRecord:
    """The record at ``path``; ``build()`` returns its current contents (config, stats...)."""

    def __init__(self, path: Path, build: Callable[[], dict], refresh_s: float = REFRESH_S):
        self.path, self.build, self.refresh_s = Path(path), build, refresh_s
        self.last = 0.0
        self.failures = 0

    def _write(self, stopped_early: Optional[str]) -> dict:
        data = self.build()
        if stopped_early:
            data["stopped_early"] = stopped_early
        data["refreshed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write_atomically(self.path, data)
        self.last = time.monotonic()
        return data

    def start(self) -> None:
        self._write(RUNNING.format(self.refresh_s))

    def event(self, event: dict) -> None:
        """After each campaign event: refresh when it is a new failure or the refresh is due."""
        new_failure = event.get("type") == "failure"
        if new_failure or time.monotonic() - self.last >= self.refresh_s:
            self._write(RUNNING.format(self.refresh_s))

    def finish(self, stopped_early: Optional[str] = None) -> dict:
        """The final record (``stopped_early`` only when given); returns what was written."""
        return self._write(stopped_early)
