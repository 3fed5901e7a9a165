#!/usr/bin/env bash
# LoRA adapters on the CPU: SmolLM2-135M's shapes (models/smollm2-135m-instruct.json, dummy
# weights) with rank-16 adapters on all seven linears of every layer (bench/cpu/lora_adapters.py,
# written by PEFT). modelrt bench without adapters, with one, and with four in turn (request i
# runs adapter i mod 4, all batched together); the peer is transformers with PEFT's unmerged
# adapter (batch 1). Needs torch, transformers and peft from PyPI (not part of CI).
#   bench/cpu/run-lora.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
MANIFEST=models/smollm2-135m-instruct.json
DIR=build/bench-lora
[ -d "$DIR/lora-3" ] || python3 bench/cpu/lora_adapters.py "$MANIFEST" "$DIR" 4 16 >/dev/null
PLAN=build/bench-smollm2-dummy.plan
[ -f "$PLAN" ] || build/bin/modelc "$MANIFEST" --dummy-weights -o "$PLAN"
ONE="--lora-modules a=$DIR/lora-0"
FOUR="--lora-modules a=$DIR/lora-0 b=$DIR/lora-1 c=$DIR/lora-2 d=$DIR/lora-3"
bench() { build/tools/modelrt/modelrt bench "$PLAN" --request-rate inf --scheduler iteration-level "$@"; }
for round in 1 2; do
  for adapters in "" "$ONE" "$FOUR"; do
    label=${adapters:+$(echo "$adapters" | wc -w | awk '{print $1 - 1}') adapter(s)}
    label=${label:-no adapter}
    # shellcheck disable=SC2086
    bench --num-prompts 1 --input-len 64 --output-len 64 $adapters | grep 'Mean TPOT' | sed "s/^/modelrt batch 1, $label: /"
    # shellcheck disable=SC2086
    bench --num-prompts 16 --input-len 64 --output-len 32 $adapters | grep -E 'Output token throughput|Mean TTFT' | sed "s/^/modelrt 16 requests, $label: /"
  done
  python3 bench/cpu/hf_generate.py --manifest "$MANIFEST" 64 64 2>/dev/null | sed "s/^/peer, no adapter: /"
  python3 bench/cpu/hf_generate.py --manifest "$MANIFEST" 64 64 --lora "$DIR/lora-0" 2>/dev/null | sed "s/^/peer, PEFT adapter: /"
done
