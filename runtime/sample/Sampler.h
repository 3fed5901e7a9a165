// Choosing the next token from one row of logits: greedy, or temperature with top-k,
// top-p and min-p filters, seeded per request so a request's tokens do not depend on what
// else runs beside it.
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <memory>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace modelrt::sample {

// Guided decoding: which tokens may come next (vocab entries, 1 = allowed), and the token
// that came. Stateful: one per request (and choice).
class TokenConstraint {
public:
  virtual ~TokenConstraint() = default;
  virtual const std::vector<uint8_t> &allowedTokens() = 0;
  virtual void accept(int32_t token) = 0;
  // Whether `token` may come next, without the whole mask where a constraint can tell
  // cheaply: true only where allowedTokens() would allow it (false may also mean "ask the
  // mask"). The sampler tries the token it would choose unconstrained first.
  virtual bool allows(int32_t token) {
    const std::vector<uint8_t> &mask = allowedTokens();
    return token >= 0 && size_t(token) < mask.size() && mask[size_t(token)];
  }
};

struct SamplingParams {
  float temperature = 0.0f; // 0: greedy
  int32_t topK = 0;         // 0: no limit
  float topP = 1.0f;        // keep the smallest set of tokens whose probability reaches topP
  float minP = 0.0f;        // drop tokens below minP x the most likely one's probability
  uint64_t seed = 0;
  // OpenAI's penalties on the tokens generated so far, subtracted from their logits:
  // presencePenalty once a token has appeared, frequencyPenalty x its count; in [-2, 2].
  float presencePenalty = 0.0f;
  float frequencyPenalty = 0.0f;
  // vLLM's (and transformers') repetition penalty over prompt and generated tokens: their
  // positive logits divided by it, negative ones multiplied; > 0, 1 = off.
  float repetitionPenalty = 1.0f;
  // Added to a token's logit (OpenAI's logit_bias), in [-100, 100].
  std::vector<std::pair<int32_t, float>> logitBias;
  // Only tokens it allows are chosen (after bias and penalties, before the filters); the
  // logprobs stay the model's. Greedy and plain temperature sampling first try the token
  // they would choose unconstrained and build the mask only if the constraint refuses it:
  // the same token greedily, the same distribution sampled (a refused draw is drawn again
  // from the masked one).
  std::shared_ptr<TokenConstraint> constraint;
};

// Checks the ranges (temperature >= 0 and finite, topK >= 0, 0 < topP <= 1,
// 0 <= minP < 1, penalties and biases as above; with vocab > 0, biased token ids below it);
// the error names the parameter.
Status validate(const SamplingParams &params, int64_t vocab = 0);

// Log-probabilities under the model's distribution (the logits' softmax, before any
// sampling filter): of `chosen`, and the `topN` most likely tokens, best first.
struct TokenLogprobs {
  float chosen = 0.0f;
  std::vector<std::pair<int32_t, float>> top;
  int32_t rank = 0; // of `chosen`: 1 + how many tokens are more likely (vLLM's rank)
};
TokenLogprobs logprobs(const float *logits, int64_t vocab, int32_t chosen, int topN);

// out[i] = exp((logits[i] - shift) * scale) for i < n (0 for NaN logits), where shift is at
// least the largest logit and scale > 0; returns their sum (four fixed interleaved partial
// sums). A vectorized exp within 1e-15 of the library's; `out` may be null.
double expWeights(const float *logits, int64_t n, double shift, double scale, double *out);

class Sampler {
public:
  // `prompt` matters only to the repetition penalty.
  explicit Sampler(const SamplingParams &params, const std::vector<int32_t> &prompt = {});
  // The chosen token of `vocab` logits, after the bias and penalties; NaN logits are never
  // chosen.
  int32_t next(const float *logits, int64_t vocab);
  // A token the request generated (the penalties count it from now on).
  void accept(int32_t token);
  // Whether next() changes the logits before choosing (bias, penalties, a constraint).
  bool adjustsLogits() const { return adjusts_; }
  const SamplingParams &params() const { return params_; }

private:
  int32_t choose(const float *logits, int64_t vocab);

  SamplingParams params_;
  std::mt19937_64 rng_;
  bool adjusts_ = false;
  std::unordered_map<int32_t, int32_t> generated_; // token -> times generated
  std::unordered_set<int32_t> seen_;               // prompt and generated (repetition)
  std::vector<float> scratch_;
};

} // namespace modelrt::sample
