"""What global memory and LDS share as hosts of the checkers: one reporter for all of them."""
from __future__ import annotations


class CheckedMemory:
    """A memory whose checkers (``bounds``, ``uninit``, ``race``; None where not installed)
    report through the memory's ``report``: setting it hands the launch's Reporter to each."""

    bounds = uninit = race = None

    @property
    def report(self):
        """The launch's Reporter (set by the executor); the checkers report through it."""
        return self._report

    @report.setter
    def report(self, reporter) -> None:
        self._report = reporter
        for c in (self.bounds, self.uninit, self.race):
            if c is not None:
                c.report = reporter
