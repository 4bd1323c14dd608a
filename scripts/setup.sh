#!/usr/bin/env bash
# Installs what foldsweep's demo and tests need on a fresh Debian machine, then the npm packages.
# Works as root (no sudo on a root container) and as a user with sudo.
#   Debian packages: dataset-fashion-mnist (the real data), wabt (checks the committed
#   WebAssembly kernels), chromium (the browser tests of the HTML report and the API docs).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: not root and no sudo: install dataset-fashion-mnist wabt chromium as root first" >&2
    exit 1
  fi
fi
missing=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
command -v wat2wasm >/dev/null || missing+=(wabt)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}"
fi
npm ci --no-audit --no-fund
