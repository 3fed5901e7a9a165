#!/usr/bin/env bash
# modelrt generate against Hugging Face transformers on the same machine, model, prompt
# and token count (SmolLM2-135M-Instruct, greedy). Peers: llama.cpp (llama-cpp-python) on
# the same quantized file, and transformers in float32. Needs llama-cpp-python, torch,
# transformers, gguf and accelerate from PyPI (not part of CI).  bench/cpu/run.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-64}
GGUF=${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}
# The default plan keeps the GGUF's Q4_1/Q8_0 blocks; the dense one holds f32 weights.
build/bin/modelc "$GGUF" -o build/bench-smollm2.plan
build/bin/modelc "$GGUF" --weight-format=dense -o build/bench-smollm2-dense.plan
for plan in bench-smollm2 bench-smollm2-dense; do
  for i in 1 2 3; do
    build/tools/modelrt/modelrt generate build/$plan.plan --tokenizer "$GGUF" \
      -p "The capital of France is" -n "$N" --ignore-eos 2>&1 >/dev/null | sed "s/^/modelrt $plan: /"
  done
done
for i in 1 2 3; do python3 bench/cpu/llama_cpp_generate.py "$GGUF" "$N" 2>/dev/null || true; done
for i in 1 2 3; do python3 bench/cpu/hf_generate.py "$GGUF" "$N" 2>/dev/null || true; done
# A 512-token prompt (prefill): modelrt's time to first token against llama.cpp's prompt eval.
for i in 1 2 3; do
  build/tools/modelrt/modelrt bench build/bench-smollm2.plan --num-prompts 1 --input-len 512 \
    --output-len 1 --request-rate inf --scheduler iteration-level 2>&1 | grep 'Mean TTFT' | sed 's/^/modelrt prefill 512: /'
done
python3 bench/cpu/llama_cpp_prefill.py "$GGUF" 512 2>/dev/null || true
# The same model requantized by llama.cpp to Q4_K_M (K-quant blocks), both on that file.
Q4KM=build/bench-smollm2-q4km.gguf
python3 bench/cpu/requantize.py "$GGUF" "$Q4KM" Q4_K_M 2>/dev/null
build/bin/modelc "$Q4KM" -o build/bench-smollm2-q4km.plan
for i in 1 2 3; do
  build/tools/modelrt/modelrt generate build/bench-smollm2-q4km.plan -p "The capital of France is" \
    -n "$N" --ignore-eos 2>&1 >/dev/null | sed "s/^/modelrt q4_k_m: /"
  python3 bench/cpu/llama_cpp_generate.py "$Q4KM" "$N" 2>/dev/null | sed "s/^/q4_k_m: /" || true
done
