"""FlyDSL revisions judged by the same gate: the revision matrix and bisection.

* :mod:`.spec`     -- what a revision argument says (``REV``, ``REV+fixes``, ``REV+<entry-id>``);
* :mod:`.git`      -- resolving revisions of a FlyDSL repository, worktrees, files at a revision;
* :mod:`.prepare`  -- a revision's tree ready for the gate (worktree, fixes, successor modules);
* :mod:`.gate`     -- the gate, run in a fresh process with ``FLYDSL_ROOT`` at the revision's tree;
* :mod:`.runner`   -- running the gate's process and turning its answer into a row;
* :mod:`.table`    -- the rows as a terminal table, Markdown and JSON;
* :mod:`.verdict`  -- one fixture's verdict on the checkout (good / bad / skip, as ``git bisect run`` reads it);
* :mod:`.bisect`   -- ``git bisect run`` over a repository with that verdict as the test.
"""
