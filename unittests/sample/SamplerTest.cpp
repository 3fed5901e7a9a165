// Token choice: greedy is the argmax, filters remove exactly what they promise, a seed
// gives the same tokens again, and bad parameters are refused with their name.
#include "runtime/sample/Sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

using namespace modelrt;
using namespace modelrt::sample;

TEST(Sampler, GreedyIsTheArgmaxAndSkipsNaN) {
  std::vector<float> logits = {0.5f, NAN, 3.0f, -1.0f, 2.9f};
  Sampler s(SamplingParams{});
  EXPECT_EQ(s.next(logits.data(), 5), 2);
  logits[1] = 10.0f;
  EXPECT_EQ(s.next(logits.data(), 5), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  std::vector<float> logits = {0.1f, 0.2f, 5.0f, 0.3f};
  Sampler s(SamplingParams{1.0f, 1, 1.0f, 0.0f, 7});
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(s.next(logits.data(), 4), 2);
}

TEST(Sampler, FiltersKeepOnlyTheirTokensAndFollowTheDistribution) {
  // Probabilities at temperature 1: about 0.64, 0.24, 0.09, 0.03.
  std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.0f};
  std::map<int32_t, int> counts;
  Sampler topP(SamplingParams{1.0f, 0, 0.8f, 0.0f, 1}); // keeps tokens 0 and 1 (0.64 + 0.24)
  for (int i = 0; i < 20000; ++i)
    ++counts[topP.next(logits.data(), 4)];
  EXPECT_EQ(counts.count(2) + counts.count(3), 0u);
  double share = counts[0] / 20000.0; // 0.64 / 0.88
  EXPECT_NEAR(share, 0.7275, 0.02);

  counts.clear();
  Sampler minP(SamplingParams{1.0f, 0, 1.0f, 0.3f, 2}); // drops below 0.3 x 0.64
  for (int i = 0; i < 5000; ++i)
    ++counts[minP.next(logits.data(), 4)];
  EXPECT_EQ(counts.count(2) + counts.count(3), 0u);
  EXPECT_GT(counts[1], 0);
}

TEST(Sampler, SameSeedSameTokens) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i)
    logits[i] = std::sin(double(i)) * 3;
  Sampler a(SamplingParams{0.8f, 50, 0.95f, 0.0f, 42}),
      b(SamplingParams{0.8f, 50, 0.95f, 0.0f, 42});
  Sampler c(SamplingParams{0.8f, 50, 0.95f, 0.0f, 43});
  int differ = 0;
  for (int i = 0; i < 200; ++i) {
    int32_t x = a.next(logits.data(), 1000);
    EXPECT_EQ(x, b.next(logits.data(), 1000));
    differ += x != c.next(logits.data(), 1000);
  }
  EXPECT_GT(differ, 0);
}

TEST(Sampler, RejectsBadParameters) {
  auto message = [](SamplingParams p) {
    Status s = validate(p);
    return s.ok() ? std::string() : s.error().message();
  };
  EXPECT_EQ(message(SamplingParams{}), "");
  EXPECT_NE(message({-1.0f, 0, 1.0f, 0.0f, 0}).find("temperature"), std::string::npos);
  EXPECT_NE(message({INFINITY, 0, 1.0f, 0.0f, 0}).find("temperature"), std::string::npos);
  EXPECT_NE(message({1.0f, -3, 1.0f, 0.0f, 0}).find("top_k"), std::string::npos);
  EXPECT_NE(message({1.0f, 0, 0.0f, 0.0f, 0}).find("top_p"), std::string::npos);
  EXPECT_NE(message({1.0f, 0, 1.5f, 0.0f, 0}).find("top_p"), std::string::npos);
  EXPECT_NE(message({1.0f, 0, 1.0f, 1.0f, 0}).find("min_p"), std::string::npos);
}

TEST(Sampler, LogprobsAreTheLogSoftmax) {
  std::vector<float> logits = {1.0f, 3.0f, NAN, -2.0f, 0.5f};
  TokenLogprobs lp = logprobs(logits.data(), 5, 4, 2);
  double z = std::exp(1.0) + std::exp(3.0) + std::exp(-2.0) + std::exp(0.5);
  EXPECT_NEAR(lp.chosen, 0.5 - std::log(z), 1e-6);
  ASSERT_EQ(lp.top.size(), 2u);
  EXPECT_EQ(lp.top[0].first, 1);
  EXPECT_NEAR(lp.top[0].second, 3.0 - std::log(z), 1e-6);
  EXPECT_EQ(lp.top[1].first, 0);
  EXPECT_TRUE(logprobs(logits.data(), 5, 1, 0).top.empty());
}
