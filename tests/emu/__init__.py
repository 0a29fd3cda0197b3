"""Tests of the CPU interpreter (kernels.emu)."""
