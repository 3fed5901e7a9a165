// modelrt-cuda-bench: times our kernels with CUDA events (median of repeats after warm-up)
// on random data and prints one "RESULT name value unit key=value..." line per measurement,
// which bench/cuda/summarize.py turns into the table of docs/benchmarks.md.
//   modelrt-cuda-bench [--quick] [--skip-variants NAME,NAME...]
// (--skip-variants: tuning variants not to time, e.g. those whose tests failed in the run.)
#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/CudaAttention.h"
#include "runtime/device/cuda/Gemm.h"
#include "runtime/device/cuda/Sampling.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using namespace modelrt;
using namespace modelrt::cuda;

namespace {

#define CHECK_CUDA(call)                                                                           \
  do {                                                                                             \
    cudaError_t _e = (call);                                                                       \
    if (_e != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(_e));  \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)

void check(const Status &st, const char *what) {
  if (!st) {
    std::fprintf(stderr, "%s: %s\n", what, st.error().toString().c_str());
    std::exit(1);
  }
}

// Uniform values in [lo, hi) from a counter hash: never zeros, no host round trip.
template <typename T>
__global__ void fillKernel(T *p, size_t n, uint32_t seed, float lo, float hi) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 0x9E3779B1u ^ seed;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    h *= 0x297A2D39u;
    h ^= h >> 15;
    float u = (h >> 8) * (1.0f / 16777216.0f);
    p[i] = T(lo + (hi - lo) * u);
  }
}
template <typename T> void fill(T *p, size_t n, uint32_t seed, float lo = -1, float hi = 1) {
  fillKernel<T><<<1024, 256>>>(p, n, seed, lo, hi);
  CHECK_CUDA(cudaGetLastError());
}

template <typename T> T *alloc(size_t n) {
  void *p = nullptr;
  CHECK_CUDA(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)));
  return static_cast<T *>(p);
}

// Median milliseconds of fn over `reps` timed runs after `warm` untimed ones.
double timeMs(const std::function<void()> &fn, int warm = 3, int reps = 20) {
  for (int i = 0; i < warm; ++i)
    fn();
  CHECK_CUDA(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  std::vector<float> ms(reps);
  for (int i = 0; i < reps; ++i) {
    CHECK_CUDA(cudaEventRecord(a));
    fn();
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    CHECK_CUDA(cudaEventElapsedTime(&ms[i], a, b));
  }
  CHECK_CUDA(cudaEventDestroy(a));
  CHECK_CUDA(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[reps / 2];
}

double copyBandwidth() {
  size_t bytes = size_t(1) << 30;
  char *src = alloc<char>(bytes), *dst = alloc<char>(bytes);
  CHECK_CUDA(cudaMemset(src, 1, bytes));
  double ms =
      timeMs([&] { CHECK_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice)); });
  double gbs = 2.0 * bytes / (ms * 1e-3) / 1e9; // read + write
  std::printf("RESULT copy_bandwidth %.1f GB/s bytes=%zu ms=%.4f\n", gbs, bytes, ms);
  CHECK_CUDA(cudaFree(src));
  CHECK_CUDA(cudaFree(dst));
  return gbs;
}

struct AttnSetup {
  AttentionShape shape;
  PagedKvLayout layout;
  AttentionBatch batch;
  AttentionArgs args;
  std::vector<void *> owned;
  ~AttnSetup() {
    for (void *p : owned)
      cudaFree(p);
  }
};

// Requests of (query rows, context tokens); pages scattered as in a real pool.
void setupAttention(AttnSetup &s, const std::vector<std::pair<int, int>> &seqs, int heads,
                    int kvHeads, int hd, ElementType type) {
  const int bs = 16, numSeqs = int(seqs.size());
  int blocksPerSeq = 1, totalBlocks = 0;
  for (auto [q, c] : seqs) {
    blocksPerSeq = std::max(blocksPerSeq, (c + bs - 1) / bs);
    totalBlocks += (c + bs - 1) / bs;
  }
  s.shape = {heads, kvHeads, hd, 1.0f / std::sqrt(float(hd)), 0};
  s.layout = {totalBlocks, kvHeads, bs, hd, type};
  std::vector<int32_t> qs(numSeqs + 1, 0), ctx(numSeqs), table(size_t(numSeqs) * blocksPerSeq, 0);
  std::vector<int32_t> pages(totalBlocks);
  std::iota(pages.begin(), pages.end(), 0);
  std::mt19937 rng(5);
  std::shuffle(pages.begin(), pages.end(), rng);
  int next = 0;
  for (int i = 0; i < numSeqs; ++i) {
    qs[i + 1] = qs[i] + seqs[i].first;
    ctx[i] = seqs[i].second;
    for (int b = 0; b < (ctx[i] + bs - 1) / bs; ++b)
      table[size_t(i) * blocksPerSeq + b] = pages[next++];
  }
  auto upload = [&](const std::vector<int32_t> &v) {
    int32_t *d = alloc<int32_t>(v.size());
    CHECK_CUDA(cudaMemcpy(d, v.data(), v.size() * 4, cudaMemcpyHostToDevice));
    s.owned.push_back(d);
    return d;
  };
  s.batch = AttentionBatch{};
  s.batch.queryStart = upload(qs);
  s.batch.contextLen = upload(ctx);
  s.batch.blockTable = upload(table);
  s.batch.maxBlocksPerSeq = blocksPerSeq;
  setHostBounds(s.batch, qs.data(), ctx.data(), numSeqs);
  size_t cache = size_t(s.layout.numBlocks) * kvHeads * bs * hd;
  size_t qElems = size_t(qs[numSeqs]) * heads * hd;
  __half *k = alloc<__half>(cache), *v = alloc<__half>(cache), *q = alloc<__half>(qElems),
         *o = alloc<__half>(qElems);
  s.owned.insert(s.owned.end(), {k, v, q, o});
  auto fillTyped = [&](__half *p, size_t n, uint32_t seed) {
    if (type == ElementType::BF16)
      fill(reinterpret_cast<__nv_bfloat16 *>(p), n, seed);
    else
      fill(p, n, seed);
  };
  fillTyped(k, cache, 1);
  fillTyped(v, cache, 2);
  fillTyped(q, qElems, 3);
  s.args = {q, int64_t(heads) * hd, o, int64_t(heads) * hd, k, v};
}

// numSeqs requests, each with queryLen new rows and contextLen tokens.
void setupAttention(AttnSetup &s, int numSeqs, int queryLen, int contextLen, int heads, int kvHeads,
                    int hd, ElementType type) {
  setupAttention(s, std::vector<std::pair<int, int>>(numSeqs, {queryLen, contextLen}), heads,
                 kvHeads, hd, type);
}

// forcedSplits > 0: every request takes that many splits (as the batch-dependent choice of
// before 2026-11-27 gave), to price the batch-invariant default beside it.
void benchDecode(double copyGbs, int numSeqs, int ctx, ElementType type, int sm, int variant = -1,
                 int heads = 32, int kvHeads = 8, int forcedSplits = 0) {
  AttnSetup s;
  setupAttention(s, numSeqs, 1, ctx, heads, kvHeads, 128, type);
  DecodeSplits splits =
      forcedSplits > 0 ? fixedDecodeSplits(forcedSplits) : chooseDecodeSplits(s.shape, s.batch, sm);
  size_t wsBytes = std::max<size_t>(decodeWorkspaceBytes(s.shape, s.batch, splits), 1);
  void *ws = alloc<char>(wsBytes);
  double ms = timeMs([&] {
    check(pagedAttentionDecodeVariant(s.shape, s.layout, s.batch, s.args, splits, ws, wsBytes,
                                      nullptr, std::max(variant, 0)),
          "decode");
  });
  double bytes = 2.0 * numSeqs * ctx * kvHeads * 128 * 2;
  double gbs = bytes / (ms * 1e-3) / 1e9;
  std::string heads_ = heads == 32 && kvHeads == 8
                           ? ""
                           : "_h" + std::to_string(heads) + "kv" + std::to_string(kvHeads);
  const std::string forced =
      forcedSplits > 0 ? "_forced_splits" + std::to_string(forcedSplits) : "";
  std::printf("RESULT %sdecode_%s_b%d_ctx%d%s%s%s%s %.1f GB/s ms=%.4f splits=%d of_copy=%.3f\n",
              variant >= 0 ? "variant_" : "", type == ElementType::F16 ? "f16" : "bf16", numSeqs,
              ctx, heads_.c_str(), forced.c_str(), variant >= 0 ? "_" : "",
              variant >= 0 ? decodeVariantName(variant) : "", gbs, ms, splits.count, gbs / copyGbs);
  CHECK_CUDA(cudaFree(ws));
}

void benchPrefill(int numSeqs, int len, int heads, int kvHeads, int hd, ElementType type,
                  int variant = -1) {
  AttnSetup s;
  setupAttention(s, numSeqs, len, len, heads, kvHeads, hd, type);
  size_t wsBytes = prefillWorkspaceBytes(s.batch);
  void *ws = alloc<char>(wsBytes);
  double ms = timeMs([&] {
    check(pagedAttentionPrefillVariant(s.shape, s.layout, s.batch, s.args, ws, wsBytes, nullptr,
                                       std::max(variant, 0)),
          "prefill");
  });
  // Causal: row i sees i + 1 keys; 2 flops per multiply-add, QK^T and PV.
  double flops = 4.0 * numSeqs * heads * hd * (double(len) * (len + 1) / 2);
  std::printf("RESULT %sprefill_%s_b%d_len%d_h%d_kv%d_d%d%s%s %.1f TFLOP/s ms=%.4f\n",
              variant >= 0 ? "variant_" : "", type == ElementType::F16 ? "f16" : "bf16", numSeqs,
              len, heads, kvHeads, hd, variant >= 0 ? "_" : "",
              variant >= 0 ? prefillVariantName(variant) : "", flops / (ms * 1e-3) / 1e12, ms);
  CHECK_CUDA(cudaFree(ws));
}

// A mixed step: one prompt chunk of `promptLen` rows beside `decodes` one-row requests, all
// at context `ctx`. pagedAttention (the default: prefill kernel for the chunk, decode kernel
// for the rows, the rows batch-invariant) against the prefill kernel alone for everything
// (before 2026-11-27: each decode row a 128-row tile).
void benchMixed(int decodes, int promptLen, int ctx, int sm) {
  AttnSetup s;
  std::vector<std::pair<int, int>> seqs(decodes, {1, ctx});
  seqs.push_back({promptLen, ctx});
  setupAttention(s, seqs, 32, 8, 128, ElementType::BF16);
  const size_t wsBytes =
      std::max(attentionWorkspaceBytes(s.shape, s.batch, sm), prefillWorkspaceBytes(s.batch));
  void *ws = alloc<char>(wsBytes);
  const double split = timeMs([&] {
    check(pagedAttention(s.shape, s.layout, s.batch, s.args, sm, ws, wsBytes, nullptr), "mixed");
  });
  const double one = timeMs([&] {
    check(pagedAttentionPrefillVariant(s.shape, s.layout, s.batch, s.args, ws, wsBytes, nullptr, 0),
          "mixed through prefill");
  });
  std::printf("RESULT mixed_bf16_decodes%d_prompt%d_ctx%d %.4f ms prefill_kernel_only_ms=%.4f\n",
              decodes, promptLen, ctx, split, one);
  CHECK_CUDA(cudaFree(ws));
}

// What a read-only stream achieves (decode attention only reads): 16-byte loads, folded.
__global__ void readKernel(const uint4 *p, size_t n, uint32_t *out) {
  uint32_t acc = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    uint4 v = __ldcs(p + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u)
    out[0] = acc;
}

void benchReadBandwidth(double copyGbs, int sm) {
  size_t bytes = size_t(1) << 30;
  uint4 *src = alloc<uint4>(bytes / 16);
  uint32_t *out = alloc<uint32_t>(1);
  fill(reinterpret_cast<float *>(src), bytes / 4, 11);
  double ms = timeMs([&] {
    readKernel<<<sm * 8, 512>>>(src, bytes / 16, out);
    CHECK_CUDA(cudaGetLastError());
  });
  double gbs = bytes / (ms * 1e-3) / 1e9;
  std::printf("RESULT read_bandwidth %.1f GB/s ms=%.4f of_copy=%.3f\n", gbs, ms, gbs / copyGbs);
  CHECK_CUDA(cudaFree(src));
  CHECK_CUDA(cudaFree(out));
}

// The tensor-core ceiling of mma.sync (what the prefill kernel issues): each warp runs
// chains of independent m16n8k16 bf16 products on registers, no memory traffic.
__global__ void mmaPeakKernel(float *out, int iters) {
  uint32_t a[4], b0 = 0x3f803f80u ^ threadIdx.x, b1 = 0x3f003f00u ^ threadIdx.x;
  for (int i = 0; i < 4; ++i)
    a[i] = 0x3c003c00u ^ (threadIdx.x * 2654435761u + i);
  float d[8][4] = {};
  for (int it = 0; it < iters; ++it) {
#pragma unroll
    for (int j = 0; j < 8; ++j)
      asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                   "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                   : "+f"(d[j][0]), "+f"(d[j][1]), "+f"(d[j][2]), "+f"(d[j][3])
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  float sum = 0.0f;
  for (int j = 0; j < 8; ++j)
    sum += d[j][0] + d[j][1] + d[j][2] + d[j][3];
  out[blockIdx.x * blockDim.x + threadIdx.x] = sum;
}

void benchMmaPeak(int sm) {
  const int blocks = sm * 4, threads = 256, iters = 4096;
  float *out = alloc<float>(size_t(blocks) * threads);
  double ms = timeMs([&] {
    mmaPeakKernel<<<blocks, threads>>>(out, iters);
    CHECK_CUDA(cudaGetLastError());
  });
  double flops = double(blocks) * (threads / 32) * iters * 8 * (2.0 * 16 * 8 * 16);
  std::printf("RESULT mma_sync_peak_bf16 %.1f TFLOP/s ms=%.4f\n", flops / (ms * 1e-3) / 1e12, ms);
  CHECK_CUDA(cudaFree(out));
}

void benchGemm(CublasLtGemm &gemm, int m, int n, int k, ElementType out) {
  const char *mode = gemm.batchInvariant() ? "gemm_invariant" : "gemm";
  __nv_bfloat16 *a = alloc<__nv_bfloat16>(size_t(m) * k), *w = alloc<__nv_bfloat16>(size_t(n) * k);
  void *c = alloc<char>(size_t(m) * n * (out == ElementType::F32 ? 4 : 2));
  fill(a, size_t(m) * k, 7);
  fill(w, size_t(n) * k, 8);
  size_t wsBytes = 32 << 20;
  void *ws = alloc<char>(wsBytes);
  GemmShape shape{m, n, k, ElementType::BF16, out, false};
  double ms =
      timeMs([&] { check(gemm.gemm(shape, a, w, nullptr, c, ws, wsBytes, nullptr), "gemm"); });
  // Weight bytes over time too: decode-sized products (small m) are bound by reading W.
  std::printf("RESULT %s_bf16_%s_m%d_n%d_k%d %.1f TFLOP/s ms=%.4f weight_GB/s=%.0f\n", mode,
              out == ElementType::F32 ? "f32out" : "bf16out", m, n, k,
              2.0 * m * n * k / (ms * 1e-3) / 1e12, ms, 2.0 * n * k / (ms * 1e-3) / 1e9);
  for (void *p : {static_cast<void *>(a), static_cast<void *>(w), c, ws})
    CHECK_CUDA(cudaFree(p));
}

void benchSampling(int batch, int vocab, const char *name, float temp, int topK, float topP,
                   float minP, int numTop) {
  float *logits = alloc<float>(size_t(batch) * vocab);
  fill(logits, size_t(batch) * vocab, 9, -8.0f, 8.0f);
  std::vector<float> t(batch, temp), p(batch, topP), mp(batch, minP);
  std::vector<int32_t> k(batch, topK);
  std::vector<uint64_t> seed(batch), step(batch, 0);
  std::iota(seed.begin(), seed.end(), 1);
  float *dt = alloc<float>(batch), *dp = alloc<float>(batch), *dmp = alloc<float>(batch);
  int32_t *dk = alloc<int32_t>(batch), *tokens = alloc<int32_t>(batch);
  uint64_t *ds = alloc<uint64_t>(batch), *dst = alloc<uint64_t>(batch);
  float *lp = alloc<float>(batch), *topLp = alloc<float>(size_t(batch) * 20);
  int32_t *topIds = alloc<int32_t>(size_t(batch) * 20);
  CHECK_CUDA(cudaMemcpy(dt, t.data(), batch * 4, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(dp, p.data(), batch * 4, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(dmp, mp.data(), batch * 4, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(dk, k.data(), batch * 4, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(ds, seed.data(), batch * 8, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(dst, step.data(), batch * 8, cudaMemcpyHostToDevice));
  SamplingParams sp{dt, dk, dp, dmp, ds, dst};
  SamplingOutput so{tokens, lp, topIds, topLp, numTop};
  double ms =
      timeMs([&] { check(sampleTokens(logits, vocab, batch, vocab, sp, so, nullptr), "sample"); });
  std::printf("RESULT sample_%s_b%d_v%d %.4f ms\n", name, batch, vocab, ms);
  for (void *ptr : std::vector<void *>{logits, dt, dp, dmp, dk, tokens, ds, dst, lp, topLp, topIds})
    CHECK_CUDA(cudaFree(ptr));
}

} // namespace

int main(int argc, char **argv) {
  bool quick = false;
  std::string skipList;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else if (std::strcmp(argv[i], "--skip-variants") == 0 && i + 1 < argc)
      skipList = "," + std::string(argv[++i]) + ",";
    else {
      std::fprintf(stderr, "usage: modelrt-cuda-bench [--quick] [--skip-variants A,B]\n");
      return 2;
    }
  }
  auto skipped = [&](const char *variantName) {
    return skipList.find("," + std::string(variantName) + ",") != std::string::npos;
  };
  int dev = 0, sm = 0;
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDevice(&dev));
  CHECK_CUDA(cudaGetDeviceProperties(&prop, dev));
  sm = prop.multiProcessorCount;
  std::printf("DEVICE %s sm=%d l2=%dMB\n", prop.name, sm, prop.l2CacheSize >> 20);
  double copy = copyBandwidth();
  benchReadBandwidth(copy, sm);
  benchMmaPeak(sm);
  benchDecode(copy, 64, 4096, ElementType::BF16, sm);
  benchDecode(copy, 64, 4096, ElementType::F16, sm);
  benchDecode(copy, 1, 32768, ElementType::BF16, sm);
  benchDecode(copy, 256, 1024, ElementType::BF16, sm);
  // What batch invariance costs: the split counts the batch-dependent choice gave these.
  benchDecode(copy, 64, 4096, ElementType::BF16, sm, -1, 32, 8, 2);
  benchDecode(copy, 1, 4096, ElementType::BF16, sm);
  benchDecode(copy, 1, 4096, ElementType::BF16, sm, -1, 32, 8, 16);
  benchMixed(63, 512, 4096, sm);
  benchMixed(255, 256, 1024, sm);
  benchPrefill(1, 4096, 32, 8, 128, ElementType::BF16);
  benchPrefill(8, 1024, 32, 8, 128, ElementType::BF16);
  if (!quick) {
    benchPrefill(1, 4096, 32, 32, 64, ElementType::F16);
    benchPrefill(1, 16384, 32, 8, 128, ElementType::BF16);
  }
  auto gemm = CublasLtGemm::create();
  check(gemm ? Status::success() : Status(gemm.error()), "cublasLtCreate");
  benchGemm(**gemm, 4096, 4096, 4096, ElementType::BF16);
  benchGemm(**gemm, 256, 14336, 4096, ElementType::BF16);
  benchGemm(**gemm, 64, 4096, 4096, ElementType::BF16);
  // Llama-3-8B's decode products (one and 32 rows; weights larger than the L2, so each
  // repetition reads them from memory): what a decode step's GEMMs get of the bandwidth.
  benchGemm(**gemm, 1, 28672, 4096, ElementType::BF16);
  benchGemm(**gemm, 1, 4096, 14336, ElementType::BF16);
  benchGemm(**gemm, 32, 28672, 4096, ElementType::BF16);
  benchGemm(**gemm, 256, 128256, 4096, ElementType::F32);
  {
    // Batch-invariant mode (one algorithm per weight for every row count): its cost.
    auto invariant = CublasLtGemm::create(true);
    check(invariant ? Status::success() : Status(invariant.error()), "cublasLtCreate");
    for (int m : {1, 32, 256, 4096})
      benchGemm(**invariant, m, 4096, 4096, ElementType::BF16);
    benchGemm(**invariant, 1, 28672, 4096, ElementType::BF16);
    benchGemm(**invariant, 32, 28672, 4096, ElementType::BF16);
    benchGemm(**gemm, 1, 4096, 4096, ElementType::BF16); // the default beside them
    benchGemm(**gemm, 32, 4096, 4096, ElementType::BF16);
    std::printf("INFO batch-invariant GEMM fallbacks: %zu\n", (*invariant)->invariantFallbacks());
  }
  benchSampling(256, 128256, "greedy", 0.0f, 0, 1.0f, 0.0f, 0);
  benchSampling(256, 128256, "topk50_topp0.9_t0.7", 0.7f, 50, 0.9f, 0.0f, 0);
  benchSampling(256, 128256, "topp0.95", 1.0f, 0, 0.95f, 0.0f, 0);
  benchSampling(256, 128256, "topp0.9_minp0.05_top5", 1.0f, 0, 0.9f, 0.05f, 5);
  // Tuning variants (head dim 128); variant 0 (the default) again shows the run's spread.
  for (int v = 0; v < kDecodeVariants; ++v) {
    if (skipped(decodeVariantName(v)))
      continue;
    benchDecode(copy, 64, 4096, ElementType::BF16, sm, v);
    benchDecode(copy, 1, 32768, ElementType::BF16, sm, v);
  }
  // The default beside the register kernel and the movmatrix kernel on the other goal shapes,
  // and on groups 8 (64/8 heads) and 1 (32/32), to choose the default per group.
  for (int v : {0, kDecodeVariantSimt, kDecodeVariantMmaMovmatrix}) {
    if (skipped(decodeVariantName(v)))
      continue;
    benchDecode(copy, 64, 4096, ElementType::F16, sm, v);
    benchDecode(copy, 256, 1024, ElementType::BF16, sm, v);
    benchDecode(copy, 64, 4096, ElementType::BF16, sm, v, 64, 8);
    benchDecode(copy, 64, 4096, ElementType::BF16, sm, v, 32, 32);
  }
  for (int v = 0; v < kPrefillVariants; ++v) {
    if (skipped(prefillVariantName(v)))
      continue;
    benchPrefill(1, 4096, 32, 8, 128, ElementType::BF16, v);
    benchPrefill(8, 1024, 32, 8, 128, ElementType::BF16, v);
  }
  // The default (Hopper, ping-pong) beside the other Hopper and mma.sync kernels on the other
  // goal shapes.
  for (int v :
       {0, kPrefillVariantWgmma, kPrefillVariantWgmmaWs, kPrefillVariantWgmmaWsPersistent,
        kPrefillVariantWgmmaWsTma, kPrefillVariantWgmmaWsPersistentTma, kPrefillVariantMmaSync}) {
    if (skipped(prefillVariantName(v)))
      continue;
    benchPrefill(1, 4096, 32, 32, 64, ElementType::F16, v);
    benchPrefill(1, 16384, 32, 8, 128, ElementType::BF16, v);
  }
  return 0;
}
