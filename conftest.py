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
