"""Which kernel store wrote each byte of global memory: the op behind a wrong output.

Inside :func:`track` every global store of a launch notes, per byte it
writes, the *site* that wrote it (the kernel and the store op's source
location with its call chain).  Afterwards :func:`writer_of` names the site
that last wrote a byte at a host address: the line to read first when an
output element is wrong.  Outside :func:`track` nothing is recorded.
"""
from __future__ import annotations

import contextlib

import numpy as np

_sites: list = []          # site id -> (kernel, op, loc)
_site_ids: dict = {}
_tables: list = []         # active scopes: {allocation start: (end, int32 writer per byte)}


def active() -> bool:
    return bool(_tables)


def note(alloc, byte_offsets, kernel: str, info) -> None:
    """Record that the store ``info`` of ``kernel`` wrote bytes ``byte_offsets`` of ``alloc``."""
    key = (kernel, info[0], info[1])
    sid = _site_ids.get(key)
    if sid is None:
        sid = _site_ids[key] = len(_sites)
        _sites.append(key)
    for table in _tables:
        entry = table.get(alloc.start)
        if entry is None or entry[0] != alloc.end:
            entry = table[alloc.start] = (alloc.end, np.full(alloc.end - alloc.start, -1, np.int32))
        entry[1][byte_offsets] = sid


@contextlib.contextmanager
def track():
    """``with track() as writes:`` -- stores inside are recorded into ``writes``."""
    table: dict = {}
    _tables.append(table)
    try:
        yield table
    finally:
        _tables.remove(table)


def site(sid: int) -> tuple:
    """``(kernel, op, loc)`` of a site id."""
    return _sites[sid]


def writer_of(writes: dict, address: int):
    """``(kernel, op, loc)`` of the store that last wrote the byte at ``address`` in a
    :func:`track` block, or None when no tracked store wrote it."""
    for start, (end, writers) in writes.items():
        if start <= address < end:
            sid = int(writers[address - start])
            return _sites[sid] if sid >= 0 else None
    return None
