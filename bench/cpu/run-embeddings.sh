#!/usr/bin/env bash
# Embeddings on the CPU in Qwen3-Embedding-0.6B's shapes (bench/cpu/qwen3_embedding_gguf.py:
# random Q8_0 weights, last-token pooling): modelrt bench on the GGUF's plan (Q8_0 blocks
# kept, and dequantized to f32) against llama.cpp on the same file (batches of 2048 tokens,
# and of one prompt) and sentence-transformers (f32) on the same architecture; N prompts of
# LEN seeded random token ids. Needs
# llama-cpp-python, sentence-transformers, gguf from PyPI (not part of CI). Rounds alternate.
# --rank: reranking in Qwen3-Reranker-0.6B's shapes instead (a GGUF reranker as llama.cpp's
# converter writes one, read as a classification plan; N pairs of LEN ids) against
# sentence-transformers' CrossEncoder.
#   bench/cpu/run-embeddings.sh [N=64] [LEN=128] [--rank]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-64}
LEN=${2:-128}
RANK=${3:-}
KIND=$([ "$RANK" = --rank ] && echo reranker || echo embedding)
SMOLLM2=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
GGUF=build/bench-qwen3-$KIND.gguf
[ -f "$GGUF" ] || python3 bench/cpu/qwen3_embedding_gguf.py "$SMOLLM2" "$GGUF" $RANK
build/bin/modelc "$GGUF" -o build/bench-qwen3-$KIND.plan
build/bin/modelc "$GGUF" --weight-format dense -o build/bench-qwen3-$KIND-dense.plan
for round in 1 2; do
  for plan in bench-qwen3-$KIND bench-qwen3-$KIND-dense; do
    build/tools/modelrt/modelrt bench "build/$plan.plan" --num-prompts "$N" --input-len "$LEN" \
      --output-len 1 --request-rate inf --scheduler iteration-level |
      grep -iE 'Benchmark duration|Request throughput|Total token throughput' | tr '\n' ' ' |
      sed "s/^/round $round modelrt $plan: /"
    echo
  done
  if [ -z "$RANK" ]; then
    python3 bench/cpu/llama_cpp_embed.py "$GGUF" "$N" "$LEN" | sed "s/^/round $round /"
    python3 bench/cpu/llama_cpp_embed.py "$GGUF" "$N" "$LEN" "$LEN" | sed "s/^/round $round /"
  fi
  python3 bench/cpu/st_embed.py "$N" "$LEN" $RANK 2>/dev/null | sed "s/^/round $round /"
done
