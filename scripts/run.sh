#!/usr/bin/env bash
# The main job: compile the default model, SmolLM2-135M-Instruct (the GGUF file that
# install-deps fetched from PyPI), to a plan and answer a prompt with it on the CPU.
#   scripts/run.sh ["question"]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${MODELC_BUILD_DIR:-build}
scripts/build.sh modelc modelc-opt modelrt
GGUF=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
QUESTION=${1:-What is the capital of France?}
"$BUILD/bin/modelc" "$GGUF" --emit=summary
"$BUILD/bin/modelc" "$GGUF" -o "$BUILD/default.plan.bin" --timing 2>&1 | grep -E "Total|codegen|write plan" || true
"$BUILD/tools/modelrt/modelrt" inspect "$BUILD/default.plan.bin" | head -7
echo "--"
echo "$QUESTION"
# The exact path (transformers' numbers): with int8 activations, the GGUF plan's default
# (llama.cpp's numbers, about 2x faster), this 135M Q4_1 model's first token for the default
# question is a near tie that goes to "L'Étoile, ..." as it does in llama.cpp.
"$BUILD/tools/modelrt/modelrt" generate "$BUILD/default.plan.bin" -n 64 \
  --chat --cpu-activations f32 -p "$QUESTION"
