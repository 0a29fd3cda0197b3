"""The compile check: every FlyDSL kernel built for gfx942/gfx950 on the CPU must fit its target.

Pipeline, one module per step:

* :mod:`.toolchain`  -- find (or arrange) the ROCm bitcode and ``ld.lld`` FlyDSL needs;
* :mod:`.providers`  -- per backend, the jobs to build and how to build them;
* :mod:`.jobs`       -- :class:`CompileJob` and the placeholders of a compile-only launch;
* :mod:`.worker`     -- run a provider compile-only in a process fixed to one target,
  keep the code objects;
* :mod:`.codeobject` -- read registers, LDS, scratch and the kernel descriptor from a code object;
* :mod:`.occupancy`  -- judge those against the target (:mod:`kernels.targets`);
* :mod:`.rows`       -- one judged :class:`Row` per GPU kernel;
* :mod:`.matrix`     -- run every job in per-target process pools (:func:`run_matrix`);
* :mod:`.report`     -- the CSV / Markdown reports and the printed table.

``python -m fuzz compile`` is the command; ``README.md`` beside this file the details.
"""
from .jobs import CompileJob, path_representatives, placeholders
from .matrix import run_jobs, run_matrix, save_binaries
from .providers import PROVIDERS, available_backends, compile_jobs, provider_module
from .report import markdown, render_table, summary, write_reports
from .rows import Row, rows_from_outcome, sort_rows

__all__ = [
    "PROVIDERS", "CompileJob", "Row", "available_backends", "compile_jobs", "markdown", "path_representatives",
    "placeholders", "provider_module", "render_table", "rows_from_outcome", "run_jobs", "run_matrix",
    "save_binaries", "sort_rows", "summary", "write_reports",
]
