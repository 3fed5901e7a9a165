// Argument checks shared by the attention kernels, and the decode/prefill dispatch.
#include "runtime/device/cuda/AttentionCommon.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace modelrt::cuda {

namespace {
Status invalid(const std::string &what) {
  return Error(ErrorCode::InvalidArgument, "paged attention: " + what);
}
bool aligned16(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }
} // namespace

Status checkAttention(const AttentionShape &shape, const PagedKvLayout &layout,
                      const AttentionBatch &batch, const AttentionArgs &args) {
  if (layout.type == ElementType::F32)
    return Error(ErrorCode::Unsupported, "paged attention: the KV cache must be f16 or bf16");
  int hd = shape.headDim;
  if (hd != 64 && hd != 80 && hd != 96 && hd != 128)
    return Error(ErrorCode::Unsupported, "paged attention: head dim " + std::to_string(hd) +
                                             " (supported: 64, 80, 96, 128)");
  if (layout.headDim != hd || layout.numKvHeads != shape.numKvHeads)
    return invalid("the KV layout's head dim or kv head count differs from the layer's");
  if (shape.numKvHeads <= 0 || shape.numHeads <= 0 || shape.numHeads % shape.numKvHeads != 0)
    return invalid("numHeads must be a positive multiple of numKvHeads");
  if (shape.numHeads / shape.numKvHeads > kMaxQueryHeadsPerKvHead)
    return Error(ErrorCode::Unsupported, "paged attention: more than " +
                                             std::to_string(kMaxQueryHeadsPerKvHead) +
                                             " query heads per kv head");
  if (layout.blockSize <= 0 || (layout.blockSize & (layout.blockSize - 1)) != 0)
    return invalid("blockSize must be a power of two");
  if (!(shape.scale > 0.0f) || shape.slidingWindow < 0)
    return invalid("scale must be > 0 and slidingWindow >= 0");
  if (batch.numSeqs < 0 || batch.numTokens < 0 || batch.maxQueryLen < 0 || batch.maxContextLen < 0)
    return invalid("negative batch size");
  if (batch.numSeqs == 0)
    return Status::success();
  if (!batch.queryStart || !batch.contextLen || !batch.blockTable || batch.maxBlocksPerSeq <= 0)
    return invalid("queryStart, contextLen and blockTable must be set");
  if (!args.q || !args.out || !args.kCache || !args.vCache)
    return invalid("null q, out or cache pointer");
  if (!aligned16(args.q) || !aligned16(args.out) || !aligned16(args.kCache) ||
      !aligned16(args.vCache) || args.qRowStride % 8 != 0 || args.outRowStride % 8 != 0)
    return invalid("q, out and the caches must be 16-byte aligned, row strides multiples of 8");
  int64_t width = int64_t(shape.numHeads) * hd;
  if (args.qRowStride < width || args.outRowStride < width)
    return invalid("q or out row stride is smaller than numHeads * headDim");
  return Status::success();
}

namespace {
// The decode splits of a mixed batch's one-row requests: the grid sized by their contexts.
DecodeSplits mixedDecodeSplits(const AttentionShape &shape, AttentionBatch batch, int smCount) {
  if (batch.maxSingleRowContextLen > 0)
    batch.maxContextLen = std::min(batch.maxContextLen, batch.maxSingleRowContextLen);
  return chooseDecodeSplits(shape, batch, smCount);
}
} // namespace

size_t attentionWorkspaceBytes(const AttentionShape &shape, const AttentionBatch &batch,
                               int smCount) {
  if (batch.maxQueryLen == 1)
    return decodeWorkspaceBytes(shape, batch, chooseDecodeSplits(shape, batch, smCount));
  size_t bytes = prefillWorkspaceBytes(batch);
  if (batch.singleRowSeqs > 0) // the decode kernel's partials follow the prefill's tile table
    bytes += decodeWorkspaceBytes(shape, batch, mixedDecodeSplits(shape, batch, smCount));
  return bytes;
}

Status pagedAttention(const AttentionShape &shape, const PagedKvLayout &layout,
                      const AttentionBatch &batch, const AttentionArgs &args, int smCount,
                      void *workspace, size_t workspaceBytes, cudaStream_t stream) {
  if (batch.maxQueryLen == 1)
    return pagedAttentionDecode(shape, layout, batch, args,
                                chooseDecodeSplits(shape, batch, smCount), workspace,
                                workspaceBytes, stream);
  if (batch.singleRowSeqs <= 0)
    return pagedAttentionPrefill(shape, layout, batch, args, workspace, workspaceBytes, stream);
  // A mixed batch: the prefill kernel takes the requests with several query rows, the decode
  // kernel the one-row ones, which then compute what they would in a decode-only step.
  const size_t prefillBytes = prefillWorkspaceBytes(batch);
  if (!workspace || workspaceBytes < prefillBytes)
    return invalid("workspace too small");
  if (Status st = launchPrefillRows(shape, layout, batch, args, workspace, prefillBytes, stream, 0,
                                    /*skipSingleRows=*/true);
      !st)
    return st;
  return launchDecodeRows(shape, layout, batch, args, mixedDecodeSplits(shape, batch, smCount),
                          static_cast<char *>(workspace) + prefillBytes,
                          workspaceBytes - prefillBytes, stream, 0, /*onlySingleRows=*/true);
}

} // namespace modelrt::cuda
