"""The ``--scheduler ADDRESS`` option shared by ``fuzz run``, ``fuzz mutate`` and ``fuzz compile``.

Importing this module imports no part of Dask: without ``--scheduler`` a
command runs locally and Dask need not be installed.
"""
from __future__ import annotations

import sys
from typing import Optional

from .environment import describe


def add_scheduler_argument(parser, what: str) -> None:
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help=f"{what}, e.g. tcp://10.0.0.5:8786 (needs the 'cluster' extra: "
                             "pip install 'moesort-verify[cluster]'); default: run here")


def open_cluster(address: Optional[str], checkout: bool = False, fixtures: bool = False):
    """A :class:`~fuzz.cluster.session.ClusterSession` on ``address`` (None: None, a local run).

    Every worker must match this machine's :func:`~fuzz.cluster.environment.describe`
    (with the FlyDSL checkout's digest when ``checkout``, the fixtures' when ``fixtures``).
    Raises :class:`~fuzz.cluster.session.ClusterUnavailable` (a usage error) when the
    run cannot start there."""
    if address is None:
        return None
    from .session import connect

    def warn(message: str) -> None:
        print(f"fuzz: warning: {message}", file=sys.stderr, flush=True)

    session = connect(address, describe(checkout=checkout, fixtures=fixtures), warn=warn)
    print(f"fuzz: cluster: {session.describe_workers()}", file=sys.stderr, flush=True)
    return session
