#!/usr/bin/env bash
# Long-context decode with a narrow KV cache on the CPU: SmolLM2-135M-Instruct's Q4_1 GGUF
# (the default plan), one request of L prompt tokens (seeded random ids) and N generated
# tokens, modelrt bench's time per output token for each --kv-cache-dtype, and llama.cpp on
# the same file with its f16 and q8_0 caches (bench/cpu/llama_cpp_long_context.py; needs
# pip install llama-cpp-python, not part of CI). Rounds interleaved.
#   bench/cpu/run-kv-dtype.sh [L=4000] [N=64]
set -euo pipefail
cd "$(dirname "$0")/../.."
L=${1:-4000}
N=${2:-64}
GGUF=$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf
PLAN=build/bench-smollm2.plan
[ -f "$PLAN" ] || build/bin/modelc "$GGUF" -o "$PLAN"
for round in 1 2; do
  for dtype in auto float32 bfloat16 fp8 q8_0; do
    build/tools/modelrt/modelrt bench "$PLAN" --num-prompts 1 --input-len "$L" --output-len "$N" \
      --request-rate inf --scheduler iteration-level --kv-cache-dtype "$dtype" --kv-cache-mib 2048 |
      grep -E 'KV cache of|Mean TPOT|Mean TTFT' | tr '\n' ' ' | sed "s/^/round $round modelrt $dtype: /"
    echo
  done
  for kind in f16 q8_0; do
    python3 bench/cpu/llama_cpp_long_context.py "$GGUF" "$L" "$N" "$kind" | sed "s/^/round $round /"
  done
done
