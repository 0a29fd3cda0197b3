"""The persistent capture cache: captured, code-generated kernels on disk.

A fresh process (a pytest-xdist worker, a campaign worker, a later run)
finds a kernel that any process captured before and skips FlyDSL's tracing,
lowering, MLIR parsing and code generation.

Contract:

* Where: ``$MOESORT_EMU_CACHE_DIR`` when set (``off`` disables the cache),
  else the platform's user cache directory (``platformdirs``:
  ``~/.cache/moesort-verify/emu-capture`` on Linux), with one subdirectory
  per :data:`FORMAT` so that formats never read each other's files.
  :func:`location` answers it, :func:`clear` empties it;
  ``python -m kernels.emu cache`` does both from the shell.
* What: one file per key (a SHA-256 of everything that changes the entry).
  Captured modules are keyed by :mod:`.capture` from :mod:`.fingerprint`;
  FlyDSL's AST rewrites (:mod:`.rewrite_cache`) and the ``def`` line spans of
  a source file that findings name functions by (:mod:`.findings`) are kept
  under keys of their own.  The file is a
  header (magic, format, payload length, payload SHA-256) and a pickled
  payload.
* Writes are atomic (a temporary file in the same directory, then
  ``os.replace``), so concurrent writers of one key never leave a torn file:
  readers see the old entry, none, or a whole new one.
* A file that is truncated, corrupted (checksum), of another format or of
  another key is never trusted: :meth:`CaptureCache.load` returns None and the
  caller captures afresh (and overwrites it).  Failing to write (read-only
  directory, full disk) is not an error either: the kernel runs uncached.

The payload is a pickle: the cache directory must be writable only by its
user, as any cache of executable code is.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Optional

#: Environment variable naming the cache directory (``off`` disables the cache).
ENV_DIR = "MOESORT_EMU_CACHE_DIR"
#: Values of :data:`ENV_DIR` that disable the cache.
DISABLED = ("off", "none", "0", "false", "no")
#: Version of the entry format; a new interpreter layout bumps it (old files are ignored).
FORMAT = 1
_MAGIC = b"EMUCAP\x00"
_HEADER = struct.Struct("<7sHQ32s")      # magic, format, payload length, payload sha256


def key_of(*parts) -> Optional[str]:
    """The key of an entry that ``parts`` (everything that changes it) determine: the SHA-256 of
    their ``repr``; None when that ``repr`` holds an object's address (" at 0x"), which differs
    from one process to the next, so no entry can be shared under it."""
    material = repr(parts)
    if " at 0x" in material:
        return None
    return hashlib.sha256(material.encode()).hexdigest()


def default_location() -> Path:
    """The platform's cache directory for this suite's captures."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("moesort-verify")) / "emu-capture"


def location() -> Optional[Path]:
    """The cache directory in force (``$MOESORT_EMU_CACHE_DIR`` or the default), None when disabled."""
    raw = os.environ.get(ENV_DIR)
    if raw is not None and raw.strip().lower() in DISABLED:
        return None
    if raw:
        return Path(raw).expanduser()
    return default_location()


class CaptureCache:
    """Entries under ``root / f"v{FORMAT}"``, one file per hex key."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.dir = self.root / f"v{FORMAT}"

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.pkl"

    def load(self, key: str):
        """The payload stored under ``key``, or None (missing, torn, corrupted, other format)."""
        try:
            data = self.path(key).read_bytes()
        except OSError:
            return None
        if len(data) < _HEADER.size:
            return None
        magic, fmt, n, digest = _HEADER.unpack_from(data)
        body = data[_HEADER.size:]
        if magic != _MAGIC or fmt != FORMAT or n != len(body) or hashlib.sha256(body).digest() != digest:
            return None
        try:
            payload = pickle.loads(body)
        except Exception:  # noqa: BLE001 - a payload that does not unpickle is a cache miss
            return None
        if not isinstance(payload, dict) or payload.get("key") != key:
            return None
        return payload

    def store(self, key: str, payload: dict) -> bool:
        """Write ``payload`` (a dict; its ``"key"`` is set to ``key``) atomically; False when it cannot."""
        try:
            body = pickle.dumps(dict(payload, key=key), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - an unpicklable module is simply not cached
            return False
        header = _HEADER.pack(_MAGIC, FORMAT, len(body), hashlib.sha256(body).digest())
        target = self.path(key)
        tmp = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:12]}-", suffix=".tmp", dir=target.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(header)
                f.write(body)
            os.replace(tmp, target)
            return True
        except OSError:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            return False

    def entries(self) -> list:
        """Paths of the entries of the current format."""
        if not self.dir.is_dir():
            return []
        return sorted(self.dir.glob("*/*.pkl"))

    def info(self) -> dict:
        """``{"location", "entries", "bytes"}`` of the current format."""
        files = self.entries()
        return {"location": str(self.dir), "entries": len(files),
                "bytes": sum(f.stat().st_size for f in files if f.exists())}

    def clear(self) -> int:
        """Remove every entry (of every format) under the root; returns how many files went."""
        if not self.root.is_dir():
            return 0
        n = sum(1 for _ in self.root.rglob("*.pkl"))
        for child in self.root.iterdir():
            if child.is_dir() and child.name.startswith("v") and child.name[1:].isdigit():
                shutil.rmtree(child, ignore_errors=True)
        return n


def current() -> Optional[CaptureCache]:
    """The cache at :func:`location`, or None when disabled."""
    root = location()
    return CaptureCache(root) if root is not None else None


def clear() -> int:
    """Empty the cache at :func:`location` (0 when disabled)."""
    cache = current()
    return cache.clear() if cache is not None else 0
