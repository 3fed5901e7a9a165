// Choosing the next token from one row of logits: greedy, or temperature with top-k,
// top-p and min-p filters, seeded per request so a request's tokens do not depend on what
// else runs beside it.
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace modelrt::sample {

struct SamplingParams {
  float temperature = 0.0f; // 0: greedy
  int32_t topK = 0;         // 0: no limit
  float topP = 1.0f;        // keep the smallest set of tokens whose probability reaches topP
  float minP = 0.0f;        // drop tokens below minP x the most likely one's probability
  uint64_t seed = 0;
};

// Checks the ranges (temperature >= 0 and finite, topK >= 0, 0 < topP <= 1,
// 0 <= minP < 1); the error names the parameter.
Status validate(const SamplingParams &params);

// Log-probabilities under the model's distribution (the logits' softmax, before any
// sampling filter): of `chosen`, and the `topN` most likely tokens, best first.
struct TokenLogprobs {
  float chosen = 0.0f;
  std::vector<std::pair<int32_t, float>> top;
};
TokenLogprobs logprobs(const float *logits, int64_t vocab, int32_t chosen, int topN);

class Sampler {
public:
  explicit Sampler(const SamplingParams &params) : params_(params), rng_(params.seed) {}
  // The chosen token of `vocab` logits; NaN logits are never chosen.
  int32_t next(const float *logits, int64_t vocab);

private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

} // namespace modelrt::sample
