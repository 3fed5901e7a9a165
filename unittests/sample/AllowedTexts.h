// What a constraint allows next, as the tokens' texts (sorted; the vocabulary's last token,
// the end token, as "<end>"): the guided-decoding tests compare these lists.
#pragma once

#include "runtime/sample/Sampler.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace modelrt::sample {

inline std::vector<std::string> allowedTexts(TokenConstraint &c,
                                             const std::vector<std::string> &vocab) {
  std::vector<std::string> out;
  const std::vector<uint8_t> &mask = c.allowedTokens();
  for (size_t t = 0; t < mask.size(); ++t)
    if (mask[t])
      out.push_back(t + 1 == vocab.size() ? "<end>" : vocab[t]);
  std::sort(out.begin(), out.end());
  return out;
}

inline int32_t tokenOf(const std::vector<std::string> &vocab, const std::string &text) {
  return static_cast<int32_t>(std::find(vocab.begin(), vocab.end(), text) - vocab.begin());
}

// One answer sampled under `constraint` at temperature 1 (seed `seed`) from random logits
// (`rng`), at most `maxSteps` tokens: its text, and whether the end token ended it.
struct SampledText {
  std::string text;
  bool ended = false;
};
inline SampledText sampleText(std::shared_ptr<TokenConstraint> constraint,
                              const std::vector<std::string> &vocab, int32_t eos, uint64_t seed,
                              std::mt19937 &rng, int maxSteps) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.seed = seed;
  params.constraint = std::move(constraint);
  Sampler sampler(params);
  std::normal_distribution<float> noise(0.0f, 2.0f);
  std::vector<float> logits(vocab.size());
  SampledText out;
  for (int step = 0; step < maxSteps && !out.ended; ++step) {
    for (float &x : logits)
      x = noise(rng);
    const int32_t t = sampler.next(logits.data(), static_cast<int64_t>(logits.size()));
    out.ended = t == eos;
    if (!out.ended) {
      sampler.accept(t);
      out.text += vocab[size_t(t)];
    }
  }
  return out;
}

} // namespace modelrt::sample
