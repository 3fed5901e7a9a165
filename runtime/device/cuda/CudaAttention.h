// Paged attention and the KV-cache write on CUDA (layouts in runtime/device/Attention.h,
// design in docs/cuda-kernels.md). All functions validate their arguments on the host
// first (InvalidArgument / Unsupported without touching the device), then enqueue on
// `stream` and return the launch status; they never synchronize.
#pragma once

#include "runtime/device/Attention.h"
#include "runtime/device/cuda/DecodeSplits.h"
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
  // Optional: [numHeads] f32 on the device, one more logit per query head in each row's
  // softmax, with no value (attention sinks: the denominator gains e^(sink - max)).
  const float *sinks = nullptr;
};

// Checks shape, layout and batch against each other and against what the kernels support.
Status checkAttention(const AttentionShape &shape, const PagedKvLayout &layout,
                      const AttentionBatch &batch, const AttentionArgs &args);

// Decode: every request has exactly one query row (batch.maxQueryLen == 1). A request's
// context is cut into splits processed by separate thread blocks and merged by a second
// kernel, so that a few long requests still fill the GPU; how many splits it takes depends
// on its own context alone (DecodeSplits.h). chooseDecodeSplits: the policy for this layer
// on a device of `smCount` multiprocessors, the grid sized for the batch's longest context;
// fixedDecodeSplits(n): n splits for every request of at least n tokens (tests, benches).
DecodeSplits chooseDecodeSplits(const AttentionShape &shape, const AttentionBatch &batch,
                                int smCount);
DecodeSplits fixedDecodeSplits(int n);
size_t decodeWorkspaceBytes(const AttentionShape &shape, const AttentionBatch &batch,
                            const DecodeSplits &splits);
Status pagedAttentionDecode(const AttentionShape &shape, const PagedKvLayout &layout,
                            const AttentionBatch &batch, const AttentionArgs &args,
                            const DecodeSplits &splits, void *workspace, size_t workspaceBytes,
                            cudaStream_t stream);

// Prefill and chunked prefill: any query lengths, one launch. A batch that also holds
// one-row requests (batch.singleRowSeqs > 0) goes through pagedAttention, which gives those
// rows to the decode kernel.
size_t prefillWorkspaceBytes(const AttentionBatch &batch);
Status pagedAttentionPrefill(const AttentionShape &shape, const PagedKvLayout &layout,
                             const AttentionBatch &batch, const AttentionArgs &args,
                             void *workspace, size_t workspaceBytes, cudaStream_t stream);

// Any batch: decode when batch.maxQueryLen == 1, else prefill for the requests with more
// than one query row and, when batch.singleRowSeqs > 0, decode for the others (both
// kernels), so that a request's one-row step computes the same arithmetic whether or not
// another request is prefilling beside it. Workspace: attentionWorkspaceBytes.
size_t attentionWorkspaceBytes(const AttentionShape &shape, const AttentionBatch &batch,
                               int smCount);
Status pagedAttention(const AttentionShape &shape, const PagedKvLayout &layout,
                      const AttentionBatch &batch, const AttentionArgs &args, int smCount,
                      void *workspace, size_t workspaceBytes, cudaStream_t stream);

} // namespace modelrt::cuda
