// The CPU executor's paged attention kernel alone (runtime/engine/CpuAttention), one thread:
// a prompt's rows of one KV head's query heads attending causally to the prompt (tiles of
// kAttentionQueryTile rows, as the executor runs them), and one decode step of those heads at
// a context (one tile of heads of a KV head). Blocks of 16 positions in shuffled order.
//   build/runtime/engine/modelrt-attention-bench --benchmark_counters_tabular=true
// Arguments: head_dim, query heads per KV head, positions, KvCacheDType, key layout
// (0 transposed, 1 rows).
#include "runtime/engine/CpuAttention.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace {

using namespace modelrt::engine;

constexpr int64_t kBlockSize = 16;

// One KV head's cache of n positions (random, in shuffled blocks) and queries for every
// position and query head.
struct Cache {
  int64_t hd, group, n;
  KvLayout layout;
  std::vector<uint8_t> k, v;
  std::vector<KvBlockView> blocks;
  std::vector<float> q, out;
  Cache(int64_t hd, int64_t group, int64_t n, KvCacheDType dtype, KeyLayout keys)
      : hd(hd), group(group), n(n), layout{kBlockSize, dtype, keys} {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const int64_t numBlocks = (n + kBlockSize - 1) / kBlockSize, row = kvBytes(dtype, hd);
    k.resize(size_t(numBlocks * kBlockSize * row));
    v.resize(k.size());
    std::vector<float> x(static_cast<size_t>(hd));
    std::vector<int64_t> order(static_cast<size_t>(numBlocks));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t b = 0; b < numBlocks; ++b) {
      uint8_t *kb = k.data() + order[size_t(b)] * kBlockSize * row,
              *vb = v.data() + order[size_t(b)] * kBlockSize * row;
      for (int64_t s = 0; s < kBlockSize; ++s) {
        for (float &e : x)
          e = u(rng);
        if (keys == KeyLayout::Transposed)
          storeKeyTransposed(dtype, x.data(), hd, kBlockSize, s, kb);
        else
          encodeKvRow(dtype, x.data(), hd, kb + s * row);
        for (float &e : x)
          e = u(rng);
        encodeKvRow(dtype, x.data(), hd, vb + s * row);
      }
      blocks.push_back({kb, vb, row, row});
    }
    q.resize(size_t(n * group * hd));
    for (float &e : q)
      e = u(rng) * 0.2f;
    out.resize(q.size());
  }
};

Cache cacheFor(const benchmark::State &state) {
  return Cache(state.range(0), state.range(1), state.range(2),
               static_cast<KvCacheDType>(state.range(3)),
               state.range(4) ? KeyLayout::Rows : KeyLayout::Transposed);
}

// Every row of an n-token prompt, every query head of the KV head.
void BM_Prefill(benchmark::State &state) {
  Cache c = cacheFor(state);
  AttentionScratch scratch;
  const float scale = 1.0f / std::sqrt(float(c.hd));
  for (auto _ : state) {
    for (int64_t h = 0; h < c.group; ++h)
      for (int64_t i = 0; i < c.n; i += kAttentionQueryTile) {
        const QueryTile tile{c.q.data() + (h * c.n + i) * c.hd, c.hd,
                             c.out.data() + (h * c.n + i) * c.hd, c.hd,
                             std::min(kAttentionQueryTile, c.n - i), i, 1, nullptr, 0};
        attendTile(tile, {}, c.blocks.data(), c.layout, {c.hd, c.hd}, scale, 0.0f, scratch);
      }
    benchmark::DoNotOptimize(c.out.data());
  }
  // Causal: each head's scores and weighted values over n (n + 1) / 2 pairs, 2 flops each.
  state.counters["GFLOP/s"] = benchmark::Counter(
      4.0 * c.hd * c.group * (c.n * (c.n + 1) / 2) * state.iterations(),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// One decode step: the KV head's query heads at position n - 1, as one tile (or one row).
void BM_Decode(benchmark::State &state) {
  Cache c = cacheFor(state);
  AttentionScratch scratch;
  const float scale = 1.0f / std::sqrt(float(c.hd));
  for (auto _ : state) {
    const QueryTile tile{c.q.data(), c.hd, c.out.data(), c.hd, c.group, c.n - 1, 0, nullptr,
                         0};
    attendTile(tile, {}, c.blocks.data(), c.layout, {c.hd, c.hd}, scale, 0.0f, scratch);
    benchmark::DoNotOptimize(c.out.data());
  }
  state.counters["ns/position"] = benchmark::Counter(
      double(c.n) * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert,
      benchmark::Counter::kIs1000);
  state.counters["KV_GB/s"] = benchmark::Counter(
      2.0 * double(kvBytes(c.layout.dtype, c.hd)) * c.n * state.iterations(),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

constexpr int64_t F32 = int64_t(KvCacheDType::F32), BF16 = int64_t(KvCacheDType::BF16),
                  Q8 = int64_t(KvCacheDType::Q8_0);

// SmolLM2-135M (head_dim 64, 3 query heads per KV head), Llama-3.2-1B (64, 4), Llama-3-8B
// (128, 4).
BENCHMARK(BM_Prefill)
    ->ArgNames({"hd", "group", "n", "dtype", "rows"})
    ->Args({64, 3, 1024, F32, 0})
    ->Args({64, 3, 1024, F32, 1})
    ->Args({64, 3, 4096, F32, 0})
    ->Args({64, 3, 4096, BF16, 0})
    ->Args({128, 4, 2048, F32, 0})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Decode)
    ->ArgNames({"hd", "group", "n", "dtype", "rows"})
    ->Args({64, 3, 4096, F32, 0})
    ->Args({64, 3, 4096, F32, 1})
    ->Args({64, 3, 4096, BF16, 0})
    ->Args({64, 3, 4096, Q8, 0})
    ->Args({64, 1, 4096, F32, 0})
    ->Args({128, 4, 4096, F32, 0})
    ->Args({128, 4, 32768, BF16, 0})
    ->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
