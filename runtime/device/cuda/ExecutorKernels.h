// The CUDA executor's small data-movement kernels: table lookups (embeddings), row
// selection (the sampled rows' logits) and rotary embeddings over [rows, width] activations
// with row strides in elements. Each validates its arguments, enqueues on `stream` and
// returns the launch status.
#pragma once

#include "runtime/device/Attention.h"
#include "runtime/support/Error.h"

#include <cstdint>
#include <cuda_runtime.h>

namespace modelrt::cuda {

// dst[r] = table[ids[r] - rowOffset] for r < n (rowOffset < 0: 0). With rowOffset >= 0 the
// table is a shard: an id outside [rowOffset, rowOffset + tableRows) gives a zero row.
Status gatherTableRows(ElementType type, const void *table, int64_t tableRows, int64_t width,
                       const int32_t *ids, int64_t n, int64_t rowOffset, void *dst,
                       int64_t dstStride, cudaStream_t stream);

// dst[r] = src[ids[r]] for r < n, rows of `width` elements.
Status gatherValueRows(ElementType type, const void *src, int64_t srcStride, const int32_t *ids,
                       int64_t n, int64_t width, void *dst, int64_t dstStride, cudaStream_t stream);

// Rotary embedding of `rows` rows of numHeads heads of headDim: pair i of every head (i,
// i + pairs, or 2i and 2i + 1 when interleaved) rotates by positions[r] * invFreq[i]
// (computed in f32, rounded once); the dims past 2 * pairs are copied. With normWeight
// ([headDim] of the activation type), each head is first RMS-normalized (f32 sum of squares)
// and scaled: round(w * round(x / rms)), as the reference RMSNorm rounds; with a weight
// offset (Gemma's RMSNorm, all in f32) round((offset + w) * (x / rms)).
struct RopeLaunch {
  int64_t rows = 0, numHeads = 0, headDim = 0, pairs = 0;
  bool interleaved = false;
  const float *invFreq = nullptr; // [pairs], on the device
  const int32_t *positions = nullptr;
  const void *normWeight = nullptr;
  float normEps = 1e-6f;
  float magnitude = 1.0f; // cos and sin multiplied by it (LongRoPE's attention factor)
  bool gemmaNorm = false; // normWeightOffset given
  float normWeightOffset = 0.0f;
};
Status rotaryEmbedding(ElementType type, const void *src, int64_t srcStride, void *dst,
                       int64_t dstStride, const RopeLaunch &rope, cudaStream_t stream);

} // namespace modelrt::cuda
