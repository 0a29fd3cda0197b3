"""Judge FlyDSL's MoE sort of an old revision in a process of its own.

    FLYDSL_ROOT=<old checkout> python -m tests.emu.vintage_judge E TOPK T [--successor-root HEAD]

The old revision's kernel file is ``kernels/moe/moe_sorting_kernel.py`` as at
HEAD, so it needs its own process with ``FLYDSL_ROOT`` naming its checkout.
Its missing ``flydsl.expr`` modules come from :mod:`kernels.backends.flydsl_vintage`
(``buffer_ops`` from the newer checkout ``--successor-root`` names).  The case
``Case(E, TOPK, T, seed=T)`` runs on the ``flydsl-upstream-sanitized`` backend
and :func:`fuzz.judge.judge_inputs` judges it: outputs against the golden
model, every finding against ``regressions/known_findings.toml``.  Prints one
JSON object: the judgement's summary, whether the outputs matched, the known
finding ids matched, and each finding no entry matches (its description and
innermost call-chain frame).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("E", type=int)
    ap.add_argument("topk", type=int)
    ap.add_argument("T", type=int)
    ap.add_argument("--successor-root", required=True, help="a newer FlyDSL checkout (its buffer_ops)")
    ap.add_argument("--target", default="gfx950")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from kernels.backends.flydsl_vintage import provide_expr_modules
    provide_expr_modules(os.environ["FLYDSL_ROOT"], successors={
        "buffer_ops": str(Path(args.successor_root) / "kernels" / "common" / "buffer_ops.py")})
    from cases import Case
    from fuzz.judge import case_kwargs, judge_inputs

    j = judge_inputs("flydsl-upstream-sanitized", case_kwargs(Case(args.E, args.topk, args.T, seed=args.T)),
                     args.target)
    print(json.dumps({
        "summary": j.summary,
        "outputs_ok": j.verdict is not None and not j.unexplained and j.crash is None,
        "known": j.known_counts,
        "new": [{"check": f.check, "kernel": f.kernel, "op": f.op, "text": f.describe(),
                 "frame": [f.frames[0].file, f.frames[0].line, f.frames[0].text] if f.frames else None}
                for f in j.new],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
