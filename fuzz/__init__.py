"""Hypothesis strategies, fuzz campaigns, mutation testing and the ``fuzz`` command line."""
