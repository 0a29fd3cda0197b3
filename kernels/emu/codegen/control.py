"""Structured control flow (``scf``) under lane masks, and region terminators.

Divergence: ``scf.if`` with a lane-array condition runs the then-region
under ``m & c`` and the else-region under ``m & ~c`` (each only if some lane
takes it) and merges results per lane; a condition uniform over the active
lanes runs one region.  ``scf.for`` with bounds uniform over the active lanes
is a Python ``range`` loop; otherwise each lane iterates until its own bound
(masked).  ``scf.while`` retires lanes as their condition turns false.
``scf.index_switch`` needs a selector uniform over the active lanes.
"""
from __future__ import annotations

from .emitter import held_as_tuple, rank
from .table import handles


def _operands(g, term):
    return [g.value(x) for x in (term.operands if term else [])]


@handles("scf.yield", "scf.condition", "gpu.return", "func.return", kind="terminator", uniformity="effect")
def terminator(g, op, m):
    """Ends a region; the enclosing op reads its operands."""


@handles("scf.if", uniformity="control")
def scf_if(g, op, m):
    """Two-way branch, per lane when the condition differs between active lanes."""
    k = op.idx
    c = g.arg(op, 0)
    then_b = op.regions[0]
    else_b = op.regions[1] if len(op.regions) > 1 and op.regions[1].ops else None
    res = [g.value(r) for r in op.results]
    mt, me = f"mt{k}", f"me{k}"
    g.emit(f"if _nd({c}) == 0:")
    g.emit(f"    _k{k} = 1 if {c} else 2; {mt} = {me} = {m}")
    g.emit("else:")
    g.emit(f"    {mt} = {m} & {c}; {me} = {m} & ~{c}")
    g.emit(f"    _k{k} = (1 if {mt}.any() else 0) | (2 if {me}.any() else 0)")
    tv = [f"t{k}_{i}" for i in range(len(res))]
    ev = [f"e{k}_{i}" for i in range(len(res))]
    for bit, region, mask, names in ((1, then_b, mt, tv), (2, else_b, me, ev)):
        if region is None:
            continue
        g.emit(f"if _k{k} & {bit}:")
        g.depth += 1
        g.assign(names, _operands(g, g.block(region, mask)))
        g.emit("pass")
        g.depth -= 1
    if not res:
        return
    if else_b is None:
        g.unsupported(op, "scf.if with results but no else region")
    g.emit(f"if _k{k} == 3:")
    for i, r in enumerate(res):
        t = op.result_types[i]
        if held_as_tuple(t):
            g.emit(f"    {r} = rt.merge_any({c}, {tv[i]}, {ev[i]})")
        else:
            g.emit(f"    {r} = rt.merge({c}, {tv[i]}, {ev[i]}, {rank(t)})")
    g.emit(f"elif _k{k} == 1:")
    g.emit(f"    {', '.join(res)} = {', '.join(tv)}")
    g.emit("else:")
    g.emit(f"    {', '.join(res)} = {', '.join(ev)}")


@handles("scf.for", uniformity="control")
def scf_for(g, op, m):
    """Counted loop with loop-carried values; per lane when the bounds differ between lanes."""
    k = op.idx
    lb, ub, st = (g.arg(op, i) for i in range(3))
    inits = [g.arg(op, i) for i in range(3, len(op.operands))]
    body = op.regions[0]
    iv = g.value(body.args[0])
    iargs = [g.value(a) for a in body.args[1:]]
    ivt = body.arg_types[0]
    unsigned = bool(op.attrs.get("unsignedCmp", False))
    mb = f"mf{k}"
    g.assign(iargs, inits)
    g.emit(f"_u{k} = rt.for_bounds({lb}, {ub}, {st}, {m}, {unsigned})")
    g.emit(f"if _u{k} is not None:")
    g.emit(f"    _it{k} = iter(range(*_u{k})); _dv{k} = False; {mb} = {m}")
    g.emit("else:")
    g.emit(f"    _dv{k} = True; {iv} = rt.full(X, {lb}); {mb} = {m}")
    g.emit("while True:")
    g.depth += 1
    g.emit(f"if _dv{k}:")
    cmp = f"S.cmpi(6, {iv}, {ub})" if unsigned else f"({iv} < {ub})"
    g.emit(f"    {mb} = {m} & {cmp}")
    g.emit(f"    if not {mb}.any(): break")
    g.emit("else:")
    g.emit(f"    _i{k} = next(_it{k}, None)")
    g.emit(f"    if _i{k} is None: break")
    g.emit(f"    {iv} = {g.dtype(ivt)}(_i{k})")
    ys = _operands(g, g.block(body, mb))
    if iargs:
        g.emit(f"if _dv{k}:")
        for a, y, t in zip(iargs, ys, body.arg_types[1:]):
            g.emit(f"    {a} = rt.keep({mb}, {y}, {a}, {rank(t)})")
        g.emit("else:")
        g.emit(f"    {', '.join(iargs)} = {', '.join(ys)}")
    g.emit(f"if _dv{k}: {iv} = {iv} + {st}")
    g.depth -= 1
    g.assign([g.value(r) for r in op.results], iargs)


@handles("scf.while", uniformity="control")
def scf_while(g, op, m):
    """Loop with a before-region computing the condition; lanes retire as it turns false."""
    k = op.idx
    before, after = op.regions
    inits = [g.arg(op, i) for i in range(len(op.operands))]
    bargs = [g.value(a) for a in before.args]
    res = [g.value(r) for r in op.results]
    ml = f"mw{k}"
    g.assign(bargs, inits)
    g.emit(f"{ml} = {m}")
    for r in res:
        g.emit(f"{r} = None")
    g.emit("while True:")
    g.depth += 1
    term = g.block(before, ml)
    cond = g.value(term.operands[0])
    fwd = [g.value(x) for x in term.operands[1:]]
    g.emit(f"_c{k} = rt.uniform({cond}, {ml})")
    g.emit(f"if _c{k} is not None:")
    g.emit(f"    if not _c{k}:")
    for r, f, t in zip(res, fwd, op.result_types):
        g.emit(f"        {r} = rt.merge_mask({ml}, {f}, {r}, {rank(t)}) if {r} is not None else {f}")
    g.emit("        break")
    g.emit("else:")
    g.emit(f"    _x{k} = {ml} & ~{cond}")
    for r, f, t in zip(res, fwd, op.result_types):
        g.emit(f"    {r} = rt.merge_mask(_x{k}, {f}, {r}, {rank(t)}) if {r} is not None else {f}")
    g.emit(f"    {ml} = {ml} & {cond}")
    g.emit(f"    if not {ml}.any(): break")
    g.assign([g.value(a) for a in after.args], fwd)
    g.assign(bargs, _operands(g, g.block(after, ml)))
    g.depth -= 1


@handles("scf.execute_region", uniformity="control")
def execute_region(g, op, m):
    """A region run once in place; its yield gives the results."""
    g.assign([g.value(r) for r in op.results], _operands(g, g.block(op.regions[0], m)))


@handles("scf.index_switch", uniformity="control")
def index_switch(g, op, m):
    """Multi-way branch on an index uniform over the active lanes (else an error at run time)."""
    k = op.idx
    arg = g.arg(op, 0)
    cases = [int(c) for c in op.attrs.get("cases", [])]
    g.emit(f"_s{k} = rt.uniform({arg}, {m})")
    g.emit(f"if _s{k} is None: raise rt.divergent_switch({op.loc!r})")
    res = [g.value(r) for r in op.results]
    first = True
    for i, c in enumerate(cases + [None]):
        region = op.regions[i + 1] if c is not None else op.regions[0]
        if c is not None:
            g.emit(f"{'if' if first else 'elif'} _s{k} == {c}:")
        else:
            g.emit("else:" if not first else "if True:")
        first = False
        g.depth += 1
        g.assign(res, _operands(g, g.block(region, m)))
        g.emit("pass")
        g.depth -= 1
