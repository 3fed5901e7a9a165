// GPU sampling against host computations: greedy, log-probabilities, filter membership and
// the distribution of seeded draws.
#include "runtime/device/cuda/Sampling.h"
#include "unittests/device/DeviceTestUtil.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace modelrt::cuda::test {
namespace {

struct Rows {
  int batch, vocab;
  std::vector<float> logits, temperature, topP, minP;
  std::vector<int32_t> topK;
  std::vector<uint64_t> seed, step;
};

Rows makeRows(std::mt19937 &rng, int batch, int vocab) {
  Rows r{batch, vocab};
  std::normal_distribution<float> dist(0.0f, 3.0f);
  r.logits.resize(size_t(batch) * vocab);
  for (auto &x : r.logits)
    x = dist(rng);
  r.temperature.assign(batch, 1.0f);
  r.topP.assign(batch, 1.0f);
  r.minP.assign(batch, 0.0f);
  r.topK.assign(batch, 0);
  r.seed.resize(batch);
  std::iota(r.seed.begin(), r.seed.end(), 1000);
  r.step.assign(batch, 7);
  return r;
}

struct Result {
  std::vector<int32_t> tokens, topIds;
  std::vector<float> logprobs, topLogprobs;
};

Result run(const Rows &r, int numTop) {
  DeviceBuffer<float> logits(r.logits), temp(r.temperature), topP(r.topP), minP(r.minP);
  DeviceBuffer<int32_t> topK(r.topK), tokens(r.batch),
      topIds(size_t(r.batch) * std::max(numTop, 1));
  DeviceBuffer<uint64_t> seed(r.seed), step(r.step);
  DeviceBuffer<float> logprobs(r.batch), topLogprobs(size_t(r.batch) * std::max(numTop, 1));
  tokens.poison();
  logprobs.poison();
  topIds.poison();
  topLogprobs.poison();
  SamplingParams p{temp.get(), topK.get(), topP.get(), minP.get(), seed.get(), step.get()};
  SamplingOutput o{tokens.get(), logprobs.get(), topIds.get(), topLogprobs.get(), numTop};
  Status st = sampleTokens(logits.get(), r.vocab, r.batch, r.vocab, p, o, nullptr);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().toString());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return {tokens.download(), topIds.download(), logprobs.download(), topLogprobs.download()};
}

double logZ(const float *row, int vocab) {
  double mx = *std::max_element(row, row + vocab), s = 0;
  for (int i = 0; i < vocab; ++i)
    s += std::exp(double(row[i]) - mx);
  return mx + std::log(s);
}

// Token ids kept by the filters, by the definitions in Sampling.h.
std::vector<int> keptSet(const float *row, int vocab, float temp, int topK, float topP,
                         float minP) {
  std::vector<int> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return row[a] > row[b]; });
  float thr = -INFINITY;
  if (topK > 0 && topK < vocab)
    thr = row[order[topK - 1]];
  if (topP < 1.0f) {
    double mx = row[order[0]], total = 0;
    for (int i : order)
      if (row[i] >= thr)
        total += std::exp((row[i] - mx) / temp);
    double cum = 0;
    for (int i : order) {
      cum += std::exp((row[i] - mx) / temp);
      if (cum >= topP * total) {
        thr = std::max(thr, row[i]);
        break;
      }
    }
  }
  if (minP > 0.0f)
    thr = std::max(thr, float(row[order[0]] + temp * std::log(minP)));
  std::vector<int> kept;
  for (int i = 0; i < vocab; ++i)
    if (row[i] >= thr)
      kept.push_back(i);
  return kept;
}

TEST(Sampling, GreedyLogprobsAndTopN) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(11);
  for (int vocab : {1000, 131072}) {
    Rows r = makeRows(rng, 6, vocab);
    r.temperature.assign(r.batch, 0.0f);
    r.temperature[3] = 1.0f; // top-k 1 at temperature 1 is greedy too
    r.topK[3] = 1;
    Result res = run(r, 5);
    for (int b = 0; b < r.batch; ++b) {
      const float *row = &r.logits[size_t(b) * vocab];
      std::vector<int> order(vocab);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int c) { return row[a] > row[c]; });
      double lz = logZ(row, vocab);
      EXPECT_EQ(res.tokens[b], order[0]) << "row " << b << " vocab " << vocab;
      EXPECT_NEAR(res.logprobs[b], row[order[0]] - lz, 1e-4);
      for (int j = 0; j < 5; ++j) {
        EXPECT_EQ(res.topIds[b * 5 + j], order[j]) << "row " << b << " rank " << j;
        EXPECT_NEAR(res.topLogprobs[b * 5 + j], row[order[j]] - lz, 1e-4);
      }
    }
  }
}

TEST(Sampling, DrawsStayInsideTheFilters) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(12);
  const int batch = 64, vocab = 131072;
  Rows r = makeRows(rng, batch, vocab);
  for (int b = 0; b < batch; ++b) {
    r.temperature[b] = 0.5f + 0.1f * (b % 8);
    r.topK[b] = (b % 4 == 0) ? 0 : 1 + (b * 37) % 200; // <= 1024: drawn from shared memory
    r.topP[b] = (b % 3 == 0) ? 1.0f : 0.5f + 0.05f * (b % 9);
    r.minP[b] = (b % 5 == 0) ? 0.05f : 0.0f;
    if (b % 8 == 1)
      r.topK[b] = 1500; // past the shared-memory set: the passes over the row
    if (b % 8 == 5) {
      // Logits in steps of 4: the 600th largest ties with about 12000 others, more than
      // the shared-memory set holds, so the draw falls back to the passes over the row.
      for (int i = 0; i < vocab; ++i) {
        float &x = r.logits[size_t(b) * vocab + i];
        x = 4.0f * std::floor(x / 4.0f);
      }
      r.topK[b] = 600;
    }
  }
  Result res = run(r, 0);
  for (int b = 0; b < batch; ++b) {
    const float *row = &r.logits[size_t(b) * vocab];
    auto kept = keptSet(row, vocab, r.temperature[b], r.topK[b], r.topP[b], r.minP[b]);
    EXPECT_TRUE(std::binary_search(kept.begin(), kept.end(), res.tokens[b]))
        << "row " << b << " drew " << res.tokens[b] << " outside " << kept.size() << " kept";
    EXPECT_NEAR(res.logprobs[b], row[res.tokens[b]] - logZ(row, vocab), 1e-4);
  }
}

// A top-k set drawn from shared memory (k <= 1024) gives the token the passes over the row
// give for the same kept set: rows with k finite logits (the rest -inf) drawn with top-k k
// and with top-k off, with top-p and min-p on some rows; k = 1024 fills the set exactly.
TEST(Sampling, TopKSetDrawsAsThePassesOverTheRow) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(15);
  const int batch = 48, vocab = 50000;
  Rows r = makeRows(rng, batch, vocab);
  std::vector<int32_t> finite(batch);
  for (int b = 0; b < batch; ++b) {
    finite[b] = b == 0 ? 1024 : 1 + (b * 97) % 1000;
    float *row = &r.logits[size_t(b) * vocab];
    std::vector<int> ids(vocab);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    for (int j = finite[b]; j < vocab; ++j)
      row[ids[j]] = -INFINITY;
    r.temperature[b] = 0.6f + 0.1f * (b % 5);
    r.topP[b] = b % 2 == 0 ? 0.9f : 1.0f;
    r.minP[b] = b % 3 == 0 ? 0.02f : 0.0f;
  }
  r.topK = finite;
  Result set = run(r, 0);
  r.topK.assign(batch, 0);
  Result passes = run(r, 0);
  for (int b = 0; b < batch; ++b)
    EXPECT_EQ(set.tokens[b], passes.tokens[b])
        << "row " << b << ": " << finite[b] << " finite logits, top-p " << r.topP[b];
}

TEST(Sampling, SeededDrawsFollowTheFilteredDistribution) {
  MODELRT_REQUIRE_GPU();
  // 16 tokens with known probabilities; 20000 rows with distinct seeds draw from the same
  // row; each kept token's frequency must sit within 5 standard deviations.
  const int vocab = 16, batch = 20000;
  std::vector<float> base(vocab);
  for (int i = 0; i < vocab; ++i)
    base[i] = 0.3f * float((i * 7) % vocab);
  struct Filter {
    float temp;
    int topK;
    float topP;
    float minP;
  };
  for (Filter f :
       {Filter{1.0f, 0, 1.0f, 0.0f}, Filter{0.7f, 5, 1.0f, 0.0f}, Filter{1.3f, 0, 0.6f, 0.0f},
        Filter{1.0f, 0, 1.0f, 0.2f}, Filter{0.9f, 8, 0.8f, 0.05f}}) {
    std::mt19937 rng(13);
    Rows r = makeRows(rng, batch, vocab);
    for (int b = 0; b < batch; ++b)
      std::copy(base.begin(), base.end(), r.logits.begin() + size_t(b) * vocab);
    r.temperature.assign(batch, f.temp);
    r.topK.assign(batch, f.topK);
    r.topP.assign(batch, f.topP);
    r.minP.assign(batch, f.minP);
    Result res = run(r, 0);
    auto kept = keptSet(base.data(), vocab, f.temp, f.topK, f.topP, f.minP);
    double mx = *std::max_element(base.begin(), base.end()), total = 0;
    for (int i : kept)
      total += std::exp((base[i] - mx) / f.temp);
    std::vector<int> count(vocab, 0);
    for (int t : res.tokens) {
      ASSERT_GE(t, 0);
      ASSERT_LT(t, vocab);
      ++count[t];
    }
    for (int i = 0; i < vocab; ++i) {
      bool in = std::find(kept.begin(), kept.end(), i) != kept.end();
      double p = in ? std::exp((base[i] - mx) / f.temp) / total : 0.0;
      double sd = std::sqrt(batch * p * (1 - p)) + 1e-9;
      EXPECT_LE(std::abs(count[i] - batch * p), 5 * sd + (in ? 0 : 0.5))
          << "token " << i << " temp " << f.temp << " topK " << f.topK << " topP " << f.topP
          << " minP " << f.minP;
    }
  }
}

TEST(Sampling, SameSeedAndStepSameToken) {
  MODELRT_REQUIRE_GPU();
  std::mt19937 rng(14);
  Rows r = makeRows(rng, 32, 5000);
  Result a = run(r, 0), b = run(r, 0);
  EXPECT_EQ(a.tokens, b.tokens);
  for (auto &s : r.step)
    s += 1;
  Result c = run(r, 0);
  EXPECT_NE(a.tokens, c.tokens); // 32 rows all equal across steps: about e^-32 by chance
}

TEST(SamplingArguments, RejectedBeforeLaunch) {
  auto *fakeF = reinterpret_cast<const float *>(uintptr_t(4096));
  auto *fakeI = reinterpret_cast<int32_t *>(uintptr_t(4096));
  SamplingParams p{fakeF, nullptr, nullptr, nullptr, nullptr, nullptr};
  SamplingOutput o{fakeI, nullptr, nullptr, nullptr, kMaxTopLogprobs + 1};
  Status st = sampleTokens(fakeF, 100, 4, 100, p, o, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::InvalidArgument);
  o.numTop = 0;
  st = sampleTokens(fakeF, 50, 4, 100, p, o, nullptr);
  ASSERT_FALSE(st.ok());
}

} // namespace
} // namespace modelrt::cuda::test
