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

// Mixture of experts (plan op "moe"), in five steps around the experts' GEMMs.
struct MoeRouting {
  int64_t numExperts = 0, topK = 0; // topK <= kMaxMoeTopK
  bool normalize = false;           // the chosen weights divided by their sum
  bool round = false;               // the weights rounded to the activation type
};
constexpr int64_t kMaxMoeTopK = 64;

// Per row of router logits ([rows, numExperts] of `type`, row stride `stride`): softmax in
// f32, the topK largest probabilities (ties to the lower expert), normalized and rounded as
// `routing` says; experts[r * topK + j] in the order chosen with their weights[...], and
// counts[e] += the rows that chose e (counts zeroed by the caller).
Status moeRoute(ElementType type, const void *logits, int64_t stride, int64_t rows,
                const MoeRouting &routing, int32_t *experts, float *weights, int32_t *counts,
                cudaStream_t stream);

// The rows * topK (row, slot) pairs grouped by expert, in row order within an expert:
// offsets[e] (numExperts + 1 entries) where expert e's list starts; for position q of the
// lists tokenOf[q] = the pair's row, and positionOf[pair] = q.
Status moeGroup(const int32_t *experts, int64_t rows, int64_t topK, int64_t numExperts,
                const int32_t *counts, int32_t *offsets, int32_t *tokenOf, int32_t *positionOf,
                cudaStream_t stream);

// The experts' activation: SiLU, or with swigluLimit > 0 the clamped SwiGLU.
struct MoeActivation {
  float swigluLimit = 0, swigluAlpha = 0;
};
// gate[i] = round(round(silu(gate[i])) * up[i]) for i < n (the reference's act(gate) * up);
// with the clamped SwiGLU, g = min(gate, L), u = clamp(up, -L, L) and gate[i] =
// round(round(u + 1) * round(g * round(sigmoid(round(alpha * g))))), each step rounded to
// the activation type as the reference computes it in that type.
Status moeSiluGate(ElementType type, void *gate, const void *up, int64_t n,
                   const MoeActivation &activation, cudaStream_t stream);

// out[r] = round(the f32 sum over j < topK, in the order chosen, of weights[r * topK + j] *
// y[positionOf[r * topK + j]]), each term first rounded to `type` when roundTerms (the
// weights are of that type: a product of two such values), as transformers' grouped_mm
// experts add them; y holds [pairs, width] rows. With a shared expert (shared [rows, width],
// the op's optional third input) out[r] = round(out[r] + round(s * shared[r])), s =
// round(sigmoid(gate[r])) when a gate ([rows, 1]) is given, else 1.
struct MoeShared {
  const void *shared = nullptr, *gate = nullptr;
  int64_t sharedStride = 0, gateStride = 0;
};
Status moeCombine(ElementType type, const void *y, int64_t width, const int32_t *positionOf,
                  const float *weights, int64_t rows, int64_t topK, bool roundTerms, void *out,
                  int64_t outStride, const MoeShared &shared, cudaStream_t stream);

} // namespace modelrt::cuda
