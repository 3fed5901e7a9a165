// Host helpers shared by the attention launchers.
#pragma once

#include "runtime/device/cuda/CudaAttention.h"

namespace modelrt::cuda {

// log2 of a power of two.
inline int log2Exact(int x) {
  int n = 0;
  while ((1 << n) < x)
    ++n;
  return n;
}

// Kernel parameters shared by decode and prefill, filled from the validated host arguments.
struct PagedKernelParams {
  const void *q;
  int64_t qStride;
  void *out;
  int64_t outStride;
  const void *kCache;
  const void *vCache;
  const int32_t *queryStart;
  const int32_t *contextLen;
  const int32_t *blockTable;
  int maxBlocksPerSeq;
  int numBlocks; // pages in the cache (the TMA maps' extent)
  int numHeads, numKvHeads, group;
  int blockSizeLog2;
  int window;
  float scaleLog2; // softmax scale * log2(e): the kernels use exp2
  const float *sinks; // [numHeads] or null (AttentionArgs::sinks)
};

// The share of a row's softmax denominator a head's sink takes, relative to the row's
// running maximum mUse (log2 domain, the scores' scale included): 2^(sink log2(e) - mUse);
// 0 without sinks. Every kernel's epilogue adds it to the row's sum before dividing.
#ifdef __CUDACC__
__device__ __forceinline__ float sinkShare(const PagedKernelParams &p, int head, float mUse) {
  return p.sinks ? exp2f(p.sinks[head] * 1.4426950408889634f - mUse) : 0.0f;
}
#endif

inline PagedKernelParams pagedKernelParams(const AttentionShape &shape, const PagedKvLayout &layout,
                                           const AttentionBatch &batch, const AttentionArgs &args) {
  PagedKernelParams p{};
  p.q = args.q;
  p.qStride = args.qRowStride;
  p.out = args.out;
  p.outStride = args.outRowStride;
  p.kCache = args.kCache;
  p.vCache = args.vCache;
  p.queryStart = batch.queryStart;
  p.contextLen = batch.contextLen;
  p.blockTable = batch.blockTable;
  p.maxBlocksPerSeq = batch.maxBlocksPerSeq;
  p.numBlocks = layout.numBlocks;
  p.numHeads = shape.numHeads;
  p.numKvHeads = shape.numKvHeads;
  p.group = shape.numHeads / shape.numKvHeads;
  p.blockSizeLog2 = log2Exact(layout.blockSize);
  p.window = shape.slidingWindow;
  p.scaleLog2 = shape.scale * 1.4426950408889634f;
  p.sinks = args.sinks;
  return p;
}

// Prefill: requests' query rows cut into tiles of BM rows, numbered flat across the batch.
struct PrefillParams : PagedKernelParams {
  const int32_t *tileStart; // [numSeqs + 1]: first flat tile of each request
  int numSeqs;
};

// The Hopper prefill kernels (PrefillAttentionWgmma.cu, sm_90a): tiles of
// kPrefillWgmmaRows rows, p.tileStart already filled for them. Unsupported where they were
// not built (no sm_90 in the CUDA architectures) or the device is not compute capability
// 9.0, or for head dims other than 64 and 128. Schedules: kPlain, two warpgroups that also
// gather K and V; kPingPong, those taking turns on the tensor cores (FlashAttention-3's
// schedule); kWarpSpecialized, ping-pong fed by a producer warpgroup through mbarriers, a
// block per query tile and head; kWarpSpecializedPersistent, the same with one block per
// multiprocessor walking the tiles (the next tile's loads overlap this one's end); the
// ...Tma ones with the producer loading K and V by TMA (one thread, a bulk copy per page and
// 64 head dims, straight into the swizzled tiles) instead of cp.async by 128 threads: pages
// of 8 to 128 tokens.
constexpr int kPrefillWgmmaRows = 128;
enum class WgmmaSchedule {
  kPlain,
  kPingPong,
  kWarpSpecialized,
  kWarpSpecializedPersistent,
  kWarpSpecializedTma,
  kWarpSpecializedPersistentTma
};
Status launchPrefillWgmma(const PrefillParams &p, const AttentionBatch &batch, int headDim,
                          ElementType type, WgmmaSchedule schedule, cudaStream_t stream);

// Query heads per kv head the kernels accept.
constexpr int kMaxQueryHeadsPerKvHead = 64;

// Query heads one decode block serves (a power of two up to 8); larger groups take several
// blocks per kv head.
int decodeHeadTile(int group);

// Kernel variants for tuning (bench/cuda): 0 is what pagedAttentionDecode /
// pagedAttentionPrefill run; the others are named by decodeVariantName / prefillVariantName.
// Decode 0 is the tensor-core kernel with P transposed by shuffles (every shape; 0.98 of the
// copy bandwidth on an H200, against 0.79 for the register kernel it replaced, 2026-11-27);
// kDecodeVariantSimt is that register kernel, kDecodeVariantMmaMovmatrix the tensor-core
// kernel with movmatrix (every shape); 1-3 exist for head dim 128 and groups 3-4 only.
// Prefill 0 is the Hopper ping-pong kernel where it runs (prefillWgmmaSupported), else the
// mma.sync kernel (kPrefillVariantMmaSync, every head dim); kPrefillVariantWgmma is the
// Hopper kernel without ping-pong, kPrefillVariantWgmmaWs the warp-specialized Hopper
// kernel (kPrefillVariantWgmmaWsPersistent on a persistent grid), 1 the mma.sync kernel
// with 16-row warps (head dim 128).
Status pagedAttentionDecodeVariant(const AttentionShape &shape, const PagedKvLayout &layout,
                                   const AttentionBatch &batch, const AttentionArgs &args,
                                   const DecodeSplits &splits, void *workspace,
                                   size_t workspaceBytes, cudaStream_t stream, int variant);
Status pagedAttentionPrefillVariant(const AttentionShape &shape, const PagedKvLayout &layout,
                                    const AttentionBatch &batch, const AttentionArgs &args,
                                    void *workspace, size_t workspaceBytes, cudaStream_t stream,
                                    int variant);
// The launchers behind those, for any batch: launchDecodeRows with onlySingleRows serves
// just the one-row requests (the others' blocks exit), launchPrefillRows with
// skipSingleRows just the others (the one-row requests get no tiles); pagedAttention runs
// both on a batch that holds both kinds.
Status launchDecodeRows(const AttentionShape &shape, const PagedKvLayout &layout,
                        const AttentionBatch &batch, const AttentionArgs &args,
                        const DecodeSplits &splits, void *workspace, size_t workspaceBytes,
                        cudaStream_t stream, int variant, bool onlySingleRows);
Status launchPrefillRows(const AttentionShape &shape, const PagedKvLayout &layout,
                         const AttentionBatch &batch, const AttentionArgs &args, void *workspace,
                         size_t workspaceBytes, cudaStream_t stream, int variant,
                         bool skipSingleRows);
constexpr int kDecodeVariants = 6, kPrefillVariants = 8;
constexpr int kDecodeVariantSimt = 4, kDecodeVariantMmaMovmatrix = 5;
inline const char *decodeVariantName(int v) {
  const char *names[] = {"default",          "nt4_5blocks", "nt2_6blocks",
                         "heads2_per_block", "simt",        "mma_movmatrix"};
  return v >= 0 && v < kDecodeVariants ? names[v] : "?";
}
constexpr int kPrefillVariantWgmma = 2, kPrefillVariantMmaSync = 3, kPrefillVariantWgmmaWs = 4,
              kPrefillVariantWgmmaWsPersistent = 5, kPrefillVariantWgmmaWsTma = 6,
              kPrefillVariantWgmmaWsPersistentTma = 7;
// The warp-specialized Hopper variants (their tests run apart: WarpSpecialized*).
inline bool prefillVariantIsWarpSpecialized(int v) {
  return v >= kPrefillVariantWgmmaWs && v <= kPrefillVariantWgmmaWsPersistentTma;
}
inline bool prefillVariantIsHopper(int v) {
  return v == kPrefillVariantWgmma || prefillVariantIsWarpSpecialized(v);
}
inline const char *prefillVariantName(int v) {
  const char *names[] = {"default",      "m16_bn64",
                         "wgmma",        "mma_sync",
                         "wgmma_ws",     "wgmma_ws_persistent",
                         "wgmma_ws_tma", "wgmma_ws_persistent_tma"};
  return v >= 0 && v < kPrefillVariants ? names[v] : "?";
}

// Caps the persistent Hopper prefill grid (kWarpSpecializedPersistent) at `blocks` (0: one
// per multiprocessor), so that tests make each block walk many work items.
void setPrefillWgmmaPersistentGridForTesting(int blocks);

// Whether the Hopper prefill kernel runs for this head dim on the current device: built
// (sm_90 among the CUDA architectures), compute capability 9.0, head dim 64 or 128.
bool prefillWgmmaSupported(int headDim);

} // namespace modelrt::cuda
