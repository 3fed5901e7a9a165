// The CPU executor on real plans (tiny-llama, tiny-qwen2, tiny-gpt2, compiled by the
// fixtures): ORCA's invariants hold exactly. A request's logits do not depend on what else
// is in the batch (selective batching: only attention sees request boundaries), and
// prefill in one chunk, in several chunks, or token by token gives the same logits.
#include "runtime/engine/CpuExecutor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace modelrt;
using namespace modelrt::engine;

extern std::string planDirectory;

namespace {

std::unique_ptr<CpuExecutor> load(const std::string &model) {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/" + model + ".plan");
  EXPECT_TRUE(exec.ok()) << exec.error().toString();
  return exec.ok() ? std::move(*exec) : nullptr;
}

std::vector<int32_t> prompt(int n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int32_t> dist(0, 255);
  std::vector<int32_t> ids(n);
  for (int32_t &t : ids)
    t = dist(gen);
  return ids;
}

std::vector<float> run(CpuExecutor &exec, uint64_t seq, const std::vector<int32_t> &ids) {
  Expected<std::vector<float>> logits = exec.step(ids, {{seq, int64_t(ids.size()), true}});
  EXPECT_TRUE(logits.ok()) << logits.error().toString();
  return logits.ok() ? *logits : std::vector<float>{};
}

class Models : public testing::TestWithParam<std::string> {};

} // namespace

TEST_P(Models, LogitsDoNotDependOnTheRestOfTheBatch) {
  auto exec = load(GetParam());
  ASSERT_TRUE(exec);
  std::vector<int32_t> a = prompt(9, 1), b = prompt(5, 2), c = prompt(13, 3);
  std::vector<float> alone = run(*exec, 1, a);
  ASSERT_EQ(alone.size(), 256u);
  for (float x : alone)
    ASSERT_TRUE(std::isfinite(x));

  // The same prompt as sequence 4, between two others, some of which do not sample.
  std::vector<int32_t> batch = b;
  batch.insert(batch.end(), a.begin(), a.end());
  batch.insert(batch.end(), c.begin(), c.end());
  Expected<std::vector<float>> mixed =
      exec->step(batch, {{2, 5, true}, {4, 9, true}, {3, 13, false}});
  ASSERT_TRUE(mixed.ok()) << mixed.error().toString();
  ASSERT_EQ(mixed->size(), 2 * 256u);
  std::vector<float> second(mixed->begin() + 256, mixed->end());
  EXPECT_EQ(second, alone);

  // A decode step of sequence 1 alone and of sequence 4 next to a prefill agree too.
  std::vector<float> decodeAlone = run(*exec, 1, {42});
  Expected<std::vector<float>> decodeMixed =
      exec->step({7, 8, 9, 42}, {{5, 3, true}, {4, 1, true}});
  ASSERT_TRUE(decodeMixed.ok());
  EXPECT_EQ(std::vector<float>(decodeMixed->begin() + 256, decodeMixed->end()), decodeAlone);
}

TEST_P(Models, ChunkedAndIncrementalPrefillMatchOneShot) {
  auto exec = load(GetParam());
  ASSERT_TRUE(exec);
  std::vector<int32_t> ids = prompt(12, 7);
  std::vector<float> oneShot = run(*exec, 1, ids);

  // Chunks of 5, 4, 3 (only the last samples).
  ASSERT_TRUE(exec->step({ids.begin(), ids.begin() + 5}, {{2, 5, false}}).ok());
  ASSERT_TRUE(exec->step({ids.begin() + 5, ids.begin() + 9}, {{2, 4, false}}).ok());
  std::vector<float> chunked = run(*exec, 2, {ids.begin() + 9, ids.end()});

  // One token at a time.
  std::vector<float> incremental;
  for (int32_t t : ids)
    incremental = run(*exec, 3, {t});
  EXPECT_EQ(exec->cachedTokens(3), 12);

  ASSERT_EQ(chunked.size(), oneShot.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < oneShot.size(); ++i) {
    worst = std::max({worst, std::fabs(double(chunked[i]) - oneShot[i]),
                      std::fabs(double(incremental[i]) - oneShot[i])});
    scale = std::max(scale, std::fabs(double(oneShot[i])));
  }
  // Attention sums the same terms in the same order; only GEMM row blocking could differ.
  EXPECT_LE(worst, 1e-5 * scale) << "worst difference " << worst;
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Models,
                         testing::Values("tiny-llama", "tiny-qwen2", "tiny-gpt2"));

TEST(CpuExecutor, RejectsBadBatches) {
  auto exec = load("tiny-llama");
  ASSERT_TRUE(exec);
  auto error = [&](const std::vector<int32_t> &ids, const std::vector<SequenceChunk> &chunks) {
    Expected<std::vector<float>> r = exec->step(ids, chunks);
    return r.ok() ? std::string() : r.error().message();
  };
  EXPECT_NE(error({1, 2, 300}, {{1, 3, true}}).find("token id 300 is outside the vocabulary"),
            std::string::npos);
  EXPECT_NE(error({1, 2}, {{1, 3, true}}).find("the chunks cover 3 tokens, the batch has 2"),
            std::string::npos);
  EXPECT_NE(error(std::vector<int32_t>(300, 1), {{1, 300, true}})
                .find("exceed max_num_batched_tokens 256"),
            std::string::npos);
  EXPECT_NE(error({1}, {{1, 0, true}}).find("at least one token"), std::string::npos);
  EXPECT_NE(
      error({1, 2}, {{1, 1, true}, {1, 1, true}}).find("sequence 1 appears twice in one step"),
      std::string::npos);
  // Nothing was cached by the refused steps.
  EXPECT_EQ(exec->cachedTokens(1), 0);
}

TEST(CpuExecutor, RefusesPlansItCannotRun) {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/tiny-llama-bf16.plan");
  ASSERT_FALSE(exec.ok());
  EXPECT_NE(exec.error().message().find("f32 single-rank"), std::string::npos);
}
