// The CPU executor on real plans (tiny-llama, tiny-qwen2, tiny-gpt2, compiled by the
// fixtures): ORCA's invariants hold exactly. A request's logits do not depend on what else
// is in the batch (selective batching: only attention sees request boundaries), and
// prefill in one chunk, in several chunks, or token by token gives the same logits.
#include "runtime/engine/CpuExecutor.h"
#include "runtime/engine/Sequences.h"

#include "runtime/plan/PlanFile.h"
#include <functional>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <random>

using namespace modelrt;
using namespace modelrt::engine;

extern std::string planDirectory;

namespace {

// "model" or "model@dtype": the plan with its KV cache stored as dtype (--kv-cache-dtype).
std::unique_ptr<CpuExecutor> load(const std::string &model) {
  ExecutorOptions options;
  const size_t at = model.find('@');
  if (at != std::string::npos)
    options.kvCacheDtype = model.substr(at + 1);
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/" + model.substr(0, at) + ".plan", options);
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

Sequences sequences(CpuExecutor &exec) {
  Expected<Sequences> s = Sequences::create(exec);
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

std::vector<float> run(Sequences &seqs, uint64_t seq, const std::vector<int32_t> &ids) {
  Expected<std::vector<float>> logits = seqs.step(ids, {{seq, int64_t(ids.size()), true}});
  EXPECT_TRUE(logits.ok()) << logits.error().toString();
  return logits.ok() ? *logits : std::vector<float>{};
}

class Models : public testing::TestWithParam<std::string> {};

} // namespace

TEST_P(Models, LogitsDoNotDependOnTheRestOfTheBatch) {
  auto exec = load(GetParam());
  ASSERT_TRUE(exec);
  Sequences seqs = sequences(*exec);
  std::vector<int32_t> a = prompt(9, 1), b = prompt(5, 2), c = prompt(13, 3);
  std::vector<float> alone = run(seqs, 1, a);
  ASSERT_EQ(alone.size(), 256u);
  for (float x : alone)
    ASSERT_TRUE(std::isfinite(x));

  // The same prompt as sequence 4, between two others, some of which do not sample.
  std::vector<int32_t> batch = b;
  batch.insert(batch.end(), a.begin(), a.end());
  batch.insert(batch.end(), c.begin(), c.end());
  Expected<std::vector<float>> mixed =
      seqs.step(batch, {{2, 5, true}, {4, 9, true}, {3, 13, false}});
  ASSERT_TRUE(mixed.ok()) << mixed.error().toString();
  ASSERT_EQ(mixed->size(), 2 * 256u);
  std::vector<float> second(mixed->begin() + 256, mixed->end());
  EXPECT_EQ(second, alone);

  // A decode step of sequence 1 alone and of sequence 4 next to a prefill agree too.
  std::vector<float> decodeAlone = run(seqs, 1, {42});
  Expected<std::vector<float>> decodeMixed = seqs.step({7, 8, 9, 42}, {{5, 3, true}, {4, 1, true}});
  ASSERT_TRUE(decodeMixed.ok());
  EXPECT_EQ(std::vector<float>(decodeMixed->begin() + 256, decodeMixed->end()), decodeAlone);
}

TEST_P(Models, ChunkedAndIncrementalPrefillMatchOneShot) {
  auto exec = load(GetParam());
  ASSERT_TRUE(exec);
  Sequences seqs = sequences(*exec);
  std::vector<int32_t> ids = prompt(12, 7);
  std::vector<float> oneShot = run(seqs, 1, ids);

  // Chunks of 5, 4, 3 (only the last samples).
  ASSERT_TRUE(seqs.step({ids.begin(), ids.begin() + 5}, {{2, 5, false}}).ok());
  ASSERT_TRUE(seqs.step({ids.begin() + 5, ids.begin() + 9}, {{2, 4, false}}).ok());
  std::vector<float> chunked = run(seqs, 2, {ids.begin() + 9, ids.end()});

  // One token at a time.
  std::vector<float> incremental;
  for (int32_t t : ids)
    incremental = run(seqs, 3, {t});
  EXPECT_EQ(seqs.cachedTokens(3), 12);

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

// The tensor-parallel plans keep both invariants: each rank's shard of a row is computed
// as in a single-rank plan, and the all-reduce adds the ranks' partials in rank order.
// Pipeline stages compute each layer as the single-rank plan does.
INSTANTIATE_TEST_SUITE_P(TinyModels, Models,
                         testing::Values("tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-gpt2",
                                         "tiny-llama-tp2", "tiny-llama-tp4", "tiny-qwen2-tp2",
                                         "tiny-qwen3-tp2", "tiny-gpt2-tp2", "tiny-llama-pp2",
                                         "tiny-qwen2-pp2", "tiny-qwen3-pp2", "tiny-gpt2-pp2",
                                         // Soft-capped attention and logits, windows,
                                         // LongRoPE and fused parts, output norms, multipliers.
                                         "tiny-gemma2", "tiny-gemma3", "tiny-phi3", "tiny-olmo2",
                                         "tiny-granite", "tiny-gemma2-tp2", "tiny-gemma3-pp3",
                                         // Mixtures of experts: a token's experts' rows.
                                         "tiny-mixtral", "tiny-qwen3-moe", "tiny-olmoe",
                                         "tiny-granitemoe", "tiny-qwen2-moe", "tiny-qwen2-moe-tp2",
                                         "tiny-mixtral-tp2", "tiny-qwen3-moe-pp3",
                                         // Attention sinks, experts with biases.
                                         "tiny-gpt-oss", "tiny-gpt-oss-tp2",
                                         // Recurrent state (short convolutions): each
                                         // request's own, carried between its chunks.
                                         "tiny-lfm2", "tiny-lfm2-tp2", "tiny-lfm2-pp2",
                                         // And the gated delta rule's state matrices.
                                         "tiny-qwen3_5", "tiny-qwen3_5-tp2",
                                         "tiny-qwen3_5-pp2",
                                         // Mamba 2's selective scan.
                                         "tiny-granite4-h", "tiny-granite4-h-tp2",
                                         "tiny-granite4-h-pp2",
                                         // Narrow KV caches: rows rounded as they enter.
                                         "tiny-qwen3@q8_0", "tiny-qwen3-tp2@fp8",
                                         "tiny-gemma2@bfloat16", "tiny-llama-pp2@fp8_e5m2",
                                         "tiny-gpt-oss@float16"),
                         [](const testing::TestParamInfo<std::string> &info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           std::replace(name.begin(), name.end(), '@', '_');
                           return name;
                         });

TEST(CpuExecutor, RejectsBadBatches) {
  auto exec = load("tiny-llama");
  ASSERT_TRUE(exec);
  Sequences seqs = sequences(*exec);
  auto error = [&](const std::vector<int32_t> &ids, const std::vector<SequenceChunk> &chunks) {
    Expected<std::vector<float>> r = seqs.step(ids, chunks);
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
  // Nothing was cached by the refused steps, and their blocks are free again.
  EXPECT_EQ(seqs.cachedTokens(1), 0);
  EXPECT_EQ(seqs.numFreeBlocks(), exec->numKvBlocks());
  // A refused step of a sequence that has tokens keeps them.
  ASSERT_TRUE(seqs.step({1, 2, 3}, {{1, 3, false}}).ok());
  EXPECT_NE(error({4, 300}, {{1, 2, true}}).find("outside the vocabulary"), std::string::npos);
  EXPECT_EQ(seqs.cachedTokens(1), 3);

  // The executor checks the tables it is given.
  std::vector<int32_t> table = {0}, outside = {exec->numKvBlocks()};
  auto paged = [&](const std::vector<PagedChunk> &chunks) {
    Expected<std::vector<float>> r =
        exec->step(std::vector<int32_t>(chunks[0].numTokens, 1), chunks);
    return r.ok() ? std::string() : r.error().message();
  };
  EXPECT_NE(paged({{0, 17, true, &table}}).find("the block table does not cover 17 tokens"),
            std::string::npos);
  EXPECT_NE(paged({{0, 1, true, &outside}}).find("is outside the"), std::string::npos);
  EXPECT_NE(paged({{0, 1, true, nullptr}}).find("block table"), std::string::npos);
  EXPECT_NE(paged({{exec->metadata().maxSeqLen, 1, true, &table}}).find("exceed max_seq_len"),
            std::string::npos);
  EXPECT_FALSE(exec->copyBlocks({{0, exec->numKvBlocks()}}).ok());
}

// Where a sequence's blocks lie does not change its logits: scattered, reversed block ids
// give the same bits as consecutive ones, and a copied block (copy-on-write) continues
// like the original.
// A plan with recurrent state: every chunk names a state slot of its own, in range; a step
// that breaks either is refused before anything runs.
TEST(CpuExecutor, RecurrentStateNeedsASlotPerChunk) {
  auto exec = load("tiny-lfm2");
  ASSERT_TRUE(exec);
  ASSERT_TRUE(exec->metadata().hasRecurrentState());
  std::vector<int32_t> a = {0}, b = {1};
  auto error = [&](const std::vector<PagedChunk> &chunks) {
    Expected<std::vector<float>> r =
        exec->step(std::vector<int32_t>(chunks.size(), 1), chunks);
    return r.ok() ? std::string() : r.error().message();
  };
  PagedChunk first{0, 1, true, &a}, second{0, 1, true, &b};
  EXPECT_NE(error({first}).find("the plan keeps recurrent state: a chunk needs a state slot in "
                                "[0, 16), not -1"),
            std::string::npos);
  first.stateSlot = 16;
  EXPECT_NE(error({first}).find("not 16"), std::string::npos);
  first.stateSlot = second.stateSlot = 3;
  EXPECT_NE(error({first, second}).find("chunk 1: state slot 3 is also chunk 0's"),
            std::string::npos);
  second.stateSlot = 4;
  EXPECT_EQ(error({first, second}), "");
}

TEST(CpuExecutor, PagedCacheLayoutDoesNotChangeLogits) {
  auto exec = load("tiny-llama");
  ASSERT_TRUE(exec);
  ASSERT_GE(exec->numKvBlocks(), 12);
  const int64_t bs = exec->kvBlockSize();
  std::vector<int32_t> ids = prompt(int(2 * bs + 5), 11);
  const int64_t n = static_cast<int64_t>(ids.size());
  std::vector<int32_t> consecutive = {0, 1, 2}, scattered = {11, 4, 7};
  auto prefill = [&](const std::vector<int32_t> &table) {
    Expected<std::vector<float>> r = exec->step(ids, {{0, n, true, &table}});
    EXPECT_TRUE(r.ok()) << r.error().toString();
    return r.ok() ? *r : std::vector<float>{};
  };
  auto decode = [&](const std::vector<int32_t> &table, int32_t token) {
    Expected<std::vector<float>> r = exec->step({token}, {{n, 1, true, &table}});
    EXPECT_TRUE(r.ok()) << r.error().toString();
    return r.ok() ? *r : std::vector<float>{};
  };
  std::vector<float> a = prefill(consecutive), b = prefill(scattered);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  // Both sequences in one batch, interleaved with nothing else: same again.
  Expected<std::vector<float>> both = exec->step(
      {ids.back(), ids.back()}, {{n - 1, 1, true, &consecutive}, {n - 1, 1, true, &scattered}});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(std::vector<float>(both->begin(), both->begin() + 256), a);
  EXPECT_EQ(std::vector<float>(both->begin() + 256, both->end()), a);

  // Copy the partly filled last block of `scattered` to a new block and continue there.
  std::vector<float> original = decode(scattered, 42);
  std::vector<int32_t> copied = {11, 4, 9};
  ASSERT_TRUE(exec->copyBlocks({{7, 9}}).ok());
  EXPECT_EQ(decode(copied, 42), original);
}

// A plan whose program has been tampered with is refused when it loads, with the reason,
// instead of reading or writing outside its buffers when it runs.
TEST(CpuExecutor, RefusesCorruptPrograms) {
  Expected<plan::PlanFile> original = plan::PlanFile::open(planDirectory + "/tiny-llama.plan");
  ASSERT_TRUE(original.ok());
  const plan::Section *programSection = original->find(plan::SectionKind::Program);
  ASSERT_TRUE(programSection);
  const nlohmann::json program = nlohmann::json::parse(programSection->text());
  auto loadWith = [&](const std::function<void(nlohmann::json &)> &edit) {
    nlohmann::json changed = program;
    edit(changed);
    plan::PlanWriter writer;
    for (const plan::Section &section : original->sections()) {
      std::string_view bytes = section.text();
      if (section.kind == plan::SectionKind::Program)
        writer.addSection(section.kind, section.rank, section.name, changed.dump());
      else
        writer.addSection(section.kind, section.rank, section.name,
                          std::vector<uint8_t>(bytes.begin(), bytes.end()));
    }
    std::string path = testing::TempDir() + "/corrupt.plan";
    EXPECT_TRUE(writer.write(path).ok());
    Expected<std::unique_ptr<CpuExecutor>> exec = CpuExecutor::load(path);
    return exec.ok() ? std::string("loaded") : exec.error().message();
  };
  EXPECT_EQ(loadWith([](nlohmann::json &) {}), "loaded");
  auto has = [](const std::string &message, const char *what) {
    return message.find(what) != std::string::npos;
  };
  EXPECT_TRUE(has(loadWith([](nlohmann::json &p) { p["values"][3]["arena_offset"] = 1 << 30; }),
                  "lies outside the arena"));
  EXPECT_TRUE(has(loadWith([](nlohmann::json &p) { p["values"][3]["width"] = 0; }), "width"))
      << loadWith([](nlohmann::json &p) { p["values"][3]["width"] = 0; });
  EXPECT_TRUE(has(loadWith([](nlohmann::json &p) { p["outputs"][0] = 0; }),
                  "the logits are not a stored f32 value"));
  EXPECT_TRUE(has(loadWith([](nlohmann::json &p) { p["inputs"]["positions"] = 100000; }),
                  "a program input is not an i32 index vector"));
  EXPECT_TRUE(has(loadWith([](nlohmann::json &p) {
                    for (nlohmann::json &op : p["ops"])
                      if (op["op"] == "rope") {
                        op["inputs"] = nlohmann::json::array();
                        break;
                      }
                  }),
                  "(rope): its operands do not fit the op"));
  EXPECT_TRUE(has(loadWith([](nlohmann::json &p) {
                    for (nlohmann::json &op : p["ops"])
                      if (op["op"] == "columns") {
                        op["outputs"] = nlohmann::json::array();
                        break;
                      }
                  }),
                  "do not fit the op"));
  EXPECT_TRUE(has(loadWith([](nlohmann::json &p) { p["arena"]["bytes"] = 1e18; }), "out of range"));
  // A view chain that loops.
  EXPECT_TRUE(has(loadWith([](nlohmann::json &p) {
                    p["values"][4]["view_of"] = 5;
                    p["values"][5]["view_of"] = 4;
                  }),
                  "view of nothing valid"));
}

TEST(CpuExecutor, RefusesPlansItCannotRun) {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/tiny-llama-bf16.plan");
  ASSERT_FALSE(exec.ok());
  EXPECT_NE(exec.error().message().find("runs f32 plans"), std::string::npos);
}
