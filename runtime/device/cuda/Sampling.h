// Token sampling on the GPU from f32 logits [batch][vocab]: greedy, temperature, top-k,
// top-p, min-p with per-request seeds, without sorting the vocabulary; log-probabilities
// of the chosen token and of the top-n tokens. Parameters are per row, in device arrays,
// and must already be validated (runtime/sample does that for requests).
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <cuda_runtime.h>

namespace modelrt::cuda {

constexpr int kMaxTopLogprobs = 20;

// Per-row parameters (device arrays of `batch` entries). Filters apply in this order, each
// as a threshold on the logit: top-k keeps the k largest (ties at the k-th value kept);
// top-p keeps the smallest set of the largest tokens, among those top-k kept, whose
// probability at this temperature reaches topP; min-p keeps tokens whose probability is at
// least minP times the largest. The draw is the Gumbel-max trick with Philox4x32-10 noise
// keyed by (seed, step, token id), so a (seed, step) pair always draws the same token.
struct SamplingParams {
  const float *temperature = nullptr; // <= 0: greedy (argmax, lowest id on ties)
  const int32_t *topK = nullptr;      // <= 0 or >= vocab: off
  const float *topP = nullptr;        // >= 1: off; else in (0, 1)
  const float *minP = nullptr;        // <= 0: off; else in (0, 1]
  const uint64_t *seed = nullptr;
  const uint64_t *step = nullptr; // e.g. the request's count of generated tokens
};

// Log-probabilities are those of the unmodified logits (log_softmax at temperature 1).
struct SamplingOutput {
  int32_t *tokens = nullptr;     // [batch]
  float *logprobs = nullptr;     // [batch], optional
  int32_t *topIds = nullptr;     // [batch][numTop], optional
  float *topLogprobs = nullptr;  // [batch][numTop]
  int32_t numTop = 0;            // 0..kMaxTopLogprobs
};

Status sampleTokens(const float *logits, int64_t rowStride, int32_t batch, int32_t vocab,
                    const SamplingParams &params, const SamplingOutput &output,
                    cudaStream_t stream);

} // namespace modelrt::cuda
