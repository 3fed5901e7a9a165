// Token choice: greedy is the argmax, filters remove exactly what they promise, a seed
// gives the same tokens again, and bad parameters are refused with their name.
#include "runtime/sample/Sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <set>

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

// A large vocabulary whose top-p set holds thousands of tokens far below the best one (the
// sampler orders only the heaviest tokens, lowering its threshold until they hold the mass):
// draws stay inside the set a full sort gives, and follow its distribution.
TEST(Sampler, TopPOverALongTailMatchesAFullSort) {
  std::mt19937 rng(9);
  std::normal_distribution<float> spread(0.0f, 3.0f);
  std::vector<float> logits(5000);
  for (float &x : logits)
    x = spread(rng);
  logits[17] = NAN;
  for (float topP : {0.5f, 0.9f, 0.99f}) {
    std::vector<int32_t> order;
    for (int32_t i = 0; i < 5000; ++i)
      if (i != 17)
        order.push_back(i);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    double total = 0;
    for (int32_t t : order)
      total += std::exp(double(logits[t]) - logits[order[0]]);
    std::set<int32_t> inSet;
    double mass = 0, topMass = 0;
    for (int32_t t : order) {
      inSet.insert(t);
      mass += std::exp(double(logits[t]) - logits[order[0]]) / total;
      if (mass >= topP)
        break;
    }
    topMass = std::exp(0.0) / total / mass; // the best token's share of the set
    Sampler s(SamplingParams{1.0f, 0, topP, 0.0f, 3});
    int best = 0;
    const int draws = 4000;
    for (int i = 0; i < draws; ++i) {
      const int32_t t = s.next(logits.data(), 5000);
      ASSERT_TRUE(inSet.count(t)) << "top_p " << topP << ": token " << t << " outside the set of "
                                  << inSet.size();
      best += t == order[0];
    }
    EXPECT_GT(inSet.size(), topP > 0.6f ? 100u : 1u) << topP;
    EXPECT_NEAR(best / double(draws), topMass, 0.03) << topP;
  }
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
  SamplingParams p;
  p.presencePenalty = 2.5f;
  EXPECT_NE(message(p).find("presence_penalty"), std::string::npos);
  p = {};
  p.frequencyPenalty = -3.0f;
  EXPECT_NE(message(p).find("frequency_penalty"), std::string::npos);
  p = {};
  p.repetitionPenalty = 0.0f;
  EXPECT_NE(message(p).find("repetition_penalty"), std::string::npos);
  p = {};
  p.logitBias = {{5, 101.0f}};
  EXPECT_NE(message(p).find("logit_bias"), std::string::npos);
  p.logitBias = {{5, 1.0f}};
  EXPECT_TRUE(validate(p, 6).ok());
  EXPECT_NE(validate(p, 5).error().message().find("outside the vocabulary"), std::string::npos);
}

TEST(Sampler, PenaltiesAndBiasMoveTheChoice) {
  std::vector<float> logits = {2.0f, 1.5f, 1.0f, -1.0f};
  // Presence: once token 0 is generated it loses 1.0 and token 1 wins.
  SamplingParams presence;
  presence.presencePenalty = 1.0f;
  Sampler p(presence);
  EXPECT_EQ(p.next(logits.data(), 4), 0);
  p.accept(0);
  EXPECT_EQ(p.next(logits.data(), 4), 1);
  // Frequency: 0.3 per occurrence; token 0 wins until it was generated twice.
  SamplingParams frequency;
  frequency.frequencyPenalty = 0.3f;
  Sampler f(frequency);
  f.accept(0);
  EXPECT_EQ(f.next(logits.data(), 4), 0); // 2.0 - 0.3 > 1.5
  f.accept(0);
  EXPECT_EQ(f.next(logits.data(), 4), 1); // 2.0 - 0.6 < 1.5
  // Repetition (prompt included): 2.0 / 1.5 < 1.5, so a token in the prompt loses.
  SamplingParams repetition;
  repetition.repetitionPenalty = 1.5f;
  EXPECT_EQ(Sampler(repetition, {0}).next(logits.data(), 4), 1);
  EXPECT_EQ(Sampler(repetition, {3}).next(logits.data(), 4), 0);
  // A negative logit is multiplied: -1.0 * 1.5, further down.
  std::vector<float> negative = {-1.0f, -1.2f};
  EXPECT_EQ(Sampler(repetition, {0}).next(negative.data(), 2), 1);
  // logit_bias: -100 bans, +100 forces, also when sampling.
  SamplingParams bias;
  bias.logitBias = {{0, -100.0f}, {3, 100.0f}};
  EXPECT_EQ(Sampler(bias).next(logits.data(), 4), 3);
  bias.temperature = 1.0f;
  Sampler sampled(bias);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(sampled.next(logits.data(), 4), 3);
  // The logits themselves are not touched (logprobs are of the model's distribution).
  EXPECT_EQ(logits[0], 2.0f);
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
  // vLLM's rank: 1 + the tokens more likely (NaN ones are none).
  EXPECT_EQ(lp.rank, 3);
  EXPECT_EQ(logprobs(logits.data(), 5, 1, 0).rank, 1);
  EXPECT_EQ(logprobs(logits.data(), 5, 3, 0).rank, 4);
}

// A constraint over a fixed set of tokens that counts how it is asked.
class SetConstraint : public TokenConstraint {
public:
  SetConstraint(std::vector<uint8_t> mask) : mask_(std::move(mask)) {}
  const std::vector<uint8_t> &allowedTokens() override {
    ++masks;
    return mask_;
  }
  void accept(int32_t) override {}
  bool allows(int32_t token) override {
    ++checks;
    return mask_[size_t(token)] != 0;
  }
  int masks = 0, checks = 0;

private:
  std::vector<uint8_t> mask_;
};

TEST(Sampler, ConstraintsAreAskedForTheirMaskOnlyWhenTheChoiceIsRefused) {
  std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.0f};
  // Greedy: token 0 allowed, chosen without a mask; refused, the best allowed one (2).
  auto allowsBest = std::make_shared<SetConstraint>(std::vector<uint8_t>{1, 0, 1, 0});
  SamplingParams greedy;
  greedy.constraint = allowsBest;
  EXPECT_EQ(Sampler(greedy).next(logits.data(), 4), 0);
  EXPECT_EQ(allowsBest->masks, 0);
  auto refusesBest = std::make_shared<SetConstraint>(std::vector<uint8_t>{0, 0, 1, 1});
  greedy.constraint = refusesBest;
  EXPECT_EQ(Sampler(greedy).next(logits.data(), 4), 2);
  EXPECT_EQ(refusesBest->masks, 1);

  // Sampled: the draws follow the allowed tokens' renormalized distribution, tokens 1 and 3
  // (0.24 and 0.03 of the whole: 0.888 and 0.112), though most first draws are refused.
  auto odd = std::make_shared<SetConstraint>(std::vector<uint8_t>{0, 1, 0, 1});
  SamplingParams sampled{1.0f, 0, 1.0f, 0.0f, 5};
  sampled.constraint = odd;
  Sampler s(sampled);
  std::map<int32_t, int> counts;
  const int draws = 40000;
  for (int i = 0; i < draws; ++i)
    ++counts[s.next(logits.data(), 4)];
  EXPECT_EQ(counts.count(0) + counts.count(2), 0u);
  EXPECT_NEAR(counts[1] / double(draws), 0.8808, 0.01);
  EXPECT_GT(odd->masks, draws / 2); // 0 and 2 are drawn first about 73% of the time
  EXPECT_LT(odd->masks, draws);

  // With a filter (top-p) the mask comes first, as the filter applies to allowed tokens.
  auto filtered = std::make_shared<SetConstraint>(std::vector<uint8_t>{0, 1, 0, 1});
  SamplingParams topP{1.0f, 0, 0.5f, 0.0f, 5};
  topP.constraint = filtered;
  Sampler t(topP);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(t.next(logits.data(), 4), 1); // 1 alone reaches 0.5 of the allowed mass
  EXPECT_EQ(filtered->checks, 0);
}

// Logits that are not finite (an overflow upstream) never break sampling: +inf wins, and a
// row of -inf has no distribution (its first token comes back), under every filter.
TEST(Sampler, InfiniteLogitsAreHandled) {
  const float inf = INFINITY;
  for (SamplingParams p : {SamplingParams{0.8f, 0, 0.9f, 0.0f, 1}, SamplingParams{0.8f, 0, 1.0f, 0.0f, 1},
                           SamplingParams{0.8f, 0, 1.0f, 0.1f, 1}, SamplingParams{0.8f, 3, 0.9f, 0.0f, 1}}) {
    std::vector<float> up = {0.0f, inf, 1.0f, -inf};
    std::vector<float> down = {-inf, -inf, -inf};
    Sampler s(p);
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(s.next(up.data(), 4), 1);
      EXPECT_EQ(s.next(down.data(), 3), 0);
    }
  }
}

// The sampler's and logprobs' exp: within 1e-15 of the library's over the whole range that
// matters (weights relative to the best token, down to e^-708; below, where doubles turn
// subnormal, 0), 0 for NaN, exactly 1 at the shift.
TEST(Sampler, ExpWeightsMatchTheLibrary) {
  std::vector<float> logits;
  for (int i = 0; i <= 200000; ++i)
    logits.push_back(-700.0f + 700.0f * float(i) / 200000.0f);
  logits.push_back(NAN);
  logits.push_back(-INFINITY);
  std::vector<double> w(logits.size());
  for (double scale : {1.0, 1.0 / 0.7, 2.0}) {
    const double sum = expWeights(logits.data(), int64_t(logits.size()), 0.0, scale, w.data());
    double ref = 0, worst = 0;
    for (size_t i = 0; i + 2 < logits.size(); ++i) {
      const double e = std::exp(double(logits[i]) * scale);
      ref += e;
      if (double(logits[i]) * scale > -708.0)
        worst = std::max(worst, std::abs(w[i] - e) / e);
      else
        EXPECT_EQ(w[i], 0.0);
    }
    EXPECT_LT(worst, 1e-15) << scale;
    EXPECT_EQ(w[200000], 1.0);
    EXPECT_EQ(w[w.size() - 2], 0.0); // NaN
    EXPECT_EQ(w[w.size() - 1], 0.0); // -inf
    EXPECT_NEAR(sum, ref, 1e-13 * ref);
    EXPECT_EQ(expWeights(logits.data(), int64_t(logits.size()), 0.0, scale, nullptr), sum);
  }
}

// The top logprobs: best first, ties by id, NaN never listed, at most the tokens there are;
// the same list a full sort gives on a large row.
TEST(Sampler, TopLogprobsAreTheBestTokens) {
  std::vector<float> small = {1.0f, 3.0f, NAN, 3.0f, 2.0f};
  TokenLogprobs lp = logprobs(small.data(), 5, 4, 10);
  std::vector<int32_t> ids;
  for (auto [t, p] : lp.top)
    ids.push_back(t);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 3, 4, 0}));
  EXPECT_EQ(lp.rank, 3);
  std::mt19937 rng(12);
  std::normal_distribution<float> spread(0.0f, 3.0f);
  std::vector<float> row(20000);
  for (float &x : row)
    x = std::round(spread(rng) * 4.0f) / 4.0f; // many ties
  std::vector<int32_t> order(row.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
  lp = logprobs(row.data(), int64_t(row.size()), 0, 20);
  ASSERT_EQ(lp.top.size(), 20u);
  for (size_t i = 0; i < 20; ++i)
    EXPECT_EQ(lp.top[i].first, order[i]) << i;
}
