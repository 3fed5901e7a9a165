#!/usr/bin/env bash
# modelrt's integer-dot GEMMs (--cpu-activations int8, llama.cpp's numerics) against its exact
# f32 path and llama.cpp on the same files: Llama-3.2-1B's layer shapes (bench/cpu/llama_gguf.py,
# seeded random weights, SmolLM2's tokenizer) requantized by llama.cpp to Q4_K_M and Q4_0, and
# SmolLM2-135M-Instruct's Q4_1 file. Decode: 64 greedy tokens after a 5-token prompt; prefill:
# a 512-token prompt. Rounds interleave the implementations. Needs llama-cpp-python and gguf
# (PyPI; not part of CI).   bench/cpu/run-int8.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
GGUF=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
DIR=build/bench-int8
mkdir -p $DIR
[ -f $DIR/llama1b-q8_0.gguf ] || (cd bench/cpu && python3 llama_gguf.py "$GGUF" ../../$DIR/llama1b-q8_0.gguf)
for type in Q4_K_M Q4_0; do
  [ -f $DIR/llama1b-$type.gguf ] ||
    python3 bench/cpu/requantize.py $DIR/llama1b-q8_0.gguf $DIR/llama1b-$type.gguf $type 2>/dev/null
  build/bin/modelc $DIR/llama1b-$type.gguf -o $DIR/llama1b-$type.plan
done
build/bin/modelc "$GGUF" -o $DIR/smollm2.plan
RT=build/tools/modelrt/modelrt
for round in $(seq "$ROUNDS"); do
  for model in llama1b-Q4_K_M llama1b-Q4_0 smollm2; do
    file=$DIR/$model.gguf
    [ $model = smollm2 ] && file=$GGUF
    for act in int8 f32; do
      $RT generate $DIR/$model.plan -p "The capital of France is" -n 64 --ignore-eos \
        --cpu-activations $act 2>&1 >/dev/null | tail -1 | sed "s/^/$model modelrt $act decode: /"
    done
    python3 bench/cpu/llama_cpp_generate.py "$file" 64 2>/dev/null | sed "s/^/$model decode: /"
    [ $model = smollm2 ] && continue
    for act in int8 f32; do
      $RT bench $DIR/$model.plan --num-prompts 1 --input-len 512 --output-len 1 --request-rate inf \
        --scheduler iteration-level --cpu-activations $act 2>&1 | grep 'Mean TTFT' |
        sed "s/^/$model modelrt $act prefill 512: /"
    done
    python3 bench/cpu/llama_cpp_prefill.py "$file" 512 2>/dev/null | sed "s/^/$model prefill: /"
  done
done
