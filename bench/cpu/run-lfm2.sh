#!/usr/bin/env bash
# A hybrid model (LFM2-350M's layer shapes: short convolutions with per-request state between
# attention layers; random Q8_0 weights from bench/cpu/lfm2_gguf.py) on the CPU: modelrt
# generate against llama.cpp (llama-cpp-python) on the same GGUF file, same prompt tokens,
# greedy, same token count, alternated. Needs llama-cpp-python and gguf from PyPI (not part of
# CI).  bench/cpu/run-lfm2.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-64}
SMOLLM2=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
GGUF=build/bench-lfm2.gguf
[ -f "$GGUF" ] || python3 bench/cpu/lfm2_gguf.py "$SMOLLM2" "$GGUF"
build/bin/modelc "$GGUF" -o build/bench-lfm2.plan
for i in 1 2 3; do
  build/tools/modelrt/modelrt generate build/bench-lfm2.plan -p "The capital of France is" \
    -n "$N" --ignore-eos 2>&1 >/dev/null | sed "s/^/modelrt: /"
  python3 bench/cpu/llama_cpp_generate.py "$GGUF" "$N" 2>/dev/null | sed "s/^/llama.cpp: /" || true
done
# A 512-token prompt (prefill): modelrt's time to first token against llama.cpp's prompt eval.
for i in 1 2; do
  build/tools/modelrt/modelrt bench build/bench-lfm2.plan --num-prompts 1 --input-len 512 \
    --output-len 1 --request-rate inf --scheduler iteration-level 2>&1 | grep 'Mean TTFT' | sed 's/^/modelrt prefill 512: /'
  python3 bench/cpu/llama_cpp_prefill.py "$GGUF" 512 2>/dev/null | sed "s/^/llama.cpp: /" || true
done
