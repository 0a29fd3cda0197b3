"""FlyDSL's AST rewrite of decorated functions, kept in the persistent cache.

FlyDSL rewrites the source of every ``@flyc.kernel`` / ``@flyc.jit``
function when its decorator runs (``ASTRewriter.transform``), and kernel
factories (FlyDSL's ``compile_moe_sorting``, the suite's ``build_multi``)
decorate their kernels anew for each shape in each process.  Once the
capture itself comes from disk (:mod:`.diskcache`) that rewrite is the
larger part of a first launch.

While :func:`install` is in force (an emulation session) a transform that
FlyDSL itself would cache (its ``_rewrite_cache_key`` is not None: the
rewrite depends on the function's code and source file only) is looked up in
the persistent cache first, under a digest of FlyDSL's version, its list of
transformers, Python's version, the function's source file digest, name and
first line and the debug-info setting; a miss runs FlyDSL's transform and
stores the rewritten code object (``marshal``).  A hit installs that code
object with FlyDSL's own ``_install_code``: the function ends up exactly as
FlyDSL's transform leaves it.
"""
from __future__ import annotations

import marshal
import sys
import threading
import types

from . import diskcache, fingerprint

_lock = threading.Lock()
_state = {"count": 0, "orig": None}


def _key(cls, f, code):
    import flydsl
    from flydsl.compiler import ast_rewriter
    from flydsl.utils import env

    if ast_rewriter._rewrite_cache_key(f, code) is None:
        return None
    digest = fingerprint.file_digest(code.co_filename)
    if digest is None:
        return None
    return diskcache.key_of("ast-rewrite", getattr(flydsl, "__version__", "?"), sys.version,
                            [f"{t.__module__}.{t.__qualname__}" for t in cls.transformers], code.co_filename,
                            digest, code.co_qualname, code.co_name, code.co_firstlineno,
                            bool(env.debug.enable_debug_info))


def install() -> None:
    """Use the persistent cache for FlyDSL's rewrites from now on (nests; pair with :func:`uninstall`)."""
    from flydsl.compiler.ast_rewriter import ASTRewriter

    with _lock:
        if _state["count"] == 0:
            orig = ASTRewriter.__dict__["transform"]
            eager = orig.__get__(None, ASTRewriter)

            def transform(cls, f):
                disk = diskcache.current()
                if disk is None or not cls.transformers or not isinstance(f, types.FunctionType):
                    return eager(f)
                key = _key(cls, f, f.__code__)
                if key is None:
                    return eager(f)
                payload = disk.load(key)
                if payload is not None:
                    try:
                        return cls._install_code(f, marshal.loads(payload["code"]))
                    except Exception:  # noqa: BLE001 - an entry that does not install: rewrite again
                        pass
                out = eager(f)
                if isinstance(out, types.FunctionType):
                    disk.store(key, {"code": marshal.dumps(out.__code__)})
                return out

            _state["orig"] = orig
            ASTRewriter.transform = classmethod(transform)
        _state["count"] += 1


def uninstall() -> None:
    """Undo one :func:`install`; the last one restores FlyDSL's transform."""
    from flydsl.compiler.ast_rewriter import ASTRewriter

    with _lock:
        _state["count"] -= 1
        if _state["count"] == 0:
            ASTRewriter.transform = _state["orig"]
            _state["orig"] = None
