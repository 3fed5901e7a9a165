#!/usr/bin/env bash
# GPU check of the CUDA kernel library (runtime/device/cuda): build, GoogleTest, long-context
# comparison with PyTorch, microbenchmarks against PyTorch peers; a table is printed last.
#
# Two steps:
#   bash scripts/gpu-check.sh --prepare     HERE (no GPU needed): fills .carry/ with
#                                           GoogleTest's sources and nlohmann-json's header and
#                                           CMake config, which the GPU machine lacks.
#   bash scripts/gpu-check.sh OUT_DIR [--quick]
#                                           ON THE GPU MACHINE: logs go to OUT_DIR.
# Device tool call (one call of a few minutes):
#   run(command="GPU_CHECK_BUDGET=560 bash scripts/gpu-check.sh $OUT", carry=[".carry"], timeout_s=600)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARRY="$ROOT/.carry"

if [[ "${1:-}" == "--prepare" ]]; then
  set -e
  grep -qxF '/.carry/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.carry/' >>"$ROOT/.git/info/exclude"
  rm -rf "$CARRY/googletest" "$CARRY/nlohmann"
  mkdir -p "$CARRY/nlohmann/include" "$CARRY/nlohmann/share/cmake"
  cp -r /usr/src/googletest "$CARRY/googletest"
  cp -r /usr/include/nlohmann "$CARRY/nlohmann/include/"
  cp -r /usr/share/cmake/nlohmann_json "$CARRY/nlohmann/share/cmake/"
  # The test and benchmark programs are built here too (same nvcc, sm_90) and carried, so the
  # device call skips its build stages when they run there; it builds them itself otherwise.
  GPU_CHECK_JOBS="${GPU_CHECK_JOBS:-2}" GPU_CHECK_BUILD_ONLY=1 bash "$0" "$ROOT/build-gpu-prepare-logs" >/dev/null
  rm -rf "${CARRY:?}/bin" && mkdir -p "$CARRY/bin"
  cp "$ROOT/build-gpu/unittests/device/DeviceCudaTests" "$ROOT/build-gpu/unittests/device/modelrt-attention-dump" \
    "$ROOT/build-gpu/unittests/device/modelrt-ptx-check" \
    "$ROOT/build-gpu/unittests/device/CudaExecutorTests" \
    "$ROOT/build-gpu/runtime/device/cuda/bench/modelrt-cuda-bench" "$CARRY/bin/"
  # The generated CUDA kernels (modelc --emit=ptx) and, for each, the CPU kernel of the same
  # fused body run on random rows (the GPU machine has no MLIR: both are made here).
  MAIN="${MODELC_BUILD_DIR:-$ROOT/build}"
  MODELC_BUILD_DIR="$MAIN" bash "$ROOT/scripts/build.sh" modelc modelrt-fused-cases >/dev/null
  rm -rf "$CARRY/fused" && mkdir -p "$CARRY/fused"
  fused_cases() { # fused_cases NAME MODEL [modelrt-fused-cases options]
    local dir="$CARRY/fused/$1"
    "$MAIN/bin/modelc" "$2" -o "$dir.plan" &&
      "$MAIN/unittests/kernels/modelrt-fused-cases" "$dir.plan" "$dir" "${@:3}" &&
      "$MAIN/bin/modelc" "$2" --emit=ptx --cuda-arch=sm_90 >"$dir/kernels.ptx" && rm "$dir.plan"
  }
  for m in tiny-llama tiny-qwen2 tiny-gpt2; do fused_cases "$m" "$ROOT/models/$m.json"; done
  # Plans for the CUDA executor (CudaExecutorTests): bf16 with sm_90's cubin (and PTX); the
  # same for sm_80 only, whose PTX the driver compiles on Hopper; an f32 one it must refuse.
  rm -rf "$CARRY/plans" && mkdir -p "$CARRY/plans"
  "$MAIN/bin/modelc" "$ROOT/models/tiny-llama-hd64.json" --target cuda --dtype bf16 --cuda-arch sm_90 \
    -o "$CARRY/plans/tiny-llama-hd64-bf16.plan"
  "$MAIN/bin/modelc" "$ROOT/models/tiny-llama-hd64.json" --target cuda --dtype bf16 --cuda-arch sm_80 \
    -o "$CARRY/plans/tiny-llama-hd64-bf16-sm80.plan"
  "$MAIN/bin/modelc" "$ROOT/models/tiny-qwen3.json" --target cuda --dtype bf16 --cuda-arch sm_90 \
    -o "$CARRY/plans/tiny-qwen3-bf16.plan"
  "$MAIN/bin/modelc" "$ROOT/models/tiny-gemma3.json" --target cuda --dtype bf16 --cuda-arch sm_90 \
    -o "$CARRY/plans/tiny-gemma3-bf16.plan"
  "$MAIN/bin/modelc" "$ROOT/models/tiny-qwen3-moe.json" --target cuda --dtype bf16 --cuda-arch sm_90 \
    -o "$CARRY/plans/tiny-qwen3-moe-bf16.plan"
  "$MAIN/bin/modelc" "$ROOT/models/tiny-gpt-oss.json" --target cuda --dtype bf16 --cuda-arch sm_90 \
    -o "$CARRY/plans/tiny-gpt-oss-bf16.plan"
  "$MAIN/bin/modelc" "$ROOT/models/tiny-llama-hd64.json" --dummy-weights \
    -o "$CARRY/plans/tiny-llama-hd64-f32.plan"
  # Llama-3-8B's shapes with dummy weights (1.5 MB; modelrt fills 16 GB at load) for the
  # serving benchmark against transformers.
  "$MAIN/bin/modelc" "$ROOT/models/llama-3-8b.json" --dummy-weights --target cuda --dtype bf16 \
    --cuda-arch sm_90 --max-seq-len 2048 -o "$CARRY/plans/llama-3-8b-dummy-bf16.plan"
  # modelrt itself with the CUDA executor (sm_90, no MPI) and the shared libraries it needs
  # beyond glibc and CUDA, for the end-to-end stages (the GPU machine has no Debian -dev
  # libraries to build it with).
  cmake -S "$ROOT" -B "$ROOT/build-gpu-modelrt" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMODELC_BUILD_COMPILER=OFF -DMODELC_ENABLE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON -DMODELC_BUILD_TESTS=OFF >/dev/null
  ninja -C "$ROOT/build-gpu-modelrt" -j"${GPU_CHECK_JOBS:-2}" modelrt >/dev/null
  rm -rf "$CARRY/modelrt" && mkdir -p "$CARRY/modelrt/lib"
  cp "$ROOT/build-gpu-modelrt/tools/modelrt/modelrt" "$CARRY/modelrt/"
  ldd "$CARRY/modelrt/modelrt" | awk '$3 ~ /^\// {print $3}' |
    grep -vE '/(libc|libm|libdl|libpthread|librt|ld-linux-x86-64)\.so|/cuda' |
    xargs -r cp -L -t "$CARRY/modelrt/lib/"
  SMOL="${MODELC_SMOLLM2_GGUF:-$HOME/.cache/modelc/SmolLM2-135M-Instruct.Q4_1.gguf}"
  [[ -f "$SMOL" ]] && fused_cases smollm2 "$SMOL" --max-kernels 6
  du -sh "$CARRY"
  echo "prepared $CARRY; now: run(command=\"GPU_CHECK_BUDGET=560 bash scripts/gpu-check.sh \$OUT\", carry=[\".carry\"], timeout_s=600)"
  exit 0
fi

if [[ "${1:-}" == "--compare-cases" ]]; then
  # Long contexts (up to 32k) against PyTorch: our kernels' outputs written by
  # modelrt-attention-dump, checked by unittests/device/torch_compare.py.
  BIN="$2"
  CASES=/tmp/modelrt-attention-cases
  rm -rf "$CASES"
  # Each case on its own (a failing or hanging dump fails its case, not the others).
  FAILED=0
  dump() {
    mkdir -p "$CASES/$1" && timeout 60 "$BIN/modelrt-attention-dump" "$CASES/$1" "${@:2}" ||
      { echo "FAIL $1: modelrt-attention-dump failed"; rm -rf "${CASES:?}/$1"; FAILED=1; }
  }
  dump decode_bf16_32k --dtype bf16 --heads 32 --kv-heads 8 --head-dim 128 --seqs 1:32768,1:1,1:4097
  dump decode_f16_g7_16k --dtype f16 --heads 28 --kv-heads 4 --head-dim 128 --seqs 1:16000,1:333
  dump decode_bf16_d80_window --dtype bf16 --heads 20 --kv-heads 4 --head-dim 80 --seqs 1:8192,1:1000 --window 4096
  dump prefill_bf16_chunk_32k --dtype bf16 --heads 32 --kv-heads 8 --head-dim 128 --seqs 512:32768
  dump prefill_f16_d64_mixed --dtype f16 --heads 16 --kv-heads 16 --head-dim 64 --seqs 4096:4096,1:2000,100:3000
  dump prefill_f16_d96_window --dtype f16 --heads 24 --kv-heads 8 --head-dim 96 --seqs 1000:5000,7:7 --window 1024
  # the kernels the defaults replaced on Hopper (2026-11-27): the register decode kernel
  # (variant 4, simt) and the mma.sync prefill kernel (variant 3, mma_sync)
  dump decode_simt_bf16_32k --dtype bf16 --heads 32 --kv-heads 8 --head-dim 128 --seqs 1:32768,1:1,1:4097 --variant 4
  dump prefill_mma_sync_bf16_chunk_32k --dtype bf16 --heads 32 --kv-heads 8 --head-dim 128 --seqs 512:32768 --variant 3
  # the warp-specialized Hopper prefill kernels (variants 4 wgmma_ws and 5, persistent;
  # 2026-11-27), candidates
  dump prefill_wgmma_ws_bf16_chunk_32k --dtype bf16 --heads 32 --kv-heads 8 --head-dim 128 --seqs 512:32768,300:2000 --variant 4
  dump prefill_wgmma_ws_persistent_f16_d64 --dtype f16 --heads 16 --kv-heads 16 --head-dim 64 --seqs 4096:4096,1:2000,100:3000 --variant 5
  # ... and their TMA versions (variants 6 and 7)
  dump prefill_wgmma_ws_tma_bf16_chunk_32k --dtype bf16 --heads 32 --kv-heads 8 --head-dim 128 --seqs 512:32768,300:2000 --variant 6
  dump prefill_wgmma_ws_persistent_tma_f16_d64 --dtype f16 --heads 16 --kv-heads 16 --head-dim 64 --seqs 4096:4096,1:2000,100:3000 --variant 7
  python3 "$ROOT/unittests/device/torch_compare.py" "$CASES"/*
  rc=$?
  ((FAILED)) && rc=1
  rm -rf "$CASES"
  exit $rc
fi

OUT="${1:?usage: gpu-check.sh OUT_DIR [--quick] [--profile] | --prepare}"
QUICK="" PROFILE=""
for a in "${@:2}"; do
  case "$a" in
  --quick) QUICK=--quick ;;
  --profile) PROFILE=1 ;; # Nsight Compute on the default decode and prefill kernels
  *) echo "unknown option $a" && exit 2 ;;
  esac
done
mkdir -p "$OUT"
cd "$ROOT"
BUILD="$ROOT/build-gpu"
JOBS="${GPU_CHECK_JOBS:-16}" # GPU_CHECK_JOBS=1 GPU_CHECK_BUILD_ONLY=1: the build stages alone, on a small CPU
BIN="$BUILD/unittests/device"
STATUS=()
# The whole call has a limit (the device tool's timeout_s): stages share a budget, so the
# summary and the log archive are always written. A stage gets at most what is left.
DEADLINE=$((SECONDS + ${GPU_CHECK_BUDGET:-480}))
stage() { # stage NAME SECONDS LOG COMMAND...: runs with a time limit, records the exit code
  local name=$1 limit=$2 log=$3
  shift 3
  local left=$((DEADLINE - SECONDS))
  if ((left < 20)); then
    echo "==== $name skipped (out of budget)"
    STATUS+=("$name=skipped")
    return 125
  fi
  ((limit > left)) && limit=$left
  echo "==== $name ($(date +%T))"
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  STATUS+=("$name=$rc")
  return "$rc"
}

{ nvidia-smi; nvcc --version; cmake --version | head -1; python3 -c 'import torch; print("torch", torch.__version__)'; } >"$OUT/machine.txt" 2>&1
head -20 "$OUT/machine.txt"

[[ -d "$CARRY/googletest" && -d "$CARRY/nlohmann" ]] || {
  echo "missing $CARRY: run 'bash scripts/gpu-check.sh --prepare' before the device call and carry .carry"
  exit 2
}

TESTS="$BUILD/unittests/device/DeviceCudaTests"
BENCH="$BUILD/runtime/device/cuda/bench/modelrt-cuda-bench"
if [[ -z "${GPU_CHECK_BUILD_ONLY:-}" && -x "$CARRY/bin/DeviceCudaTests" ]] &&
  "$CARRY/bin/DeviceCudaTests" --gtest_list_tests >/dev/null 2>"$OUT/prebuilt.log"; then
  echo "==== using the programs built by --prepare ($CARRY/bin)"
  BIN="$CARRY/bin" TESTS="$CARRY/bin/DeviceCudaTests" BENCH="$CARRY/bin/modelrt-cuda-bench"
  STATUS+=("build=prebuilt")
else
  # GoogleTest is built and installed from the carried sources first, then found by
  # find_package(GTest): the top-level MODELC_GTEST_SOURCE_DIR path re-creates the GTest::gtest
  # aliases that googletest >= 1.11 already defines, which stops the configure.
  GTEST_PREFIX="$BUILD-gtest/install"
  stage gtest 90 "$OUT/build.log" bash -c "cmake -S '$CARRY/googletest' -B '$BUILD-gtest' -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_GMOCK=OFF -DCMAKE_INSTALL_PREFIX='$GTEST_PREFIX' \
    -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_POSITION_INDEPENDENT_CODE=ON && ninja -C '$BUILD-gtest' -j$JOBS install" || exit 1
  stage configure 60 "$OUT/build.log" cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMODELC_BUILD_COMPILER=OFF -DMODELC_RUNTIME_COMPONENTS="formats;kv;plan;device" -DMODELC_ENABLE_CUDA=ON \
    -DGTest_DIR="$GTEST_PREFIX/lib/cmake/GTest" \
    -Dnlohmann_json_DIR="$CARRY/nlohmann/share/cmake/nlohmann_json" \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DMODELC_CUDA_PTXAS_VERBOSE=ON || exit 1
  # Only our targets: the other runtime components are not configured here.
  stage build 200 "$OUT/build.log" ninja -C "$BUILD" -j"$JOBS" DeviceCudaTests modelrt-attention-dump \
    modelrt-ptx-check modelrt-cuda-bench CudaExecutorTests || exit 1
  [[ -n "${GPU_CHECK_BUILD_ONLY:-}" ]] && { echo "stages: ${STATUS[*]}"; exit 0; }
fi

stage gtest_cuda 180 "$OUT/ctest.log" "$TESTS" --gtest_brief=1 --gtest_filter='-*WarpSpecialized*'
# Candidate kernels not yet run on a GPU, in their own process (a hang or a trap takes
# nothing else with it).
stage gtest_candidates 120 "$OUT/ctest.log" "$TESTS" --gtest_brief=1 --gtest_filter='*WarpSpecialized*'


# modelc's generated CUDA kernels (PTX of kern.fused) against the CPU kernels of the same
# bodies (cases made by --prepare; the CPU kernels are the ones checked against transformers).
if compgen -G "$CARRY/fused/*/kernels.ptx" >/dev/null; then
  stage ptx_check 60 "$OUT/ptx_check.log" "$BIN/modelrt-ptx-check" "$CARRY"/fused/*/
fi

# The CUDA executor: a bf16 plan's program (generated PTX, cuBLASLt, our attention) against
# transformers' goldens, batched and alone (plans made by --prepare).
if [[ -f "$CARRY/plans/tiny-llama-hd64-bf16.plan" ]]; then
  stage cuda_executor 150 "$OUT/cuda_executor.log" env MODELRT_CUDA_PLAN_DIR="$CARRY/plans" \
    MODELC_SOURCE_DIR="$ROOT" "$BIN/CudaExecutorTests" --gtest_brief=0
fi

# Kernel microbenchmarks (ours, then the PyTorch peers on the same shapes).
stage bench 120 "$OUT/bench.log" "$BENCH" $QUICK
stage torch_peers 120 "$OUT/torch_peers.log" env PYTHONUNBUFFERED=1 python3 "$ROOT/bench/cuda/torch_peers.py" $QUICK

# The whole runtime on the GPU: modelrt bench (iteration-level scheduler, CUDA executor) on
# the bf16 plan, and ORCA's request-level baseline on the same kernels.
if [[ -x "$CARRY/modelrt/modelrt" && -f "$CARRY/plans/tiny-llama-hd64-bf16.plan" ]]; then
  # The carried libraries first, then CUDA's (the binary's RUNPATH is this machine's
  # /usr/local/cuda/lib), then whatever the GPU machine set (its driver may be found so).
  CUDA_LIBS=/usr/local/cuda/lib64:/usr/local/cuda/lib:/usr/local/cuda/targets/x86_64-linux/lib
  MODELRT=(env LD_LIBRARY_PATH="$CARRY/modelrt/lib:$CUDA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    "$CARRY/modelrt/modelrt")
  "${MODELRT[@]:0:2}" ldd "$CARRY/modelrt/modelrt" | grep 'not found' | tee -a "$OUT/modelrt_bench.log"
  stage modelrt_bench 90 "$OUT/modelrt_bench.log" "${MODELRT[@]}" bench \
    "$CARRY/plans/tiny-llama-hd64-bf16.plan" --device cuda --num-prompts 64 --input-len 128 \
    --output-len 64 --request-rate inf --scheduler both
  # Speculative decoding on the GPU: draft steps sampled on the host, the others on the GPU.
  stage modelrt_bench_speculative 60 "$OUT/modelrt_bench.log" "${MODELRT[@]}" bench \
    "$CARRY/plans/tiny-llama-hd64-bf16.plan" --device cuda --num-prompts 2 --input-len 64 \
    --output-len 64 --request-rate inf --scheduler iteration-level --num-speculative-tokens 4
fi

# Last (the longest): Llama-3-8B's shapes (bf16, dummy weights) served by modelrt alone
# (batch-1 TPOT) and 32 requests at once, then transformers' generate on the same shapes,
# then modelrt again with host sampling.
L8="$CARRY/plans/llama-3-8b-dummy-bf16.plan"
if [[ -n "${MODELRT[*]:-}" && -f "$L8" ]]; then
  stage modelrt_bench_8b_batch1 150 "$OUT/modelrt_bench_8b.log" "${MODELRT[@]}" bench "$L8" \
    --device cuda --num-prompts 1 --input-len 256 --output-len 64 --request-rate inf \
    --scheduler iteration-level
  stage modelrt_bench_8b 150 "$OUT/modelrt_bench_8b.log" "${MODELRT[@]}" bench "$L8" \
    --device cuda --num-prompts 32 --input-len 256 --output-len 64 --request-rate inf \
    --scheduler iteration-level
  stage hf_peer_8b 180 "$OUT/hf_peer_8b.log" env PYTHONUNBUFFERED=1 python3 "$ROOT/bench/cuda/hf_generate_peer.py" \
    "$ROOT/models/llama-3-8b.json" --num-prompts 32 --input-len 256 --output-len 64
  # The same two with batch-invariant GEMMs (one cuBLASLt algorithm per weight for every
  # row count): what that costs end to end. (--enforce-eager against graphs was measured on
  # 2026-11-27 and is no longer run here.)
  stage modelrt_bench_8b_batch1_invariant 90 "$OUT/modelrt_bench_8b_invariant.log" "${MODELRT[@]}" \
    bench "$L8" --device cuda --batch-invariant-gemm --num-prompts 1 --input-len 256 \
    --output-len 64 --request-rate inf --scheduler iteration-level
  stage modelrt_bench_8b_invariant 90 "$OUT/modelrt_bench_8b_invariant.log" "${MODELRT[@]}" bench \
    "$L8" --device cuda --batch-invariant-gemm --num-prompts 32 --input-len 256 --output-len 64 \
    --request-rate inf --scheduler iteration-level
  # Longer prompts (the decode kernels read 1.5k-token contexts), then transformers on them.
  stage modelrt_bench_8b_long 90 "$OUT/modelrt_bench_8b.log" "${MODELRT[@]}" bench "$L8" \
    --device cuda --num-prompts 16 --input-len 1536 --output-len 128 --request-rate inf \
    --scheduler iteration-level
  stage hf_peer_8b_long 90 "$OUT/hf_peer_8b.log" env PYTHONUNBUFFERED=1 python3 "$ROOT/bench/cuda/hf_generate_peer.py" \
    "$ROOT/models/llama-3-8b.json" --num-prompts 16 --input-len 1536 --output-len 128
  # The same 32 requests with every logits row sent to the host sampler (the default samples
  # on the GPU): what keeping 128k-wide rows on the device saves per step.
  stage modelrt_bench_8b_host_sampling 150 "$OUT/modelrt_bench_8b_host.log" "${MODELRT[@]}" bench \
    "$L8" --device cuda --sampling host --num-prompts 32 --input-len 256 --output-len 64 \
    --request-rate inf --scheduler iteration-level
fi

# Long contexts against PyTorch last: these kernels passed it before (2026-11-26), so a
# short budget costs the least here.
stage torch_compare 200 "$OUT/torch_compare.log" bash "$0" --compare-cases "$BIN"

if [[ -n "$PROFILE" ]]; then
  for k in decodeMmaKernel prefillWgmmaKernel prefillWgmmaWsKernel; do
    stage "ncu_$k" 90 "$OUT/profile.log" ncu --kernel-name "regex:$k" --launch-count 1 \
      --section SpeedOfLight --section Occupancy --section WarpStateStats \
      --section ComputeWorkloadAnalysis "$BENCH" --quick
    # Why warps wait, per issued instruction (the largest is the limiter).
    stage "ncu_stalls_$k" 90 "$OUT/profile.log" ncu --kernel-name "regex:$k" --launch-count 1 \
      --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' \
      "$BENCH" --quick
  done
fi

echo "stages: ${STATUS[*]}" | tee "$OUT/summary.txt"
python3 "$ROOT/bench/cuda/summarize.py" "$OUT" | tee -a "$OUT/summary.txt"
# The device tool brings back at most 8 files: the summary, and the logs in one archive.
(cd "$OUT" && tar -czf logs.tgz -- *.log machine.txt && rm -f -- *.log machine.txt)
