"""Heavy jobs on a Dask cluster: ``--scheduler ADDRESS`` of ``fuzz run``, ``fuzz mutate`` and ``fuzz compile``.

* :mod:`.options`      -- the ``--scheduler`` option and opening a session for a command;
* :mod:`.session`      -- connecting, checking and refusing workers, submitting tasks, faults;
* :mod:`.environment`  -- what every worker must share with the submitting machine (checked by every task);
* :mod:`.campaign`     -- campaign chunks as tasks, failures and examples brought back;
* :mod:`.mutants`      -- one task per mutant;
* :mod:`.compile_jobs` -- one task per compile job, in per-target processes on the worker.

Dask (``distributed``) is an optional dependency (the ``cluster`` extra): it
is imported only when ``--scheduler`` is given.
"""
