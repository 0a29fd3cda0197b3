#!/usr/bin/env bash
# Install what FlyDSL's compile pipeline needs on a CPU-only Debian/Ubuntu runner:
# AMDGPU device bitcode (rocm-device-libs) and an ld.lld that knows gfx942/gfx950 (lld-22).
# Idempotent: does nothing when both are already installed. Needs root (or sudo).
# kernels/compilecheck/toolchain.py arranges them under a ROCM_PATH-shaped directory at run time.
set -euo pipefail

PACKAGES=(rocm-device-libs lld-22)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-rocm-toolchain: already installed: ${PACKAGES[*]}"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
dpkg-query -W -f='install-rocm-toolchain: ${Package} ${Version}\n' "${PACKAGES[@]}"
