"""Suite-wide pytest configuration.

- ``--backend NAME`` (repeatable): the backends that backend-parametrized
  tests run against; default: every declared backend, the unavailable ones
  reported as skipped with their reason.
- Hypothesis profiles ``ci`` (the default when ``CI`` is set), ``dev`` (the
  default otherwise) and ``overnight``; pick one with Hypothesis's own
  ``--hypothesis-profile NAME``.
- Markers: ``large`` (T >= 65536), ``interpreter``, ``compile``.
- Any test that takes a ``backend_name`` argument is parametrized over the
  selected backends that take top-k ids; one that takes ``logits_backend_name``
  over those that take router logits.
- The test-only backends of ``tests/backends`` are registered here, through
  ``MOESORT_BACKEND_MODULES`` (:mod:`kernels.registry`), which every
  ``python -m fuzz`` a test starts inherits; users never see them.
- The terminal summary says where the declared dispatch of every judged
  launch came from (``fuzz.dispatch.SOURCES_SEEN``: the checkout's own, or a
  fallback and why), gathered from every xdist worker.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=30, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("dev", max_examples=100, print_blob=True, **_COMMON)
settings.register_profile("overnight", max_examples=20000, print_blob=True, **_COMMON)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _register_test_backends() -> None:
    from kernels.registry import EXTRA_MODULES_ENV
    from tests.backends import MODULES

    listed = [m for m in os.environ.get(EXTRA_MODULES_ENV, "").split(",") if m]
    os.environ[EXTRA_MODULES_ENV] = ",".join(listed + [m for m in MODULES if m not in listed])


_register_test_backends()


def pytest_addoption(parser):
    parser.addoption(
        "--backend", action="append", default=[], metavar="NAME",
        help="backend(s) to test (repeatable); default: every declared backend",
    )


def selected_backends(config) -> list[str]:
    from kernels import all_backends as backends

    names = config.getoption("--backend") or [n for n, b in backends().items() if not b.test_only]
    unknown = sorted(set(names) - set(backends()))
    if unknown:
        raise pytest.UsageError(f"--backend {unknown[0]!r} is not declared; known: {sorted(backends())}")
    return names


def pytest_generate_tests(metafunc):
    from kernels import all_backends, available

    for argument, takes in (("backend_name", "ids"), ("logits_backend_name", "logits")):
        if argument not in metafunc.fixturenames:
            continue
        status = available()
        params = []
        for name in selected_backends(metafunc.config):
            if all_backends()[name].takes != takes:
                continue
            marks = [pytest.mark.skip(reason=f"backend {name} unavailable: {status[name]}")] if status[name] else []
            params.append(pytest.param(name, marks=marks, id=name))
        metafunc.parametrize(argument, params)


@pytest.fixture(autouse=True)
def _record_dispatch_sources(request):
    """Attach the dispatch sources the test's judged launches used to its report."""
    import sys

    dispatch = sys.modules.get("fuzz.dispatch")
    before = dict(dispatch.SOURCES_SEEN) if dispatch else {}
    yield
    dispatch = sys.modules.get("fuzz.dispatch")
    if dispatch is not None:
        grown = {k: v - before.get(k, 0) for k, v in dispatch.SOURCES_SEEN.items() if v > before.get(k, 0)}
        if grown:
            request.node.user_properties.append(("dispatch_sources", grown))


def pytest_terminal_summary(terminalreporter):
    import collections

    seen = collections.Counter()
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) == "teardown":
                for name, value in getattr(report, "user_properties", ()):
                    if name == "dispatch_sources":
                        seen.update(value)
    if seen:
        terminalreporter.section("declared dispatch")
        for source, n in sorted(seen.items()):
            backend, _, where = source.partition(": ")
            terminalreporter.write_line(f"{backend}: from the {where} ({n} judged launch{'es' if n != 1 else ''})")
