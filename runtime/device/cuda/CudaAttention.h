// Paged attention and the KV-cache write on CUDA (layouts in runtime/device/Attention.h,
// design in docs/cuda-kernels.md). All functions validate their arguments on the host
// first (InvalidArgument / Unsupported without touching the device), then enqueue on
// `stream` and return the launch status; they never synchronize.
#pragma once

#include "runtime/device/Attention.h"
#include "runtime/support/Error.h"

#include <cstddef>
#include <cuda_runtime.h>

namespace modelrt::cuda {

// Rows of new keys and values ([T, numKvHeads * headDim] each, row strides in elements,
// e.g. into a fused QKV activation), and optionally the queries to rotate in place.
struct KvWriteArgs {
  const void *k = nullptr;
  int64_t kRowStride = 0;
  const void *v = nullptr;
  int64_t vRowStride = 0;
  void *q = nullptr; // optional: [T, numHeads * headDim], rotated in place with K's RoPE
  int64_t qRowStride = 0;
  int32_t numHeads = 0;
};

// Writes each token's K (rotated when rope.style != None) and V into its cache slot.
Status writeKvCache(const PagedKvLayout &layout, void *kCache, void *vCache,
                    const KvWriteArgs &args, const KvWriteBatch &batch, const RopeParams &rope,
                    cudaStream_t stream);

struct AttentionArgs {
  const void *q = nullptr; // [T rows][numHeads * headDim], row stride qRowStride elements
  int64_t qRowStride = 0;
  void *out = nullptr; // [T rows][numHeads * headDim], same element type as the cache
  int64_t outRowStride = 0;
  const void *kCache = nullptr;
  const void *vCache = nullptr;
};

// Checks shape, layout and batch against each other and against what the kernels support.
Status checkAttention(const AttentionShape &shape, const PagedKvLayout &layout,
                      const AttentionBatch &batch, const AttentionArgs &args);

// Decode: every request has exactly one query row (batch.maxQueryLen == 1). The context of
// each request is split into `numSplits` slices processed by separate thread blocks and
// merged by a second kernel, so that a few long requests still fill the GPU.
int chooseDecodeSplits(const AttentionShape &shape, const AttentionBatch &batch, int smCount);
size_t decodeWorkspaceBytes(const AttentionShape &shape, const AttentionBatch &batch,
                            int numSplits);
Status pagedAttentionDecode(const AttentionShape &shape, const PagedKvLayout &layout,
                            const AttentionBatch &batch, const AttentionArgs &args,
                            int numSplits, void *workspace, size_t workspaceBytes,
                            cudaStream_t stream);

// Prefill, chunked prefill and mixed batches: any query lengths, one launch.
size_t prefillWorkspaceBytes(const AttentionBatch &batch);
Status pagedAttentionPrefill(const AttentionShape &shape, const PagedKvLayout &layout,
                             const AttentionBatch &batch, const AttentionArgs &args,
                             void *workspace, size_t workspaceBytes, cudaStream_t stream);

// Picks decode when batch.maxQueryLen == 1, else prefill. Workspace: attentionWorkspaceBytes.
size_t attentionWorkspaceBytes(const AttentionShape &shape, const AttentionBatch &batch,
                               int smCount);
Status pagedAttention(const AttentionShape &shape, const PagedKvLayout &layout,
                      const AttentionBatch &batch, const AttentionArgs &args, int smCount,
                      void *workspace, size_t workspaceBytes, cudaStream_t stream);

} // namespace modelrt::cuda
