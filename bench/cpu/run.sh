#!/usr/bin/env bash
# modelrt generate against Hugging Face transformers on the same machine, model, prompt
# and token count (SmolLM2-135M-Instruct, float32, greedy). Needs torch + transformers +
# gguf + accelerate from PyPI (not part of CI).  bench/cpu/run.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-64}
GGUF=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
build/bin/modelc "$GGUF" -o build/bench-smollm2.plan
for i in 1 2 3; do
  build/tools/modelrt/modelrt generate build/bench-smollm2.plan --tokenizer "$GGUF" \
    -p "The capital of France is" -n "$N" --ignore-eos 2>&1 >/dev/null | sed 's/^/modelrt: /'
done
for i in 1 2 3; do python3 bench/cpu/hf_generate.py "$GGUF" "$N" 2>/dev/null; done
