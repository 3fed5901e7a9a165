// What a constraint allows next, as the tokens' texts (sorted; the vocabulary's last token,
// the end token, as "<end>"): the guided-decoding tests compare these lists.
#pragma once

#include "runtime/sample/Sampler.h"

#include <algorithm>
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

} // namespace modelrt::sample
