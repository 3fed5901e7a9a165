// Backend-neutral description of paged attention: the KV cache layout and the metadata of
// one iteration's ragged batch (selective batching: all requests' tokens are flattened
// into T rows; attention alone runs per request over that request's own KV blocks).
// Pointers in AttentionBatch and KvWriteBatch are device pointers of the backend that runs
// the kernels; the plain integers are host values used to size the launches.
#pragma once

#include <cstdint>

namespace modelrt {

// Element type of activations and of the KV cache on a device.
enum class ElementType : uint8_t { F16, BF16, F32 };

inline int elementBytes(ElementType type) { return type == ElementType::F32 ? 4 : 2; }

// One layer's paged KV cache: K and V are separate arrays, each
// [numBlocks][numKvHeads][blockSize][headDim] ("HND"), so one (block, kv head) page of K is
// blockSize * headDim contiguous elements. Cache slot s of a token is block s / blockSize,
// offset s % blockSize.
struct PagedKvLayout {
  int32_t numBlocks = 0;
  int32_t numKvHeads = 0;
  int32_t blockSize = 16; // a power of two
  int32_t headDim = 0;
  ElementType type = ElementType::F16; // F16 or BF16
};

// Rotary position embedding applied on the way into the cache.
enum class RopeStyle : uint8_t {
  None,
  RotateHalf,  // pairs (i, i + rotaryDim/2): GPT-NeoX / Hugging Face layout
  Interleaved, // pairs (2i, 2i + 1): GPT-J / original RoFormer layout
};

struct RopeParams {
  RopeStyle style = RopeStyle::None;
  float theta = 10000.0f; // inverse frequency of pair i: theta^(-2i / rotaryDim)
  int32_t rotaryDim = 0;  // leading dims of each head that rotate (even, <= headDim)
};

// The shape of one attention layer.
struct AttentionShape {
  int32_t numHeads = 0;
  int32_t numKvHeads = 0;    // divides numHeads (grouped-query attention)
  int32_t headDim = 0;       // 64, 80, 96 or 128
  float scale = 0.0f;        // softmax scale, usually 1/sqrt(headDim)
  int32_t slidingWindow = 0; // > 0: a query at position p sees keys at p - window < k <= p
};

// One iteration's batch. Request s owns query rows [queryStart[s], queryStart[s+1]) of the
// [T, numHeads * headDim] activation; after this iteration's K/V are written it has
// contextLen[s] tokens in the cache, its query row i sits at position
// contextLen[s] - queryLen + i and attends causally to positions <= its own.
struct AttentionBatch {
  const int32_t *queryStart = nullptr; // [numSeqs + 1], queryStart[0] == 0
  const int32_t *contextLen = nullptr; // [numSeqs], >= the request's query length
  const int32_t *blockTable = nullptr; // [numSeqs][maxBlocksPerSeq] physical block ids
  int32_t numSeqs = 0;
  int32_t numTokens = 0; // T = queryStart[numSeqs]
  int32_t maxBlocksPerSeq = 0;
  int32_t maxQueryLen = 0;   // host-known bound, sizes the prefill grid
  int32_t maxContextLen = 0; // host-known bound, sizes the decode split grid
  // Host-known: requests with exactly one query row. In a batch that also holds longer
  // queries a device backend may run these through its decode kernel (CUDA does), so that
  // a decode step's arithmetic does not depend on whether something else is prefilling.
  int32_t singleRowSeqs = 0;
  // Host-known bound on those requests' contexts (0: maxContextLen): sizes the decode grid
  // of a mixed batch, whose longest contexts are usually the prefills'.
  int32_t maxSingleRowContextLen = 0;
  // Host-known: the sum of contextLen over the batch (0: unknown). Bounds the decode
  // kernel's partial results, whose count follows each request's own context.
  int64_t sumContextLen = 0;
};

// Sets a batch's host-known sizes and bounds (numSeqs, numTokens, maxQueryLen,
// maxContextLen, singleRowSeqs, maxSingleRowContextLen, sumContextLen) from host copies of
// its query starts ([numSeqs + 1]) and context lengths; the device pointers and the block
// table's width are the caller's.
inline void setHostBounds(AttentionBatch &b, const int32_t *queryStart, const int32_t *contextLen,
                          int32_t numSeqs) {
  b.numSeqs = numSeqs;
  b.numTokens = queryStart[numSeqs];
  b.maxQueryLen = b.maxContextLen = b.singleRowSeqs = b.maxSingleRowContextLen = 0;
  b.sumContextLen = 0;
  for (int32_t s = 0; s < numSeqs; ++s) {
    const int32_t q = queryStart[s + 1] - queryStart[s], ctx = contextLen[s];
    b.maxQueryLen = q > b.maxQueryLen ? q : b.maxQueryLen;
    b.maxContextLen = ctx > b.maxContextLen ? ctx : b.maxContextLen;
    if (q == 1) {
      ++b.singleRowSeqs;
      b.maxSingleRowContextLen = ctx > b.maxSingleRowContextLen ? ctx : b.maxSingleRowContextLen;
    }
    b.sumContextLen += ctx;
  }
}

// The KV write of one iteration: new token t goes to cache slot slotMapping[t]
// (block * blockSize + offset; a negative slot skips the token, e.g. padding).
struct KvWriteBatch {
  const int32_t *slotMapping = nullptr; // [T]
  const int32_t *positions = nullptr;   // [T], needed when RoPE is applied
  int32_t numTokens = 0;
};

} // namespace modelrt
