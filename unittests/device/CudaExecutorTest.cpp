// The CUDA executor on a bf16 plan (modelc --target cuda --dtype bf16) against Hugging Face
// transformers (float32 goldens of scripts/gen-reference-logits.py in test/goldens): every
// position's logits through one-shot prefill and through token-by-token decode, the greedy
// continuation, and a request's logits alone and batched with others. Skips, visibly,
// without a GPU. Plans: $MODELRT_CUDA_PLAN_DIR (scripts/gpu-check.sh --prepare makes them).
#include "runtime/device/cuda/CudaExecutor.h"
#include "unittests/Goldens.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>

using namespace modelrt;

namespace {

std::string env(const char *name, const char *fallback) {
  const char *v = std::getenv(name);
  return v && *v ? v : fallback;
}
std::string planPath(const std::string &name) {
  return env("MODELRT_CUDA_PLAN_DIR", ".") + "/" + name;
}

using testing_goldens::Golden;
using testing_goldens::relativeError;

Golden readGolden(const std::string &name) {
  return testing_goldens::readGolden(name, MODELC_TEST_SOURCE_DIR);
}

int32_t argmax(const float *v, int64_t n) {
  return static_cast<int32_t>(std::max_element(v, v + n) - v);
}

// Sequences with their own KV blocks, handed out in order.
class Sequences {
public:
  explicit Sequences(Executor &exec) : exec_(exec) {}
  // Runs `tokens` of each listed sequence (appended to what it has) in one step.
  Expected<std::vector<float>> step(const std::vector<std::pair<int, std::vector<int32_t>>> &parts,
                                    bool allLogits) {
    std::vector<int32_t> tokens;
    std::vector<PagedChunk> chunks = chunksFor(parts, allLogits, tokens);
    return exec_.step(tokens, chunks);
  }
  // The same through submit() and collect(), with `sampling[i]` (null: the host's row) for
  // part i.
  Expected<StepOutput> submit(const std::vector<std::pair<int, std::vector<int32_t>>> &parts,
                              const std::vector<const DeviceSampling *> &sampling) {
    std::vector<int32_t> tokens;
    std::vector<PagedChunk> chunks = chunksFor(parts, false, tokens);
    for (size_t i = 0; i < chunks.size(); ++i)
      chunks[i].deviceSampling = sampling[i];
    if (Status s = exec_.submit(tokens, chunks); !s)
      return s.error();
    return exec_.collect();
  }

private:
  std::vector<PagedChunk> chunksFor(const std::vector<std::pair<int, std::vector<int32_t>>> &parts,
                                    bool allLogits, std::vector<int32_t> &tokens) {
    std::vector<PagedChunk> chunks;
    for (const auto &[id, toks] : parts) {
      Seq &s = seqs_[id];
      const int64_t end = s.length + static_cast<int64_t>(toks.size());
      while (static_cast<int64_t>(s.table.size()) * exec_.kvBlockSize() < end)
        s.table.push_back(nextBlock_++);
      chunks.push_back({s.length, static_cast<int64_t>(toks.size()), true, &s.table, allLogits});
      tokens.insert(tokens.end(), toks.begin(), toks.end());
      s.length = end;
    }
    return chunks;
  }

  struct Seq {
    std::vector<int32_t> table;
    int64_t length = 0;
  };
  Executor &exec_;
  std::map<int, Seq> seqs_;
  int32_t nextBlock_ = 0;
};

// bf16 weights and activations against float32: the logits agree to about 1% of the
// largest; a wrong kernel is off by the logits' whole size.
constexpr double kBf16Tolerance = 5e-2;

class CudaExecutorTest : public testing::Test {
protected:
  void SetUp() override {
    std::string why;
    if (!cuda::cudaDeviceAvailable(&why))
      GTEST_SKIP() << "no CUDA device: " << why;
  }
  std::unique_ptr<cuda::CudaExecutor> load(const std::string &name,
                                           const cuda::CudaExecutorOptions &options = {}) {
    Expected<std::unique_ptr<cuda::CudaExecutor>> exec =
        cuda::CudaExecutor::load(planPath(name), options);
    EXPECT_TRUE(exec.ok()) << exec.error().toString();
    return exec.ok() ? std::move(*exec) : nullptr;
  }
};

// Every position of the goldens' prompts through one-shot prefill and token by token, then
// the greedy continuation, against transformers.
void matchesTransformers(cuda::CudaExecutor *exec, const std::string &model) {
  ASSERT_TRUE(exec);
  const Golden g = readGolden(model);
  const int64_t vocab = g.meta["vocab"];
  Sequences seqs(*exec);
  int id = 0;
  int64_t row = 0;
  double worstPrefill = 0, worstDecode = 0;
  for (const nlohmann::json &p : g.meta["prompts"]) {
    const std::vector<int32_t> prompt = p["prompt"];
    ASSERT_EQ(p["rows"].get<size_t>(), prompt.size()); // tiny goldens: every position
    // One-shot prefill, every row's logits (the prefill kernel).
    Expected<std::vector<float>> all = seqs.step({{id++, prompt}}, true);
    ASSERT_TRUE(all.ok()) << all.error().toString();
    ASSERT_EQ(all->size(), prompt.size() * vocab);
    // Token by token (the decode kernel after the first token).
    const int decodeId = id++;
    for (size_t i = 0; i < prompt.size(); ++i) {
      const float *ref = &g.logits[(row + i) * vocab];
      worstPrefill = std::max(worstPrefill, relativeError(all->data() + i * vocab, ref, vocab));
      Expected<std::vector<float>> one = seqs.step({{decodeId, {prompt[i]}}}, false);
      ASSERT_TRUE(one.ok()) << one.error().toString();
      worstDecode = std::max(worstDecode, relativeError(one->data(), ref, vocab));
    }
    row += static_cast<int64_t>(prompt.size());
  }
  std::printf("%s bf16 on CUDA: worst relative logit error %.3g (prefill), %.3g (decode)\n",
              model.c_str(), worstPrefill, worstDecode);
  testing::Test::RecordProperty("worst_prefill_" + model, std::to_string(worstPrefill));
  testing::Test::RecordProperty("worst_decode_" + model, std::to_string(worstDecode));
  EXPECT_LT(worstPrefill, kBf16Tolerance);
  EXPECT_LT(worstDecode, kBf16Tolerance);

  // Greedy continuation of the first prompt.
  const std::vector<int32_t> prompt = g.meta["prompts"][0]["prompt"];
  const std::vector<int32_t> expected = g.meta["greedy_after_first_prompt"];
  const int greedyId = id++;
  Expected<std::vector<float>> logits = seqs.step({{greedyId, prompt}}, false);
  ASSERT_TRUE(logits.ok()) << logits.error().toString();
  std::vector<int32_t> generated;
  for (size_t i = 0; i < expected.size(); ++i) {
    generated.push_back(argmax(logits->data(), vocab));
    if (i + 1 < expected.size()) {
      logits = seqs.step({{greedyId, {generated.back()}}}, false);
      ASSERT_TRUE(logits.ok()) << logits.error().toString();
    }
  }
  EXPECT_EQ(generated, expected);
}

TEST_F(CudaExecutorTest, TinyLlamaMatchesTransformers) {
  matchesTransformers(load("tiny-llama-hd64-bf16.plan").get(), "tiny-llama-hd64");
}

// Qwen3's per-head q/k RMSNorm runs inside the rope kernel.
TEST_F(CudaExecutorTest, TinyQwen3MatchesTransformers) {
  matchesTransformers(load("tiny-qwen3-bf16.plan").get(), "tiny-qwen3");
}

// Gemma 3: the embedding scale and Gemma's norm offset in generated kernels, the offset
// inside the rope kernel's q/k norm (rounded once, as Gemma's RMSNorm), a 4-token window on
// layers 0 and 2, linear RoPE scaling on layer 1.
TEST_F(CudaExecutorTest, TinyGemma3MatchesTransformers) {
  matchesTransformers(load("tiny-gemma3-bf16.plan").get(), "tiny-gemma3");
}

// A mixture of experts (Qwen3-MoE: 16 experts, 4 per token, renormalized and rounded
// weights, a dense layer between two sparse ones): routing, grouping and the combine in
// the executor's kernels, each expert's GEMMs through cuBLASLt over its rows. (Its seed was
// chosen so that transformers' own bf16 run stays within 1.3e-2 of its f32 logits and
// keeps its greedy tokens: with random routers, other seeds flip an expert at bf16.)
TEST_F(CudaExecutorTest, TinyQwen3MoeMatchesTransformers) {
  matchesTransformers(load("tiny-qwen3-moe-bf16.plan").get(), "tiny-qwen3-moe");
}

// gpt-oss: attention sinks in the attention kernels' epilogues, biases on the experts' GEMMs
// (cuBLASLt's epilogue) and the clamped SwiGLU. (Its seed, too, keeps transformers' own bf16
// run within 1.3e-2 of its f32 logits with the same greedy tokens.)
TEST_F(CudaExecutorTest, TinyGptOssMatchesTransformers) {
  matchesTransformers(load("tiny-gpt-oss-bf16.plan").get(), "tiny-gpt-oss");
}

// Selective batching: a request's logits do not depend on what else is in the step (a
// prefill batched with other prefills and a decode; GEMM shapes differ, so allow rounding).
TEST_F(CudaExecutorTest, BatchedRequestsMatchAlone) {
  std::unique_ptr<cuda::CudaExecutor> exec = load("tiny-llama-hd64-bf16.plan");
  ASSERT_TRUE(exec);
  const int64_t vocab = exec->metadata().vocabSize;
  Sequences seqs(*exec);
  const std::vector<std::vector<int32_t>> prompts = {
      {1, 17, 42, 99, 3, 250, 7, 8, 128, 64}, {5, 6}, {200, 3, 9, 77, 12, 31, 8}};
  std::vector<std::vector<float>> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Expected<std::vector<float>> l = seqs.step({{int(i), prompts[i]}}, false);
    ASSERT_TRUE(l.ok()) << l.error().toString();
    alone.push_back(*l);
  }
  // A long-running sequence to decode alongside.
  ASSERT_TRUE(seqs.step({{100, {4, 5, 6, 7}}}, false).ok());
  Expected<std::vector<float>> batched =
      seqs.step({{10, prompts[0]}, {100, {9}}, {11, prompts[1]}, {12, prompts[2]}}, false);
  ASSERT_TRUE(batched.ok()) << batched.error().toString();
  ASSERT_EQ(batched->size(), 4 * vocab);
  const int rowOf[] = {0, 2, 3};
  for (size_t i = 0; i < prompts.size(); ++i) {
    const float *b = batched->data() + rowOf[i] * vocab;
    EXPECT_EQ(argmax(b, vocab), argmax(alone[i].data(), vocab)) << "prompt " << i;
    EXPECT_LT(relativeError(b, alone[i].data(), vocab), 1e-2) << "prompt " << i;
    // How far this executor is from batch invariance (the CPU executor is exact): the
    // logits that differ in any bit between alone and batched, and the largest difference.
    int64_t differ = 0;
    float worst = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      differ += std::memcmp(&b[v], &alone[i][v], sizeof(float)) != 0;
      worst = std::max(worst, std::fabs(b[v] - alone[i][v]));
    }
    std::printf("prompt %zu batched vs alone: %lld of %lld logits differ, max |diff| %g\n", i,
                static_cast<long long>(differ), static_cast<long long>(vocab), worst);
  }
}

// DESIGN.md: a request's output must not change with what else is batched. One request's
// greedy decode steps alone (CUDA graphs of one sequence) and again while others join with
// prompts (mixed steps: prefill and decode attention side by side, eager) and decode beside
// it (longer contexts than its own): its logits must agree bit for bit at every step, with
// cuBLASLt's default algorithm choice and in batch-invariant GEMM mode.
void decodeStepsMatchAlone(cuda::CudaExecutor *exec, const char *mode) {
  ASSERT_TRUE(exec);
  const int64_t vocab = exec->metadata().vocabSize;
  const std::vector<int32_t> prompt = {1, 17, 42, 99, 3, 250, 7, 8, 128, 64};
  constexpr int kSteps = 12;
  Sequences seqs(*exec);
  auto firstRow = [&](const std::vector<float> &logits) {
    return std::vector<float>(logits.begin(), logits.begin() + vocab);
  };
  // Alone.
  std::vector<std::vector<float>> alone;
  Expected<std::vector<float>> l = seqs.step({{0, prompt}}, false);
  ASSERT_TRUE(l.ok()) << l.error().toString();
  for (int s = 0; s < kSteps; ++s) {
    l = seqs.step({{0, {argmax(l->data(), vocab)}}}, false);
    ASSERT_TRUE(l.ok()) << l.error().toString();
    alone.push_back(firstRow(*l));
  }
  // A long-running neighbour with a longer context first, then the request; each step a
  // new prompt joins (its prefill beside the decodes) and the earlier ones decode.
  ASSERT_TRUE(seqs.step({{50, std::vector<int32_t>(250, 5)}}, false).ok()); // <= 256 rows
  l = seqs.step({{1, prompt}, {50, {6}}}, false);
  ASSERT_TRUE(l.ok()) << l.error().toString();
  std::vector<std::pair<int, int32_t>> others = {{50, 6}};
  int differ = 0, firstDiffer = -1;
  for (int s = 0; s < kSteps; ++s) {
    std::vector<std::pair<int, std::vector<int32_t>>> step = {{1, {argmax(l->data(), vocab)}}};
    for (auto &[id, tok] : others)
      step.push_back({id, {tok}});
    const int joining = 100 + s;
    step.push_back({joining, std::vector<int32_t>(3 + 5 * s, 11 + s)});
    l = seqs.step(step, false);
    ASSERT_TRUE(l.ok()) << l.error().toString();
    for (size_t i = 0; i < others.size(); ++i)
      others[i].second = argmax(l->data() + (i + 1) * vocab, vocab);
    others.push_back({joining, argmax(l->data() + step.size() * vocab - vocab, vocab)});
    if (std::memcmp(l->data(), alone[s].data(), vocab * sizeof(float)) != 0) {
      ++differ;
      if (firstDiffer < 0)
        firstDiffer = s;
    }
  }
  std::printf("%s GEMMs: decode steps beside prefills and decodes: %d of %d differ from alone "
              "(first: %d)\n",
              mode, differ, kSteps, firstDiffer);
  EXPECT_EQ(differ, 0) << mode << " GEMMs: first differing step " << firstDiffer;
}

TEST_F(CudaExecutorTest, DecodeStepsMatchAloneBesidePrefillsAndDecodes) {
  decodeStepsMatchAlone(load("tiny-llama-hd64-bf16.plan").get(), "default");
}

TEST_F(CudaExecutorTest, DecodeStepsMatchAloneWithBatchInvariantGemms) {
  cuda::CudaExecutorOptions options;
  options.batchInvariantGemm = true;
  decodeStepsMatchAlone(load("tiny-llama-hd64-bf16.plan", options).get(), "batch-invariant");
}

// Sampling on the GPU (submit/collect with deviceSampling): greedy picks the argmax of the
// logits the host would get, with their log-probabilities; a host row in the same step
// still comes back as logits; a seeded draw is the same alone and batched, and top-k keeps
// it among the k largest logits.
TEST_F(CudaExecutorTest, SamplesOnTheDevice) {
  std::unique_ptr<cuda::CudaExecutor> exec = load("tiny-llama-hd64-bf16.plan");
  ASSERT_TRUE(exec);
  ASSERT_TRUE(exec->samplesOnDevice());
  const int64_t vocab = exec->metadata().vocabSize;
  Sequences seqs(*exec);
  const std::vector<std::vector<int32_t>> prompts = {
      {1, 17, 42, 99, 3, 250, 7, 8}, {5, 6, 77}, {200, 3, 9, 77, 12}};
  Expected<std::vector<float>> host =
      seqs.step({{0, prompts[0]}, {1, prompts[1]}, {2, prompts[2]}}, false);
  ASSERT_TRUE(host.ok()) << host.error().toString();

  DeviceSampling greedy, drawn;
  greedy.topLogprobs = 5;
  drawn.temperature = 1.0f;
  drawn.topK = 3;
  drawn.seed = 7;
  Expected<StepOutput> out = seqs.submit({{10, prompts[0]}, {11, prompts[1]}, {12, prompts[2]}},
                                         {&greedy, nullptr, &drawn});
  ASSERT_TRUE(out.ok()) << out.error().toString();
  ASSERT_EQ(out->sampled.size(), 2u);
  ASSERT_EQ(out->logits.size(), size_t(vocab)); // only the host's row
  // The same step computes the same logits (the KV blocks differ, the batch does not).
  EXPECT_LT(relativeError(out->logits.data(), host->data() + vocab, vocab), 1e-6);

  const float *row0 = host->data();
  const DeviceSample &g = out->sampled[0];
  EXPECT_EQ(g.token, argmax(row0, vocab));
  double maxLogit = row0[g.token], sum = 0;
  for (int64_t i = 0; i < vocab; ++i)
    sum += std::exp(double(row0[i]) - maxLogit);
  EXPECT_NEAR(g.logprob, -std::log(sum), 1e-3);
  ASSERT_EQ(g.top.size(), 5u);
  EXPECT_EQ(g.top[0].first, g.token);
  for (size_t k = 1; k < g.top.size(); ++k)
    EXPECT_LE(g.top[k].second, g.top[k - 1].second);

  // top-k 3: among the three largest logits of row 2.
  const float *row2 = host->data() + 2 * vocab;
  std::vector<float> sorted(row2, row2 + vocab);
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  EXPECT_GE(row2[out->sampled[1].token], sorted[2]);
  // The same (seed, step) alone draws the same token.
  Expected<StepOutput> alone = seqs.submit({{20, prompts[2]}}, {&drawn});
  ASSERT_TRUE(alone.ok()) << alone.error().toString();
  ASSERT_EQ(alone->sampled.size(), 1u);
  EXPECT_EQ(alone->sampled[0].token, out->sampled[1].token);
  // Other steps draw among the same three, and not always the same one.
  std::set<int32_t> tokens;
  for (uint64_t step = 0; step < 64; ++step) {
    DeviceSampling d = drawn;
    d.step = step;
    d.topK = 3;
    Expected<StepOutput> o = seqs.submit({{100 + int(step), prompts[2]}}, {&d});
    ASSERT_TRUE(o.ok()) << o.error().toString();
    tokens.insert(o->sampled[0].token);
    EXPECT_GE(row2[o->sampled[0].token], sorted[2]) << "step " << step;
  }
  EXPECT_GT(tokens.size(), 1u);
}

// ORCA's invariant at real shapes (Llama-3-8B's, random weights, whose near-flat logits
// make greedy choices sensitive to any rounding): one request's greedy tokens are the same
// alone and batched with seven others, prefill and decode. Prints how many of the last
// step's logits differ in any bit (cuBLASLt may choose other algorithms for other row
// counts; attention splits follow the batch).
TEST_F(CudaExecutorTest, LargeShapesBatchedMatchAlone) {
  const std::string path = planPath("llama-3-8b-dummy-bf16.plan");
  if (!std::ifstream(path).good())
    GTEST_SKIP() << "no " << path << " (scripts/gpu-check.sh --prepare makes it)";
  cuda::CudaExecutorOptions options;
  options.kvCacheBytes = int64_t(8) << 30;
  std::unique_ptr<cuda::CudaExecutor> exec = load("llama-3-8b-dummy-bf16.plan", options);
  ASSERT_TRUE(exec);
  const int64_t vocab = exec->metadata().vocabSize;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(vocab) - 1);
  std::vector<std::vector<int32_t>> prompts(8);
  for (size_t i = 0; i < prompts.size(); ++i)
    prompts[i].resize(24 + 7 * i);
  for (auto &p : prompts)
    for (int32_t &t : p)
      t = token(rng);
  constexpr int kSteps = 8;
  // Greedy continuation of the listed sequences (ids base + i), all in each step.
  auto run = [&](Sequences &seqs, int base, size_t count, std::vector<float> &last) {
    std::vector<std::vector<int32_t>> out(count);
    std::vector<std::pair<int, std::vector<int32_t>>> step;
    for (size_t i = 0; i < count; ++i)
      step.push_back({base + int(i), prompts[i]});
    for (int s = 0; s <= kSteps; ++s) {
      Expected<std::vector<float>> logits = seqs.step(step, false);
      EXPECT_TRUE(logits.ok()) << logits.error().toString();
      if (!logits.ok())
        return out;
      last.assign(logits->begin(), logits->begin() + vocab); // sequence 0's
      for (size_t i = 0; i < count; ++i) {
        out[i].push_back(argmax(logits->data() + i * vocab, vocab));
        step[i].second = {out[i].back()};
      }
    }
    return out;
  };
  Sequences seqs(*exec);
  std::vector<float> aloneLast, batchedLast;
  const std::vector<int32_t> alone = run(seqs, 0, 1, aloneLast)[0];
  const std::vector<int32_t> batched = run(seqs, 100, prompts.size(), batchedLast)[0];
  int64_t differ = 0;
  float worst = 0;
  for (int64_t v = 0; v < vocab && batchedLast.size() == size_t(vocab); ++v) {
    differ += std::memcmp(&aloneLast[v], &batchedLast[v], sizeof(float)) != 0;
    worst = std::max(worst, std::fabs(aloneLast[v] - batchedLast[v]));
  }
  std::printf("Llama-3-8B shapes, alone vs batched with 7: %lld of %lld last-step logits differ, "
              "max |diff| %g; greedy tokens %s\n",
              static_cast<long long>(differ), static_cast<long long>(vocab), worst,
              alone == batched ? "equal" : "differ");
  EXPECT_EQ(alone, batched);
}

// Decode steps as CUDA graphs (padded to 1, 2, 4, 8, ... sequences): the goldens still
// match one sequence at a time (its first decode step eager, the second captured, the rest
// replayed), and three sequences decoding together (padded to 4) give the eager executor's
// logits and greedy tokens, sampled on the host and on the device.
TEST_F(CudaExecutorTest, DecodeGraphsMatchEagerSteps) {
  cuda::CudaExecutorOptions noGraphs;
  noGraphs.cudaGraphs = false;
  std::unique_ptr<cuda::CudaExecutor> graphs = load("tiny-llama-hd64-bf16.plan"); // the default
  std::unique_ptr<cuda::CudaExecutor> eager = load("tiny-llama-hd64-bf16.plan", noGraphs);
  ASSERT_TRUE(graphs && eager);
  matchesTransformers(graphs.get(), "tiny-llama-hd64");
  EXPECT_GE(graphs->capturedGraphs(), 1) << "one sequence's decode steps were not captured";
  EXPECT_EQ(eager->capturedGraphs(), 0);

  const int64_t vocab = graphs->metadata().vocabSize;
  const std::vector<std::vector<int32_t>> prompts = {
      {1, 17, 42, 99, 3, 250, 7, 8}, {5, 6, 77}, {200, 3, 9, 77, 12}};
  Sequences g(*graphs), e(*eager);
  std::vector<std::pair<int, std::vector<int32_t>>> step;
  for (int i = 0; i < 3; ++i)
    step.push_back({i, prompts[i]});
  Expected<std::vector<float>> lg = g.step(step, false), le = e.step(step, false);
  ASSERT_TRUE(lg.ok() && le.ok());
  const int before = graphs->capturedGraphs();
  DeviceSampling greedy;
  for (int t = 0; t < 6; ++t) {
    // The next token of each sequence: the eager executor's greedy choice.
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(argmax(lg->data() + i * vocab, vocab), argmax(le->data() + i * vocab, vocab))
          << "step " << t << " sequence " << i;
      EXPECT_LT(relativeError(lg->data() + i * vocab, le->data() + i * vocab, vocab), 1e-2)
          << "step " << t << " sequence " << i;
      step[i].second = {argmax(le->data() + i * vocab, vocab)};
    }
    if (t == 5) {
      // Sampled on the device inside the graph's step: the same greedy tokens.
      Expected<StepOutput> out = g.submit(step, {&greedy, &greedy, &greedy});
      Expected<std::vector<float>> ref = e.step(step, false);
      ASSERT_TRUE(out.ok() && ref.ok()) << (out.ok() ? ref.error() : out.error()).toString();
      ASSERT_EQ(out->sampled.size(), 3u);
      EXPECT_TRUE(out->logits.empty());
      for (int i = 0; i < 3; ++i)
        EXPECT_EQ(out->sampled[i].token, argmax(ref->data() + i * vocab, vocab)) << i;
      break;
    }
    lg = g.step(step, false);
    le = e.step(step, false);
    ASSERT_TRUE(lg.ok() && le.ok()) << (lg.ok() ? le.error() : lg.error()).toString();
    ASSERT_EQ(lg->size(), size_t(3 * vocab)) << "padding rows came back";
  }
  EXPECT_EQ(graphs->capturedGraphs(), before + 1) << "the 3-sequence steps (padded to 4)";
}

// The plan's cubin for this GPU, or (a plan for an older major version only) its PTX
// compiled by the driver: the same kernels either way.
TEST_F(CudaExecutorTest, CubinAndPtxGiveTheSameLogits) {
  std::unique_ptr<cuda::CudaExecutor> cubin = load("tiny-llama-hd64-bf16.plan");
  std::unique_ptr<cuda::CudaExecutor> ptx = load("tiny-llama-hd64-bf16-sm80.plan");
  ASSERT_TRUE(cubin && ptx);
  std::printf("kernel images: %s (sm_90 plan), %s (sm_80 plan)\n", cubin->kernelImage().c_str(),
              ptx->kernelImage().c_str());
  EXPECT_EQ(cubin->kernelImage().rfind("cubin sm_9", 0), 0u) << cubin->kernelImage();
  EXPECT_EQ(ptx->kernelImage(), "PTX sm_80 (compiled by the driver)");
  const int64_t vocab = cubin->metadata().vocabSize;
  const std::vector<int32_t> prompt = {1, 17, 42, 99, 3, 250, 7, 8, 128, 64};
  Sequences a(*cubin), b(*ptx);
  Expected<std::vector<float>> la = a.step({{0, prompt}}, true), lb = b.step({{0, prompt}}, true);
  ASSERT_TRUE(la.ok() && lb.ok());
  for (size_t i = 0; i < prompt.size(); ++i)
    EXPECT_LT(relativeError(la->data() + i * vocab, lb->data() + i * vocab, vocab), 1e-3)
        << "position " << i;
}

TEST_F(CudaExecutorTest, RefusesPlansItCannotRun) {
  Expected<std::unique_ptr<cuda::CudaExecutor>> f32 =
      cuda::CudaExecutor::load(planPath("tiny-llama-hd64-f32.plan"));
  ASSERT_FALSE(f32.ok());
  EXPECT_NE(f32.error().message().find("runs bf16 and f16 plans"), std::string::npos)
      << f32.error().toString();
  Expected<std::unique_ptr<cuda::CudaExecutor>> missing =
      cuda::CudaExecutor::load(planPath("no-such.plan"));
  ASSERT_FALSE(missing.ok());
  // A bad step is refused before the device is touched, and the executor keeps working.
  std::unique_ptr<cuda::CudaExecutor> exec = load("tiny-llama-hd64-bf16.plan");
  ASSERT_TRUE(exec);
  std::vector<int32_t> table = {0};
  Expected<std::vector<float>> badToken = exec->step({999999}, {{0, 1, true, &table}});
  ASSERT_FALSE(badToken.ok());
  EXPECT_NE(badToken.error().message().find("outside the vocabulary"), std::string::npos);
  EXPECT_TRUE(exec->step({3}, {{0, 1, true, &table}}).ok());
}

} // namespace
