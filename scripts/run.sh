#!/usr/bin/env bash
# The main job, as far as it is built: compile the default model, SmolLM2-135M-Instruct
# (the real GGUF that install-deps fetched; its shapes with random weights otherwise), to
# a plan and inspect it. Answering prompts needs the runtime's engine, which is not built
# yet (see the issues).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${MODELC_BUILD_DIR:-build}
scripts/build.sh modelc modelc-opt modelrt
GGUF=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
MODEL=${1:-$GGUF}
[ -f "$MODEL" ] || [ -d "$MODEL" ] || MODEL=models/smollm2-135m-instruct.json
"$BUILD/bin/modelc" "$MODEL" --emit=summary
"$BUILD/bin/modelc" "$MODEL" --emit=kern > "$BUILD/default.kern.mlir"
echo "kernels: $BUILD/default.kern.mlir ($(grep -c 'kern.fused' "$BUILD/default.kern.mlir") fused, $(grep -c 'kern.gemm' "$BUILD/default.kern.mlir") GEMMs, $(grep -c 'kern.attention' "$BUILD/default.kern.mlir") attention)"
"$BUILD/bin/modelc" "$MODEL" --dtype=bf16 -o "$BUILD/default.plan.bin"
"$BUILD/tools/modelrt/modelrt" inspect "$BUILD/default.plan.bin"
