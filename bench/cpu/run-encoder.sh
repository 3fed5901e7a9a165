#!/usr/bin/env bash
# Encoder embeddings on the CPU in all-MiniLM-L6-v2's shapes (or, with --base,
# bge-base-en-v1.5's; with --xlmr-large, bge-m3's, without llama.cpp): an embedder with
# random f32 weights (bench/cpu/bert_model.py), modelrt bench on its plan against
# sentence-transformers (bench/cpu/st_embed.py --dir) on the same directory and llama.cpp on
# the same model as its converter writes it (f32 GGUF; bench/cpu/llama_cpp_embed.py, batches
# of 2048 tokens); N prompts of LEN seeded random token ids. Needs sentence-transformers,
# llama-cpp-python and gguf from PyPI (not part of CI).
# Rounds alternate.
#   bench/cpu/run-encoder.sh [N=256] [LEN=128] [--base | --xlmr-large]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-256}
LEN=${2:-128}
BASE=${3:-}
NAME=bench-bert$([ "$BASE" = --base ] && echo -base || echo -minilm)
[ "$BASE" = --xlmr-large ] && NAME=bench-xlmr-large
[ -d "build/$NAME" ] || python3 bench/cpu/bert_model.py "build/$NAME" $BASE
build/bin/modelc "build/$NAME" -o "build/$NAME.plan"
for round in 1 2; do
  build/tools/modelrt/modelrt bench "build/$NAME.plan" --num-prompts "$N" --input-len "$LEN" \
    --output-len 1 --request-rate inf --scheduler iteration-level |
    grep -iE 'Benchmark duration|Request throughput|Total token throughput' | tr '\n' ' ' |
    sed "s/^/round $round modelrt $NAME: /"
  echo
  python3 bench/cpu/st_embed.py "$N" "$LEN" --dir "build/$NAME" 2>/dev/null | sed "s/^/round $round /"
  if [ -f "build/$NAME.gguf" ]; then
    python3 bench/cpu/llama_cpp_embed.py "build/$NAME.gguf" "$N" "$LEN" 2>/dev/null | sed "s/^/round $round /"
  fi
done
