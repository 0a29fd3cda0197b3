"""Cases, Hypothesis strategies, campaigns and the ``fuzz`` command line."""
