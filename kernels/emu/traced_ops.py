"""The op kinds of a launcher call's lowered module, and those the interpreter lacks.

``launcher_ops(launcher, *args, **kwargs)`` traces and lowers one launcher
call for the current emulation session's target (nothing runs, unknown ops
do not fail) and returns a :class:`LauncherOps`: the kernels the module
holds and every op kind in them and in the host function.  Results are
cached in memory per (target, launcher fingerprint, argument signatures) and
in the persistent capture cache (:mod:`.diskcache`) under a key of their
own, used only while every source file the module's locations name is
unchanged.  :meth:`LauncherOps.lacking` compares with the op table
(:data:`kernels.emu.codegen.OPS`) when asked, so the cache never holds a
verdict of an older table.

A module the interpreter refuses as a whole (a region with several blocks,
a device helper function with a body: see :mod:`.irload`) names that in
:attr:`LauncherOps.refused`.
"""
from __future__ import annotations

import dataclasses
import sys

from . import codegen, diskcache, fingerprint
from .capture import launch_signature, lowered_text
from .findings import parse_loc
from .irload import _context, loc_text
from .session import current

_MEMORY: dict = {}
_KEY_ATTR = "_emu_traced_ops_key"


@dataclasses.dataclass(frozen=True)
class LauncherOps:
    """``kernels``: kernel names (FlyDSL's ``_N`` suffix dropped); ``names``: op kinds;
    ``refused``: why the interpreter would refuse the module as a whole ("" when it would not)."""

    kernels: frozenset
    names: frozenset
    refused: str = ""

    def lacking(self) -> set:
        """The op kinds the interpreter has no handler for."""
        return set(self.names) - set(codegen.OPS)


def _walk(op, names, files, refusals):
    op = op.operation
    names.add(op.name)
    files.update(f for f, _ in parse_loc(loc_text(op.location)))
    for r in op.regions:
        blocks = list(r.blocks)
        if len(blocks) > 1:
            refusals.add(f"{op.name} has a region with several blocks")
        for b in blocks:
            for inner in b.operations:
                _walk(inner, names, files, refusals)


def ops_of_text(text: str) -> tuple:
    """``(LauncherOps, source files its locations name)`` of lowered MLIR ``text``."""
    from flydsl._mlir import ir

    names, files, refusals, kernels = set(), set(), set(), set()
    with _context():
        mod = ir.Module.parse(text)
        for top in mod.body.operations:
            top = top.operation
            inner = [o.operation for o in top.regions[0].blocks[0].operations] if top.name == "gpu.module" else []
            for op in inner:
                if op.name == "gpu.func":
                    kernels.add(str(op.attributes["sym_name"]).strip('"').rsplit("_", 1)[0])
                    _walk(op, names, files, refusals)
                elif op.name in ("llvm.func", "func.func") and op.regions and list(op.regions[0].blocks) \
                        and list(op.regions[0].blocks[0].operations):
                    refusals.add(f"device helper function {op.name} with a body")
            if top.name == "func.func":
                _walk(top, names, files, refusals)
    names -= {"gpu.func", "func.func"}
    return LauncherOps(frozenset(kernels), frozenset(names), "; ".join(sorted(refusals))), files


def _launcher_key(jf):
    key = jf.__dict__.get(_KEY_ATTR)
    if key is None:
        try:
            key = fingerprint.launcher_fingerprint(getattr(jf.func, "__wrapped__", jf.func))
        except fingerprint.Unstable:
            key = (("object", id(jf)), ())
        jf.__dict__[_KEY_ATTR] = key
    return key


def _disk_key(target, desc, signature) -> str | None:
    if isinstance(desc, tuple) and desc and desc[0] == "object":
        return None
    import flydsl

    return diskcache.key_of("traced-ops", fingerprint.interpreter_version(), getattr(flydsl, "__version__", "?"),
                            sys.version, target, desc, signature)


def launcher_ops(launcher, *args, **kwargs) -> LauncherOps:
    """The :class:`LauncherOps` of ``launcher(*args, **kwargs)`` for the current session's target."""
    jf = getattr(launcher, "__self__", launcher)
    target = current().target.arch
    desc, files = _launcher_key(jf)
    signature = launch_signature(jf, *args, **kwargs)
    key = (target, desc, signature)
    hit = _MEMORY.get(key)
    if hit is not None:
        return hit
    disk = diskcache.current()
    disk_key = _disk_key(target, desc, signature) if disk is not None else None
    if disk_key is not None:
        payload = disk.load(disk_key)
        if payload is not None and all(fingerprint.file_digest(p) == d for p, d in payload["deps"].items()):
            _MEMORY[key] = payload["ops"]
            return payload["ops"]
    ops, located = ops_of_text(lowered_text(jf, *args, **kwargs))
    _MEMORY[key] = ops
    if disk_key is not None:
        disk.store(disk_key, {"ops": ops, "deps": {p: fingerprint.file_digest(p) for p in set(files) | located}})
    return ops
