#!/usr/bin/env bash
# Reranking on the CPU in Qwen3-Reranker-0.6B's shapes (bench/cpu/qwen3_embedding_gguf.py
# --rank: random Q8_0 weights, a GGUF reranker as llama.cpp's converter writes one, pooling
# type 4 with the "yes"/"no" rows as cls.output.weight): modelrt bench on its classification
# plan (Q8_0 blocks kept, and dequantized to f32) against sentence-transformers' CrossEncoder
# (f32) on the same architecture; N pairs already tokenized into LEN seeded random ids.
# Needs sentence-transformers and gguf from PyPI (not part of CI). Rounds alternate.
#   bench/cpu/run-rerank.sh [N=64] [LEN=128]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-64}
LEN=${2:-128}
SMOLLM2=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
GGUF=build/bench-qwen3-reranker.gguf
[ -f "$GGUF" ] || python3 bench/cpu/qwen3_embedding_gguf.py "$SMOLLM2" "$GGUF" --rank
build/bin/modelc "$GGUF" -o build/bench-qwen3-reranker.plan
build/bin/modelc "$GGUF" --weight-format dense -o build/bench-qwen3-reranker-dense.plan
for round in 1 2; do
  for plan in bench-qwen3-reranker bench-qwen3-reranker-dense; do
    build/tools/modelrt/modelrt bench "build/$plan.plan" --num-prompts "$N" --input-len "$LEN" \
      --output-len 1 --request-rate inf --scheduler iteration-level |
      grep -iE 'Benchmark duration|Request throughput|Total token throughput' | tr '\n' ' ' |
      sed "s/^/round $round modelrt $plan: /"
    echo
  done
  python3 bench/cpu/st_rerank.py "$N" "$LEN" 2>/dev/null | sed "s/^/round $round /"
done
