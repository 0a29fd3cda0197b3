#!/usr/bin/env bash
# Install everything the suite needs on a fresh Debian machine (run as root):
# Debian packages (redis-server for the shared-database test; rocm-device-libs
# and lld-22 for FlyDSL's CPU compile pipeline), then the project with its
# Python dependencies, its linters (the "dev" extra of pyproject.toml) and Dask's
# distributed scheduler (the "cluster" extra: the --scheduler tests start a
# loopback cluster).  Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
bash .ci/install-rocm-toolchain.sh
python -m pip install -q --disable-pip-version-check -e ".[dev,cluster]"
