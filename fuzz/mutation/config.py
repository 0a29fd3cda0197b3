"""What ``fuzz mutate`` mutates: the suite's own kernel files or FlyDSL's, and what each implements.

``OWN_SOURCES`` maps each of the suite's kernel files (repo-relative) to its
``token_names`` for the ``sentinel_t`` operator ({M name: T expression}, see
:mod:`fuzz.mutation.operators`); ``UPSTREAM_SOURCES`` names FlyDSL's kernels in
the checkout at ``FLYDSL_ROOT`` (``--upstream``): the sort kernel file (with the
fused entry and its fused oneshot kernel) and the top-k gating kernel file;
``ROUTER_BACKENDS`` the backends that take logits with which a mutant of them is
also judged; ``PATHS_OF`` the kernel paths a file implements, to which its
mutants' suite cases are restricted; ``RUN_BY`` which of a run's backends
launch each upstream file's code, to whose cases its mutants' suite cases are
restricted.
"""
from __future__ import annotations

#: The suite's own kernel files and, per file, the expression for T that the
#: ``sentinel_t`` operator puts in place of M.
OWN_SOURCES = {
    "kernels/moesort/small.py": {"m": "(n_in // i32(topk))"},
    "kernels/moesort/multi.py": {"m": "(n_in // i32(topk))"},
    "kernels/moesort/dsl.py": {},
}
#: FlyDSL's own kernels, in the checkout named by FLYDSL_ROOT (``--upstream``): the sort
#: kernel file (first: the sort's checks) and the top-k gating kernel the fused entry uses.
UPSTREAM_SOURCE = "flydsl:kernels/moe/moe_sorting_kernel.py"
UPSTREAM_GATING_SOURCE = "flydsl:kernels/moe/topk_gating_softmax_kernel.py"
UPSTREAM_SOURCES = (UPSTREAM_SOURCE, UPSTREAM_GATING_SOURCE)
#: The sort backend of a mutation run -> (fused entry backend, gating backend) that run
#: the router's logits checks too (:mod:`fuzz.mutation.router_cases`).
ROUTER_BACKENDS = {
    "flydsl-upstream-sanitized": ("flydsl-upstream-fused-sanitized", "flydsl-upstream-gating-sanitized"),
    "flydsl-upstream": ("flydsl-upstream-fused", "flydsl-upstream-gating"),
}
#: Which backends of an upstream run launch each file's code: ``sort`` (the run's backend,
#: ``moe_sorting_flydsl``), ``fused`` and ``gating`` (its :data:`ROUTER_BACKENDS`).  The sort
#: entry never calls the gating file's functions (the sort file imports only the two the fused
#: kernel uses), and the gating kernel imports nothing of the sort file: a mutant of one file
#: cannot change what the other file's backend computes.  Files not listed: every backend.
RUN_BY = {UPSTREAM_SOURCE: ("sort", "fused"), UPSTREAM_GATING_SOURCE: ("fused", "gating")}
#: The kernel paths each file implements: the suite's cases for its mutants
#: are restricted to those (files not listed are used by every path).
PATHS_OF = {"kernels/moesort/small.py": ("small",), "kernels/moesort/multi.py": ("medium", "large")}


def paths_of(path: str) -> tuple:
    """The kernel paths the file ``path`` implements (empty: every path)."""
    return PATHS_OF.get(path, ())


def run_by(path: str) -> tuple:
    """The roles (``sort``, ``fused``, ``gating``) of the backends that run the file ``path``
    (empty: every backend)."""
    return RUN_BY.get(path, ())
