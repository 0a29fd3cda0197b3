"""Fuzz campaigns: Hypothesis-driven workers that run cases on backends, shrink and save failures.

* :mod:`.worker`    -- one campaign worker (chunks of Hypothesis examples, shared failures);
* :mod:`.check`     -- one case on one backend, judged against the golden model;
* :mod:`.signature` -- what makes two failures the same;
* :mod:`.database`  -- the example database (local directory, plus Redis when configured);
* :mod:`.buckets`   -- shape buckets of the coverage statistics;
* :mod:`.stats` / :mod:`.progress` / :mod:`.summary` -- counting, live display, end-of-run summary;
* :mod:`.record`    -- ``campaign.json`` written at start and kept current as the run goes;
* :mod:`.report`    -- the Markdown report and heat map of a campaign record;
* :mod:`.budget`    -- parsing a time budget (``30s``, ``1h30m``).
"""
