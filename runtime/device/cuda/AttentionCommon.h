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
  int numHeads, numKvHeads, group;
  int blockSizeLog2;
  int window;
  float scaleLog2; // softmax scale * log2(e): the kernels use exp2
};

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
  p.numHeads = shape.numHeads;
  p.numKvHeads = shape.numKvHeads;
  p.group = shape.numHeads / shape.numKvHeads;
  p.blockSizeLog2 = log2Exact(layout.blockSize);
  p.window = shape.slidingWindow;
  p.scaleLog2 = shape.scale * 1.4426950408889634f;
  return p;
}

// Query heads per kv head the kernels accept.
constexpr int kMaxQueryHeadsPerKvHead = 64;

// Query heads one decode block serves (a power of two up to 8); larger groups take several
// blocks per kv head.
int decodeHeadTile(int group);

// Kernel variants for tuning (bench/cuda): 0 is what pagedAttentionDecode /
// pagedAttentionPrefill run; the others are named by decodeVariantName / prefillVariantName.
// Decode 1-3 exist for head dim 128 and groups 3-4 only; the tensor-core decode kernels
// (kDecodeVariantMma*: P transposed by shuffles or by movmatrix) for every shape.
Status pagedAttentionDecodeVariant(const AttentionShape &shape, const PagedKvLayout &layout,
                                   const AttentionBatch &batch, const AttentionArgs &args,
                                   int numSplits, void *workspace, size_t workspaceBytes,
                                   cudaStream_t stream, int variant);
Status pagedAttentionPrefillVariant(const AttentionShape &shape, const PagedKvLayout &layout,
                                    const AttentionBatch &batch, const AttentionArgs &args,
                                    void *workspace, size_t workspaceBytes, cudaStream_t stream,
                                    int variant);
constexpr int kDecodeVariants = 6, kPrefillVariants = 2;
constexpr int kDecodeVariantMmaShuffle = 4, kDecodeVariantMmaMovmatrix = 5;
inline const char *decodeVariantName(int v) {
  const char *names[] = {"default",          "nt4_5blocks", "nt2_6blocks",
                         "heads2_per_block", "mma_shfl",    "mma_movmatrix"};
  return v >= 0 && v < kDecodeVariants ? names[v] : "?";
}
inline const char *prefillVariantName(int v) {
  const char *names[] = {"default", "m16_bn64"};
  return v >= 0 && v < kPrefillVariants ? names[v] : "?";
}

} // namespace modelrt::cuda
