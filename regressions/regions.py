"""A finding's region as words: where it triggers, axis by axis.

A region (written into a fixture by ``fuzz explain``) maps each axis that
was varied (``T``, ``mask``, ``M<T``, ``E``, ``topk``) to the values tried
and, per value, the targets on which the finding showed.  :func:`describe`
says it in one paragraph.
"""
from __future__ import annotations


def describe(axes: dict) -> str:
    """``axes``: axis -> value -> {target: triggered}.  Values are grouped by the set of
    targets they trigger on, in the order they were tried."""
    targets = sorted({t for values in axes.values() for hits in values.values() for t in hits})
    parts = []
    for axis, values in axes.items():
        groups: dict = {}
        for value, hits in values.items():
            on = tuple(t for t in targets if hits.get(t))
            groups.setdefault(on, []).append(value)
        if len(groups) == 1:
            (on, _), = groups.items()
            where = "" if set(on) == set(targets) else (f", only on {'/'.join(on)}" if on else ", never")
            parts.append(f"{axis}: every value tried{where} ({', '.join(values)})")
            continue
        bits = []
        for on, vals in groups.items():
            if not on:
                continue
            only = "" if set(on) == set(targets) else f" (only on {'/'.join(on)})"
            bits.append(f"triggers at {', '.join(vals)}{only}")
        if () in groups:
            bits.append(f"not at {', '.join(groups[()])}")
        parts.append(f"{axis}: " + "; ".join(bits))
    return "; ".join(parts) + "."
