#!/usr/bin/env bash
# Builds everything and runs all tests: the compiler's lit suite, then the GoogleTest
# suite through ctest. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${MODELC_BUILD_DIR:-build}
scripts/build.sh
# The real SmolLM2 GGUF (scripts/fetch-models.sh) for the tests that check against it.
SMOLLM2=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
[ -f "$SMOLLM2" ] && export MODELC_SMOLLM2_GGUF=$SMOLLM2
status=0
echo "== lit: compiler tests =="
python3 /usr/lib/llvm-19/build/utils/lit/lit.py -sv "$BUILD/test" || status=1
echo "== ctest: runtime and unit tests =="
(cd "$BUILD" && ctest --output-on-failure -j2) || status=1
echo "== fuzzers: short runs (clang, ASan + UBSan) =="
FUZZ_BUILD=${MODELC_FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$FUZZ_BUILD/build.ninja" ]; then
  CC=clang-19 CXX=clang++-19 cmake -S . -B "$FUZZ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMODELC_BUILD_COMPILER=OFF -DMODELC_ENABLE_CUDA=OFF -DMODELC_BUILD_FUZZERS=ON \
    -DMODELC_RUNTIME_COMPONENTS="formats;tokenize;plan" > /dev/null
fi
ninja -C "$FUZZ_BUILD" gguf-fuzzer safetensors-fuzzer tokenizer-fuzzer tokenizer-json-fuzzer plan-fuzzer
(cd "$FUZZ_BUILD" && ctest --output-on-failure -R '^Fuzz\.') || status=1
exit $status
