#!/usr/bin/env bash
# The main job, as far as it is built: compile the default model (SmolLM2-135M-Instruct's
# shapes) and print its summary and llm-dialect IR (written to build/smollm2.llm.mlir).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${MODELC_BUILD_DIR:-build}
scripts/build.sh modelc modelc-opt
MODEL=${1:-models/smollm2-135m-instruct.json}
"$BUILD/bin/modelc" "$MODEL" --emit=summary
"$BUILD/bin/modelc" "$MODEL" --emit=llm > "$BUILD/smollm2.llm.mlir"
echo "llm IR: $BUILD/smollm2.llm.mlir ($(grep -c 'llm.attention' "$BUILD/smollm2.llm.mlir") attention layers)"
