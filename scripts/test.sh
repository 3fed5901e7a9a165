#!/usr/bin/env bash
# Builds everything and runs all tests: the compiler's lit suite, the GoogleTest suites
# through ctest, and a short run of every fuzzer (clang, ASan + UBSan). Prints one total
# line last and exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${MODELC_BUILD_DIR:-build}
FUZZ_BUILD=${MODELC_FUZZ_BUILD_DIR:-build-fuzz}
scripts/build.sh

# The real SmolLM2 GGUF (scripts/fetch-models.sh) for the tests that check against it.
SMOLLM2=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
[ -f "$SMOLLM2" ] && export MODELC_SMOLLM2_GGUF=$SMOLLM2

status=0
echo "== lit: compiler tests =="
python3 /usr/lib/llvm-19/build/utils/lit/lit.py -sv "$BUILD/test" | tee "$BUILD/lit.log" || status=1

echo "== ctest: runtime and unit tests =="
(cd "$BUILD" && ctest --output-on-failure -j2) | tee "$BUILD/ctest.log" || status=1

echo "== fuzzers: short runs (clang, ASan + UBSan) =="
if [ ! -f "$FUZZ_BUILD/build.ninja" ]; then
  CC=clang-19 CXX=clang++-19 cmake -S . -B "$FUZZ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMODELC_BUILD_COMPILER=OFF -DMODELC_ENABLE_CUDA=OFF -DMODELC_BUILD_FUZZERS=ON \
    -DMODELC_RUNTIME_COMPONENTS="formats;tokenize;plan" > /dev/null
fi
ninja -C "$FUZZ_BUILD" gguf-fuzzer safetensors-fuzzer tokenizer-fuzzer tokenizer-json-fuzzer plan-fuzzer \
  chat-template-fuzzer request-fuzzer json-constraint-fuzzer regex-fuzzer grammar-fuzzer lora-fuzzer
(cd "$FUZZ_BUILD" && ctest --output-on-failure -R '^Fuzz\.') | tee "$BUILD/fuzz.log" || status=1

# One total over the three runners.
count() { grep -oE "$1" "$2" | grep -oE '[0-9]+' | head -1 || true; }
litPassed=$(count 'Passed: *[0-9]+' "$BUILD/lit.log"); litFailed=$(count 'Failed: *[0-9]+' "$BUILD/lit.log")
ctestFailed=$(count '[0-9]+ tests failed' "$BUILD/ctest.log"); ctestAll=$(count 'out of [0-9]+' "$BUILD/ctest.log")
fuzzFailed=$(count '[0-9]+ tests failed' "$BUILD/fuzz.log"); fuzzAll=$(count 'out of [0-9]+' "$BUILD/fuzz.log")
passed=$(( ${litPassed:-0} + ${ctestAll:-0} - ${ctestFailed:-0} + ${fuzzAll:-0} - ${fuzzFailed:-0} ))
failed=$(( ${litFailed:-0} + ${ctestFailed:-0} + ${fuzzFailed:-0} ))
[ "$failed" -gt 0 ] && status=1
echo "total: $passed passed, $failed failed"
exit $status
