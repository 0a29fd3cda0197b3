"""Test-only backends, each with planted defects, to prove the suite finds them.

They live with the tests and are never listed to users: the test
configuration (``conftest.py``) names :data:`MODULES` in
``MOESORT_BACKEND_MODULES``, which :mod:`kernels.registry` reads, and every
``python -m fuzz`` a test starts inherits it.

* :mod:`.planted`          -- ``planted-sentinel-t``, ``planted-block-expert``: wrong outputs on one path;
* :mod:`.planted_findings` -- ``planted-findings``: a FlyDSL kernel with a benign read and an LDS race;
* :mod:`.planted_hostile`  -- ``planted-minus-one``: writes past the end for id -1 (``unchecked``);
* :mod:`.planted_capture`  -- ``planted-baked-m``, ``planted-host-read-m``: not capture-safe;
* :mod:`.planted_router`   -- ``planted-router-high-tie``: a router whose ties go to the higher id.
"""

MODULES = ("tests.backends.planted", "tests.backends.planted_findings", "tests.backends.planted_hostile",
           "tests.backends.planted_capture", "tests.backends.planted_router")
