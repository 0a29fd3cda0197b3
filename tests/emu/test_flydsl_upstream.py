"""Stress test: FlyDSL's own MoE sort (from a FlyDSL checkout) runs unmodified on the interpreter.

Needs ``FLYDSL_ROOT`` naming a FlyDSL source checkout (``kernels/__init__.py``
then merges its ``kernels/`` package); skipped otherwise.  Run without the
sanitizer: FlyDSL's kernel has findings of its own (see FINDINGS.md).
"""
import os

import pytest
import torch

import kernels.emu as emu

pytestmark = [pytest.mark.interpreter,
              pytest.mark.skipif(not os.environ.get("FLYDSL_ROOT"),
                                 reason="FLYDSL_ROOT is not set: no FlyDSL checkout to take the kernel from")]


def reference(ids, T, E, topk, unit):
    out, exp = [], []
    for e in range(E):
        ent = [(s << 24) | t for t in range(T) for s in range(topk) if ids[t, s] == e]
        if ent:
            pad = -(-len(ent) // unit) * unit
            out += ent + [(topk << 24) | T] * (pad - len(ent))
            exp += [e] * (pad // unit)
    return out, exp


@pytest.mark.parametrize("T,E,topk", [(5, 8, 2), (300, 64, 4), (3000, 32, 2)])
def test_flydsl_moe_sorting_all_paths(T, E, topk):
    unit = 32
    g = torch.Generator().manual_seed(T)
    ids = torch.stack([torch.randperm(E, generator=g)[:topk] for _ in range(T)]).to(torch.int32)
    w = torch.rand(T, topk, generator=g)
    pad = T * topk + E * unit
    sids, sw = torch.zeros(pad, dtype=torch.int32), torch.zeros(pad)
    se, nv = torch.zeros(-(-pad // unit), dtype=torch.int32), torch.zeros(2, dtype=torch.int32)
    moe_buf = torch.ones(T * 16)
    with emu.emulate("gfx950", sanitize=False):
        from kernels.moe.moe_sorting_kernel import moe_sorting_flydsl
        moe_sorting_flydsl(ids, w, sids, sw, se, nv, moe_buf, E, unit)
    ref, rexp = reference(ids, T, E, topk, unit)
    assert nv[0].item() == len(ref) and nv[1].item() == T
    assert sids[:len(ref)].tolist() == ref
    assert se[:len(rexp)].tolist() == rexp
    assert (moe_buf == 0).all()
