#!/usr/bin/env bash
# Configures (once) and builds everything into build/ (or $MODELC_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${MODELC_BUILD_DIR:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE=${MODELC_BUILD_TYPE:-Release} \
    -DMLIR_DIR=/usr/lib/llvm-19/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-19/build/utils/lit/lit.py
fi
ninja -C "$BUILD" "$@"
