// The executor's GEMM against oneDNN's sgemm on SmolLM2-135M's shapes (same machine, same
// run): rows = tokens in the iteration (1 = one decode; 512 = a prefill chunk).
//   build/runtime/engine/modelrt-gemm-bench --benchmark_counters_tabular=true
#include "runtime/engine/CpuGemm.h"

#include <benchmark/benchmark.h>
#ifdef MODELRT_BENCH_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#include <cstring>
#include <random>
#include <vector>

namespace {

using modelrt::engine::PackedWeight;

struct Operands {
  std::vector<float> in, w, out;
  Operands(int64_t rows, int64_t n, int64_t k) : in(rows * k), w(n * k), out(rows * n) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (float &x : in)
      x = dist(rng);
    for (float &x : w)
      x = dist(rng);
  }
};

void report(benchmark::State &state, int64_t rows, int64_t n, int64_t k) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * rows * n * k * state.iterations(), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
  state.counters["weight_GB/s"] = benchmark::Counter(
      4.0 * n * k * state.iterations(), benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_Modelrt(benchmark::State &state) {
  const int64_t rows = state.range(0), n = state.range(1), k = state.range(2);
  Operands o(rows, n, k);
  PackedWeight packed = PackedWeight::pack(o.w.data(), n, k);
  for (auto _ : state) {
    modelrt::engine::gemm(o.in.data(), k, rows, packed, nullptr, o.out.data(), n);
    benchmark::DoNotOptimize(o.out.data());
  }
  report(state, rows, n, k);
}

// The same with GGUF-quantized weights (random blocks), as SmolLM2's Q4_1 layers and Q8_0
// embeddings, and FP8 checkpoints' F8_E4M3_B32 blocks; weight_GB/s counts the block bytes.
// Int8: --cpu-activations int8's integer dot products (Avx2: its AVX2 tiles even on an
// AVX-512 machine).
template <modelrt::DType dtype,
          modelrt::engine::GemmActivations act = modelrt::engine::GemmActivations::F32,
          modelrt::engine::GemmPath path = modelrt::engine::GemmPath::Best>
void BM_ModelrtQuantized(benchmark::State &state) {
  const int64_t rows = state.range(0), n = state.range(1), k = state.range(2);
  Operands o(rows, n, k);
  const modelrt::DTypeInfo &info = modelrt::dtypeInfo(dtype);
  std::vector<uint8_t> blocks(n * k / info.blockElements * info.blockBytes);
  std::mt19937 rng(2);
  for (uint8_t &b : blocks)
    b = static_cast<uint8_t>(rng());
  for (size_t at = 0; at < blocks.size(); at += info.blockBytes) {
    if (dtype == modelrt::DType::F8E4M3_B32) { // an f32 scale; E4M3 codes, never NaN
      const float d = 0.002f;
      std::memcpy(&blocks[at], &d, 4);
      for (size_t j = 4; j < info.blockBytes; ++j)
        if ((blocks[at + j] & 0x7F) == 0x7F)
          blocks[at + j] = 0x7E;
      continue;
    }
    blocks[at] = 0x00; // f16 scales and minimums of about 0.002, never NaN
    blocks[at + 1] = 0x18;
    if (dtype == modelrt::DType::Q4_1 || dtype == modelrt::DType::Q4_K) {
      blocks[at + 2] = 0x00;
      blocks[at + 3] = 0x98;
    }
  }
  modelrt::Expected<PackedWeight> packed =
      PackedWeight::pack(dtype, blocks.data(), blocks.size(), n, k, act);
  if (!packed) {
    state.SkipWithError(packed.error().message().c_str());
    return;
  }
  for (auto _ : state) {
    modelrt::engine::gemm(o.in.data(), k, rows, *packed, nullptr, o.out.data(), n, path);
    benchmark::DoNotOptimize(o.out.data());
  }
  report(state, rows, n, k);
  state.counters["weight_GB/s"] =
      benchmark::Counter(double(blocks.size()) * state.iterations(), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}

#ifdef MODELRT_BENCH_ONEDNN
void BM_OneDnn(benchmark::State &state) {
  const int64_t rows = state.range(0), n = state.range(1), k = state.range(2);
  Operands o(rows, n, k);
  for (auto _ : state) {
    // Row-major out[rows, n] = in[rows, k] * w[n, k]^T.
    dnnl_sgemm('N', 'T', rows, n, k, 1.0f, o.in.data(), k, o.w.data(), k, 0.0f, o.out.data(), n);
    benchmark::DoNotOptimize(o.out.data());
  }
  report(state, rows, n, k);
}
#endif

// SmolLM2-135M: QKV (960 x 576), o_proj (576 x 576), gate+up (3072 x 576), down (576 x 1536),
// logits (49152 x 576).
void shapes(benchmark::internal::Benchmark *b) {
  for (int64_t rows : {1, 16, 64, 512})
    for (auto [n, k] : {std::pair<int64_t, int64_t>{960, 576}, {3072, 576}, {576, 1536}})
      b->Args({rows, n, k});
  b->Args({1, 49152, 576});
  b->Args({16, 49152, 576});
  b->UseRealTime();
}

// Llama-3.2-1B: gate+up (16384 x 2048), down (2048 x 8192), one decode row and a prefill.
void llama1b(benchmark::internal::Benchmark *b) {
  for (int64_t rows : {1, 512})
    for (auto [n, k] : {std::pair<int64_t, int64_t>{16384, 2048}, {2048, 8192}})
      b->Args({rows, n, k});
  b->UseRealTime();
}

BENCHMARK(BM_Modelrt)->Apply(shapes);
BENCHMARK(BM_ModelrtQuantized<modelrt::DType::Q4_1>)->Apply(shapes);
BENCHMARK(BM_ModelrtQuantized<modelrt::DType::Q8_0>)->Apply(shapes);
BENCHMARK(BM_ModelrtQuantized<modelrt::DType::F8E4M3_B32>)->Apply(shapes);
using modelrt::engine::GemmActivations;
using modelrt::engine::GemmPath;
BENCHMARK(BM_ModelrtQuantized<modelrt::DType::Q4_0>)->Apply(llama1b);
BENCHMARK(BM_ModelrtQuantized<modelrt::DType::Q4_0, GemmActivations::Int8>)->Apply(llama1b);
BENCHMARK(BM_ModelrtQuantized<modelrt::DType::Q4_0, GemmActivations::Int8, GemmPath::Avx2>)
    ->Apply(llama1b);
BENCHMARK(BM_ModelrtQuantized<modelrt::DType::Q4_K>)->Apply(llama1b);
BENCHMARK(BM_ModelrtQuantized<modelrt::DType::Q4_K, GemmActivations::Int8>)->Apply(llama1b);
BENCHMARK(BM_ModelrtQuantized<modelrt::DType::Q4_K, GemmActivations::Int8, GemmPath::Avx2>)
    ->Apply(llama1b);
#ifdef MODELRT_BENCH_ONEDNN
BENCHMARK(BM_OneDnn)->Apply(shapes);
BENCHMARK(BM_OneDnn)->Apply(llama1b);
#endif

} // namespace

BENCHMARK_MAIN();
