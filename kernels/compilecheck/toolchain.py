"""Find (or arrange) the ROCm compile toolchain FlyDSL needs on a CPU-only machine.

FlyDSL's pipeline ends in MLIR's ``gpu-module-to-binary``, which reads a ROCm
root from ``ROCM_PATH`` (default ``/opt/rocm``) and needs two things under it:

* ``$ROCM_PATH/amdgcn/bitcode/*.bc`` -- the device libraries (ocml, ockl,
  oclc_*), linked into kernels that call them;
* ``$ROCM_PATH/llvm/bin/ld.lld`` -- the linker that turns the assembled object
  into the HSA code object.

A real ROCm install has both.  On Debian/Ubuntu without ROCm the packages
``rocm-device-libs`` (bitcode in ``/usr/lib/x86_64-linux-gnu/amdgcn/bitcode``)
and ``lld-22`` (``/usr/lib/llvm-22/bin/ld.lld``) provide them in other places;
:func:`ensure_toolchain` then builds a small directory of symlinks in that
shape under a cache directory and points ``ROCM_PATH`` at it.

Contract
--------
* :func:`find_toolchain` never changes anything but the symlink cache; it
  returns a :class:`Toolchain` or raises :class:`ToolchainMissing` whose
  message is ONE line naming what is missing and how to install it.
* :func:`ensure_toolchain` does the same and also sets ``ROCM_PATH`` in the
  given environment mapping (``os.environ`` by default).
* Search order: an explicit ``ROCM_PATH`` (used as is when complete, an error
  naming the missing part when not -- it is never silently replaced); then
  ``/opt/rocm`` when complete; then the Debian packages.
* ``MOESORT_LLD`` may name an ``ld.lld`` to use with the Debian bitcode.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import MutableMapping, Optional

INSTALL_HINT = "apt-get install rocm-device-libs lld-22"
DEBIAN_BITCODE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/amdgcn/bitcode",
    "/usr/lib/aarch64-linux-gnu/amdgcn/bitcode",
    "/usr/lib/amdgcn/bitcode",
)
# Oldest LLVM whose lld knows the gfx950 ELF machine flags; newer ones are preferred.
MIN_LLD_MAJOR = 19
DEFAULT_ROCM = "/opt/rocm"


class ToolchainMissing(RuntimeError):
    """The toolchain is not usable here; ``str(exc)`` is one line with the fix."""


@dataclasses.dataclass(frozen=True)
class Toolchain:
    """A usable ROCm root: ``root`` is what ``ROCM_PATH`` must name."""

    root: Path
    bitcode_dir: Path
    lld: Path
    source: str  # "ROCM_PATH", "/opt/rocm" or "debian"

    def describe(self) -> str:
        return f"ROCM_PATH={self.root} ({self.source}; bitcode {self.bitcode_dir}, linker {self.lld})"


def _has_bitcode(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("*.bc"))


def _is_exe(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _check_root(root: Path) -> Optional[str]:
    """None when ``root`` is a complete ROCm root, else what it lacks."""
    missing = []
    if not _has_bitcode(root / "amdgcn" / "bitcode"):
        missing.append(f"{root}/amdgcn/bitcode/*.bc")
    if not _is_exe(root / "llvm" / "bin" / "ld.lld"):
        missing.append(f"{root}/llvm/bin/ld.lld")
    return " and ".join(missing) or None


def _debian_bitcode() -> Optional[Path]:
    for d in DEBIAN_BITCODE_DIRS:
        if _has_bitcode(Path(d)):
            return Path(d)
    return None


def _debian_lld() -> Optional[Path]:
    explicit = os.environ.get("MOESORT_LLD")
    if explicit:
        return Path(explicit) if _is_exe(Path(explicit)) else None
    found = []
    for path in glob.glob("/usr/lib/llvm-*/bin/ld.lld"):
        m = re.search(r"/llvm-(\d+)/", path)
        if m and int(m.group(1)) >= MIN_LLD_MAJOR and _is_exe(Path(path)):
            found.append((int(m.group(1)), Path(path)))
    return max(found)[1] if found else None


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "moesort-verify" / "rocm-toolchain"


def _arrange(cache_dir: Path, bitcode: Path, lld: Path) -> Path:
    """Return a ROCm-shaped root of symlinks to ``bitcode`` and ``lld`` under ``cache_dir``.

    The root's name is a digest of the two targets, so an existing root is
    never modified: it is reused when complete, else built in a staging
    directory and renamed into place (safe against concurrent callers).
    """
    digest = hashlib.sha256(f"{bitcode.resolve()}\0{lld.resolve()}".encode()).hexdigest()[:12]
    root = cache_dir / digest
    if not _check_root(root):
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_dir))
    os.chmod(staging, 0o755)
    (staging / "amdgcn").mkdir()
    (staging / "llvm" / "bin").mkdir(parents=True)
    os.symlink(bitcode, staging / "amdgcn" / "bitcode")
    os.symlink(lld, staging / "llvm" / "bin" / "ld.lld")
    try:
        os.rename(staging, root)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        lack = _check_root(root)
        if lack:
            raise ToolchainMissing(f"could not arrange {root}: it lacks {lack}; remove it and retry")
    return root


def find_toolchain(environ: Optional[MutableMapping[str, str]] = None,
                   cache_dir: Optional[Path] = None) -> Toolchain:
    """Locate a complete ROCm root, arranging the Debian packages if needed.

    Raises :class:`ToolchainMissing` (one-line message) when there is none.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("ROCM_PATH")
    if explicit:
        root = Path(explicit)
        lack = _check_root(root)
        if lack:
            raise ToolchainMissing(
                f"ROCM_PATH={explicit} lacks {lack}; fix it, or unset ROCM_PATH and "
                f"`{INSTALL_HINT}`"
            )
        return Toolchain(root, root / "amdgcn" / "bitcode", root / "llvm" / "bin" / "ld.lld", "ROCM_PATH")
    if not _check_root(Path(DEFAULT_ROCM)):
        root = Path(DEFAULT_ROCM)
        return Toolchain(root, root / "amdgcn" / "bitcode", root / "llvm" / "bin" / "ld.lld", DEFAULT_ROCM)
    bitcode, lld = _debian_bitcode(), _debian_lld()
    if bitcode is None or lld is None:
        what = []
        if bitcode is None:
            what.append("AMDGPU device bitcode (package rocm-device-libs)")
        if lld is None:
            what.append(f"ld.lld >= {MIN_LLD_MAJOR} (package lld-22)")
        raise ToolchainMissing(
            f"no ROCm compile toolchain: missing {' and '.join(what)}; "
            f"install with `{INSTALL_HINT}` (or set ROCM_PATH to a ROCm install)"
        )
    root = _arrange(cache_dir or default_cache_dir(), bitcode, lld)
    return Toolchain(root, bitcode, lld, "debian")


def ensure_toolchain(environ: Optional[MutableMapping[str, str]] = None,
                     cache_dir: Optional[Path] = None) -> Toolchain:
    """:func:`find_toolchain`, then set ``ROCM_PATH`` in ``environ`` to its root."""
    env = os.environ if environ is None else environ
    tc = find_toolchain(env, cache_dir)
    env["ROCM_PATH"] = str(tc.root)
    return tc


def missing_reason() -> Optional[str]:
    """None when the toolchain can be set up here, else the one-line reason."""
    try:
        find_toolchain()
    except ToolchainMissing as exc:
        return str(exc)
    return None


if __name__ == "__main__":  # python -m kernels.compilecheck.toolchain
    import sys

    try:
        print(ensure_toolchain().describe())
    except ToolchainMissing as exc:
        print(f"toolchain: {exc}", file=sys.stderr)
        sys.exit(1)
