"""Saved regression fixtures: one small JSON per case (large inputs in a
compressed ``.npz`` beside it), replayed against every backend forever.

See :mod:`regressions.fixtures` for the format, loader and atomic writer.
"""
from .fixtures import FIXTURE_DIR, Fixture, FixtureError, load, load_all, save

__all__ = ["FIXTURE_DIR", "Fixture", "FixtureError", "load", "load_all", "save"]
