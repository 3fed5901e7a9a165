// Token masks a request asks for outright, over any guided decoding: vLLM's
// allowed_token_ids (only these may ever come), min_tokens (the end and stop tokens may not
// come before that many tokens were generated) and bad_words (token sequences that may not
// be completed).
#pragma once

#include "runtime/sample/Sampler.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace modelrt::sample {

class MaskConstraint : public TokenConstraint {
public:
  // `allowed`: the only tokens that may come (empty: all); `held` may not come until
  // `holdFor` tokens were accepted. `inner` (may be null): a guided decoding whose mask
  // these narrow (where they share no token with it, the grammar alone). Ids outside `vocab`
  // are ignored. Where holding back would leave no token allowed (a grammar that can only
  // end), the hold gives way.
  MaskConstraint(int64_t vocab, const std::vector<int32_t> &allowed,
                 const std::vector<int32_t> &held, int64_t holdFor,
                 std::shared_ptr<TokenConstraint> inner);
  const std::vector<uint8_t> &allowedTokens() override;
  void accept(int32_t token) override;
  // Allowed, not held, not completing a banned sequence, and allowed by the guide: then the
  // mask allows it too (the give-way rules only ever add tokens).
  bool allows(int32_t token) override;
  // Token sequences never to be generated whole: a sequence's last token may not come where
  // the tokens before it were just generated (a one-token sequence, never).
  void banSequences(std::vector<std::vector<int32_t>> sequences);

private:
  std::vector<uint8_t> allowed_; // 1 = allowed by allowed_token_ids
  std::vector<int32_t> held_;
  int64_t holdFor_ = 0, accepted_ = 0;
  std::shared_ptr<TokenConstraint> inner_;
  std::vector<uint8_t> mask_;
  std::vector<std::vector<int32_t>> banned_;
  std::vector<int32_t> recent_; // the last tokens accepted, as many as a banned prefix needs
  size_t keep_ = 0;
};

} // namespace modelrt::sample
