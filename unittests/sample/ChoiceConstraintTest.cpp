// Guided choice (vLLM's guided_choice): the answer is exactly one of the strings, however
// the vocabulary splits it.
#include "runtime/sample/ChoiceConstraint.h"
#include "runtime/sample/Sampler.h"
#include "unittests/sample/AllowedTexts.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace modelrt::sample {
namespace {

std::vector<std::string> choiceVocabulary() {
  std::vector<std::string> v = {"", "yes", "ye", "no", "maybe", " please", " pl", "yes please"};
  for (char c = ' '; c < 127; ++c)
    v.push_back(std::string(1, c));
  v.push_back(""); // the end token (no bytes)
  return v;
}

TEST(ChoiceConstraint, AllowsTokensThatKeepAChoiceReachable) {
  const std::vector<std::string> vocab = choiceVocabulary();
  const int32_t eos = static_cast<int32_t>(vocab.size() - 1);
  auto shared = std::make_shared<JsonVocabulary>(vocab, std::vector<int32_t>{eos});
  ChoiceConstraint c(shared, {"yes", "yes please", "no"});
  using V = std::vector<std::string>;
  EXPECT_EQ(allowedTexts(c, vocab), (V{"n", "no", "y", "ye", "yes", "yes please"}));
  c.accept(2); // "ye"
  EXPECT_EQ(allowedTexts(c, vocab), (V{"s"}));
  c.accept(static_cast<int32_t>(std::find(vocab.begin(), vocab.end(), "s") - vocab.begin()));
  // "yes" is a choice (the end may come) and a prefix of another.
  EXPECT_EQ(allowedTexts(c, vocab), (V{" ", " pl", " please", "<end>"}));
  c.accept(5); // " please"
  EXPECT_EQ(c.text(), "yes please");
  EXPECT_EQ(allowedTexts(c, vocab), (V{"<end>"}));
}

TEST(ChoiceConstraint, RandomSamplingAlwaysYieldsAChoice) {
  const std::vector<std::string> vocab = choiceVocabulary();
  const int32_t eos = static_cast<int32_t>(vocab.size() - 1);
  auto shared = std::make_shared<JsonVocabulary>(vocab, std::vector<int32_t>{eos});
  const std::vector<std::string> choices = {"yes", "no", "yes please", "maybe not", "x"};
  std::mt19937 rng(5);
  std::set<std::string> seen;
  for (int trial = 0; trial < 300; ++trial) {
    auto constraint = std::make_shared<ChoiceConstraint>(shared, choices);
    ASSERT_TRUE(sampleText(constraint, vocab, eos, uint64_t(trial), rng, 64).ended)
        << constraint->text();
    EXPECT_NE(std::find(choices.begin(), choices.end(), constraint->text()), choices.end())
        << constraint->text();
    seen.insert(constraint->text());
  }
  EXPECT_EQ(seen.size(), choices.size()); // every choice is reachable
}

} // namespace
} // namespace modelrt::sample
