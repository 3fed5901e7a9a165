// vLLM's allowed_token_ids and min_tokens as a token mask over guided decoding: what the
// sampler may choose at each step.
#include "runtime/sample/MaskConstraint.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

using namespace modelrt::sample;

namespace {

// A guided decoding that allows a fixed set, and counts what it accepted.
class FixedConstraint : public TokenConstraint {
public:
  explicit FixedConstraint(std::vector<uint8_t> mask) : mask_(std::move(mask)) {}
  const std::vector<uint8_t> &allowedTokens() override { return mask_; }
  void accept(int32_t) override { ++accepted; }
  int accepted = 0;

private:
  std::vector<uint8_t> mask_;
};

std::vector<int> allowedIds(const std::vector<uint8_t> &mask) {
  std::vector<int> out;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i])
      out.push_back(int(i));
  return out;
}

} // namespace

TEST(MaskConstraint, HoldsTokensBackUntilMinTokens) {
  MaskConstraint m(5, {}, {0, 4}, 2, nullptr);
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{1, 2, 3}));
  m.accept(1);
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{1, 2, 3}));
  m.accept(2);
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(MaskConstraint, AllowedTokensNarrowTheGuidedMask) {
  auto inner = std::make_shared<FixedConstraint>(std::vector<uint8_t>{1, 1, 0, 1, 0});
  MaskConstraint m(5, {1, 2, 3, 99}, {}, 0, inner); // 99: outside the vocabulary, ignored
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{1, 3}));
  m.accept(3);
  EXPECT_EQ(inner->accepted, 1); // the guided decoding walks on
}

// vLLM's bad_words as token sequences: a one-token word never comes; a longer one's last
// token not right after the rest of it.
TEST(MaskConstraint, BannedSequencesAreNeverCompleted) {
  MaskConstraint m(5, {}, {}, 0, nullptr);
  m.banSequences({{3}, {1, 2}, {0, 1, 4}, {}});
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{0, 1, 2, 4}));
  m.accept(1);
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{0, 1, 4})); // not 1 2
  m.accept(0);
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{0, 1, 2, 4}));
  m.accept(1);
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{0, 1})); // not 1 2, not 0 1 4
}

// A token held twice (EOS among the stop tokens too) is restored once, not left masked.
TEST(MaskConstraint, ATokenHeldTwiceStillGivesWay) {
  auto inner = std::make_shared<FixedConstraint>(std::vector<uint8_t>{1, 0, 0});
  MaskConstraint m(3, {}, {0, 0, 2}, 5, inner);
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{0}));
}

// Allowed ids the grammar rules out all: the grammar alone (its answer must still parse).
TEST(MaskConstraint, TheGrammarWinsOverDisjointAllowedIds) {
  auto inner = std::make_shared<FixedConstraint>(std::vector<uint8_t>{0, 1, 1, 0});
  MaskConstraint m(4, {0, 3}, {2}, 1, inner);
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{1}));
}

// A grammar that can only end (the JSON is complete) ends, min_tokens or not: holding the
// end back would leave nothing to choose.
TEST(MaskConstraint, HoldGivesWayWhenNothingElseMayCome) {
  auto inner = std::make_shared<FixedConstraint>(std::vector<uint8_t>{1, 0, 0});
  MaskConstraint m(3, {}, {0}, 5, inner);
  EXPECT_EQ(allowedIds(m.allowedTokens()), (std::vector<int>{0}));
  // The sampler never chooses a masked token.
  SamplingParams p;
  p.constraint = std::make_shared<MaskConstraint>(3, std::vector<int32_t>{}, std::vector<int32_t>{2},
                                                  1, nullptr);
  Sampler s(p);
  const float logits[3] = {0.0f, 1.0f, 5.0f};
  EXPECT_EQ(s.next(logits, 3), 1); // 2 is held back
  s.accept(1);
  EXPECT_EQ(s.next(logits, 3), 2);
}

// The sampler's cheap check: true only where the mask allows (give-way cases defer to it).
TEST(MaskConstraint, AllowsAgreesWithTheMask) {
  auto consistent = [](MaskConstraint &m, int vocab) {
    const std::vector<uint8_t> mask = m.allowedTokens();
    std::vector<int> cheap;
    for (int t = 0; t < vocab; ++t) {
      if (m.allows(t))
        cheap.push_back(t);
      EXPECT_TRUE(!m.allows(t) || mask[size_t(t)]) << t;
    }
    return cheap;
  };
  MaskConstraint hold(5, {}, {0, 4}, 1, nullptr);
  hold.banSequences({{1, 2}});
  EXPECT_EQ(consistent(hold, 5), (std::vector<int>{1, 2, 3}));
  hold.accept(1);
  EXPECT_EQ(consistent(hold, 5), (std::vector<int>{0, 1, 3, 4})); // held no more; not 1 2
  auto inner = std::make_shared<FixedConstraint>(std::vector<uint8_t>{1, 1, 0, 1, 0});
  MaskConstraint narrowed(5, {1, 2, 3}, {}, 0, inner);
  EXPECT_EQ(consistent(narrowed, 5), (std::vector<int>{1, 3}));
  auto only0 = std::make_shared<FixedConstraint>(std::vector<uint8_t>{1, 0, 0});
  MaskConstraint givesWay(3, {}, {0}, 5, only0);
  EXPECT_EQ(consistent(givesWay, 3), (std::vector<int>{})); // the mask decides: 0
}
