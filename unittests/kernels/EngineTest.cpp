// The serving loop on a real plan: a request's greedy tokens are the same alone, among
// others arriving while it runs (iteration-level), and under the request-level baseline;
// and equal to token-by-token decoding with the executor. Requests of different lengths
// leave as soon as they finish.
#include "runtime/engine/Engine.h"
#include "runtime/engine/Sequences.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>

using namespace modelrt;
using namespace modelrt::engine;

extern std::string planDirectory;

namespace {

std::unique_ptr<CpuExecutor> loadTinyLlama(const std::string &plan = "tiny-llama") {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/" + plan + ".plan");
  EXPECT_TRUE(exec.ok()) << exec.error().toString();
  return exec.ok() ? std::move(*exec) : nullptr;
}

sched::RequestParams request(std::vector<int32_t> prompt, int maxTokens) {
  sched::RequestParams p;
  p.prompt = std::move(prompt);
  p.maxTokens = maxTokens;
  p.ignoreEos = true;
  return p;
}

// Runs `requests` (added before the step numbered in `joinAt`) to completion.
std::map<size_t, std::vector<int32_t>> serve(CpuExecutor &exec, sched::Policy policy,
                                             const std::vector<sched::RequestParams> &requests,
                                             const std::vector<int> &joinAt,
                                             std::vector<int> *finishStep = nullptr,
                                             int speculative = 0,
                                             int64_t *acceptedDrafts = nullptr) {
  Expected<std::unique_ptr<Engine>> eng = Engine::create(exec, policy, false, speculative);
  EXPECT_TRUE(eng.ok());
  std::map<sched::RequestId, size_t> which;
  std::map<size_t, std::vector<int32_t>> tokens;
  if (finishStep)
    finishStep->assign(requests.size(), -1);
  for (int step = 0; step < 1000; ++step) {
    for (size_t i = 0; i < requests.size(); ++i)
      if (joinAt[i] == step) {
        Expected<sched::RequestId> id = (*eng)->addRequest(requests[i], {});
        EXPECT_TRUE(id.ok());
        which[*id] = i;
      }
    if (!(*eng)->hasUnfinished() && step > *std::max_element(joinAt.begin(), joinAt.end()))
      break;
    Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
    EXPECT_TRUE(events.ok()) << events.error().toString();
    for (const sched::TokenEvent &e : *events) {
      tokens[which[e.id]].push_back(e.token);
      if (e.finish && finishStep)
        (*finishStep)[which[e.id]] = step;
    }
  }
  if (acceptedDrafts)
    *acceptedDrafts = (*eng)->acceptedDraftTokens();
  return tokens;
}

} // namespace

// Each test runs the single-rank plan, the one on 2 tensor-parallel ranks (threads), whose
// steps and KV block copies rank 0 broadcasts, and the one in 2 pipeline stages, which keeps
// two iterations in flight (ORCA).
class EnginePlans : public testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(TinyLlama, EnginePlans,
                         testing::Values("tiny-llama", "tiny-llama-tp2", "tiny-llama-pp2"),
                         [](const testing::TestParamInfo<std::string> &info) {
                           return info.param == "tiny-llama" ? std::string("single_rank")
                                                             : info.param.substr(11);
                         });

// LFM2's plans keep recurrent state (a state slot per running request).
INSTANTIATE_TEST_SUITE_P(TinyLfm2, EnginePlans,
                         testing::Values("tiny-lfm2", "tiny-lfm2-tp2", "tiny-lfm2-pp2"),
                         [](const testing::TestParamInfo<std::string> &info) {
                           return info.param == "tiny-lfm2" ? std::string("single_rank")
                                                            : info.param.substr(10);
                         });

TEST_P(EnginePlans, GreedyTokensDoNotDependOnLoadOrPolicy) {
  auto exec = loadTinyLlama(GetParam());
  ASSERT_TRUE(exec);
  std::vector<sched::RequestParams> requests = {
      request({1, 17, 42, 99, 3, 250, 7}, 12), request({5, 6, 7, 8, 9, 10, 11, 12, 13}, 3),
      request({200}, 20), request({31, 41, 59, 26, 53, 58, 97, 93, 23, 84, 62, 64}, 7),
      request({2, 7, 1, 8}, 15)};
  std::map<size_t, std::vector<int32_t>> alone;
  for (size_t i = 0; i < requests.size(); ++i)
    alone[i] = serve(*exec, sched::Policy::IterationLevel, {requests[i]}, {0})[0];

  // Token-by-token with the executor alone gives the same greedy tokens.
  std::vector<int32_t> prompt = requests[0].prompt;
  Expected<Sequences> seqs = Sequences::create(*exec);
  ASSERT_TRUE(seqs.ok());
  Expected<std::vector<float>> logits = seqs->step(prompt, {{999, int64_t(prompt.size()), true}});
  std::vector<int32_t> direct;
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(logits.ok());
    direct.push_back(int32_t(std::max_element(logits->begin(), logits->end()) - logits->begin()));
    logits = seqs->step({direct.back()}, {{999, 1, true}});
  }
  seqs->release(999); // the engines below take the executor's blocks
  EXPECT_EQ(direct, alone[0]);

  std::vector<int> finishStep;
  auto loaded = serve(*exec, sched::Policy::IterationLevel, requests, {0, 0, 2, 3, 5}, &finishStep);
  auto baseline = serve(*exec, sched::Policy::RequestLevel, requests, {0, 0, 2, 3, 5});
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(loaded[i], alone[i]) << "request " << i << " under iteration-level load";
    EXPECT_EQ(baseline[i], alone[i]) << "request " << i << " under request-level batching";
    EXPECT_EQ(int(alone[i].size()), requests[i].maxTokens);
  }
  // Iteration-level: the short request leaves long before the long ones.
  EXPECT_LT(finishStep[1], finishStep[2]);
  EXPECT_LT(finishStep[1], finishStep[0]);
}

// Speculative decoding (prompt lookup) changes how many tokens a step yields, not which:
// every request's greedy tokens equal decoding one at a time, alone and under load, with
// max_tokens ending a request inside a run of confirmed drafts; repetitive prompts get
// drafts confirmed.
TEST_P(EnginePlans, SpeculativeDecodingGivesTheSameTokens) {
  auto exec = loadTinyLlama(GetParam());
  ASSERT_TRUE(exec);
  if (exec->metadata().hasRecurrentState()) {
    // Rejected drafts would stay in the state: refused, with the reason.
    Expected<std::unique_ptr<Engine>> eng =
        Engine::create(*exec, sched::Policy::IterationLevel, false, 4);
    ASSERT_FALSE(eng.ok());
    EXPECT_NE(eng.error().message().find("recurrent state"), std::string::npos)
        << eng.error().message();
    return;
  }
  std::vector<sched::RequestParams> requests = {
      request({5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7}, 40),
      request({1, 17, 42, 99, 3, 250, 7}, 23), request({200}, 33),
      request({31, 41, 59, 26, 31, 41, 59, 26, 31, 41}, 5), request({9, 9, 9, 9, 9}, 17)};
  auto plain = serve(*exec, sched::Policy::IterationLevel, requests, {0, 0, 1, 2, 4});
  int64_t accepted = 0;
  for (int k : {1, 4, 7}) {
    auto fast = serve(*exec, sched::Policy::IterationLevel, requests, {0, 0, 1, 2, 4}, nullptr, k,
                      &accepted);
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(fast[i], plain[i]) << "request " << i << ", " << k << " speculative tokens";
      EXPECT_EQ(int(fast[i].size()), requests[i].maxTokens);
    }
    EXPECT_GT(accepted, 0) << k << " speculative tokens: no draft was ever confirmed";
  }
  // Alone too (each request's own steps only).
  for (size_t i = 0; i < requests.size(); ++i)
    EXPECT_EQ(serve(*exec, sched::Policy::IterationLevel, {requests[i]}, {0}, nullptr, 4)[0],
              plain[i])
        << "request " << i << " alone";
}

TEST(Engine, PromptLookupDrafts) {
  // The tokens after the latest earlier match of the last 3, else 2, else 1 tokens.
  EXPECT_EQ(proposeNgramDrafts({1, 2, 3, 4, 1, 2, 3}, 3), (std::vector<int32_t>{4, 1, 2}));
  EXPECT_EQ(proposeNgramDrafts({1, 2, 3, 4, 9, 2, 3}, 2), (std::vector<int32_t>{4, 9}));
  EXPECT_EQ(proposeNgramDrafts({5, 7, 5, 8, 5}, 4), (std::vector<int32_t>{8, 5})); // latest
  EXPECT_EQ(proposeNgramDrafts({1, 2, 3}, 4), std::vector<int32_t>{});
  EXPECT_EQ(proposeNgramDrafts({7}, 4), std::vector<int32_t>{});
  EXPECT_EQ(proposeNgramDrafts({3, 3}, 4), std::vector<int32_t>{3});
  EXPECT_EQ(proposeNgramDrafts({1, 2, 1, 2}, 0), std::vector<int32_t>{});
}

// Automatic prefix caching: requests that start with the same blocks of tokens as an earlier
// one take its KV instead of computing it, and every logit stays bit for bit what computing
// it gives (the executor's output does not depend on the batch).
TEST_P(EnginePlans, PrefixCacheGivesTheLogitsOfComputing) {
  auto exec = loadTinyLlama(GetParam());
  ASSERT_TRUE(exec);
  const int32_t bs = exec->kvBlockSize();
  const int32_t vocab = static_cast<int32_t>(exec->metadata().vocabSize);
  std::vector<int32_t> prefix;
  for (int32_t i = 0; i < 2 * bs + 8; ++i)
    prefix.push_back((i * 37 + 11) % vocab);
  auto with = [&](int32_t len, std::vector<int32_t> tail) {
    std::vector<int32_t> p(prefix.begin(), prefix.begin() + len);
    p.insert(p.end(), tail.begin(), tail.end());
    return request(p, 6);
  };
  std::vector<sched::RequestParams> requests = {
      with(2 * bs + 8, {1, 2, 3}), with(2 * bs + 8, {4, 5}), with(bs + 4, {9}),
      with(2 * bs, {})}; // block-aligned: all but its last block, which holds the last token
  struct Result {
    std::vector<int32_t> tokens;
    std::vector<sample::TokenLogprobs> logprobs;
    int32_t cached = -1;
  };
  auto run = [&](bool prefixCaching) {
    Expected<std::unique_ptr<Engine>> eng =
        Engine::create(*exec, sched::Policy::IterationLevel, prefixCaching);
    EXPECT_TRUE(eng.ok());
    std::map<sched::RequestId, size_t> which;
    std::vector<Result> results(requests.size());
    const std::vector<int> joinAt = {0, 3, 5, 20};
    for (int step = 0; step < 200; ++step) {
      for (size_t i = 0; i < requests.size(); ++i)
        if (joinAt[i] == step) {
          Expected<sched::RequestId> id = (*eng)->addRequest(requests[i], {}, 3);
          EXPECT_TRUE(id.ok());
          which[*id] = i;
        }
      if (!(*eng)->hasUnfinished() && step > joinAt.back())
        break;
      Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
      EXPECT_TRUE(events.ok()) << events.error().toString();
      for (const sched::TokenEvent &e : *events) {
        Result &r = results[which[e.id]];
        r.tokens.push_back(e.token);
        r.logprobs.push_back((*eng)->lastLogprobs().at(e.id));
        r.cached = e.numCachedTokens;
      }
    }
    return results;
  };
  std::vector<Result> cached = run(true), computed = run(false);
  // A recurrent state cannot come from cached blocks: such plans serve without the cache.
  const std::vector<int32_t> expectCached = exec->metadata().hasRecurrentState()
                                                ? std::vector<int32_t>{0, 0, 0, 0}
                                                : std::vector<int32_t>{0, 2 * bs, bs, bs};
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    EXPECT_EQ(computed[i].cached, 0);
    EXPECT_EQ(cached[i].cached, expectCached[i]);
    ASSERT_EQ(cached[i].tokens, computed[i].tokens);
    ASSERT_EQ(cached[i].logprobs.size(), computed[i].logprobs.size());
    for (size_t t = 0; t < cached[i].logprobs.size(); ++t) {
      EXPECT_EQ(cached[i].logprobs[t].chosen, computed[i].logprobs[t].chosen) << "token " << t;
      EXPECT_EQ(cached[i].logprobs[t].top, computed[i].logprobs[t].top) << "token " << t;
    }
  }
}

// Prompt scoring (echo + logprobs, lm-eval-harness's loglikelihood): the log-probability of
// each prompt token equals, bit for bit, what generating that token reported, also when the
// prompt is prefilled in several chunks.
static void checkPromptLogprobs(const std::string &plan, int32_t promptLength) {
  auto exec = loadTinyLlama(plan);
  ASSERT_TRUE(exec);
  const int32_t vocab = static_cast<int32_t>(exec->metadata().vocabSize);
  std::vector<int32_t> prompt;
  for (int32_t i = 0; i < promptLength; ++i)
    prompt.push_back((i * 53 + 7) % vocab);
  Expected<std::unique_ptr<Engine>> eng = Engine::create(*exec, sched::Policy::IterationLevel);
  ASSERT_TRUE(eng.ok());
  Expected<sched::RequestId> gen = (*eng)->addRequest(request(prompt, 6), {}, 2);
  ASSERT_TRUE(gen.ok());
  std::vector<int32_t> tokens;
  std::vector<sample::TokenLogprobs> generated;
  while ((*eng)->hasUnfinished()) {
    Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
    ASSERT_TRUE(events.ok()) << events.error().toString();
    for (const sched::TokenEvent &e : *events) {
      tokens.push_back(e.token);
      generated.push_back((*eng)->lastLogprobs().at(e.id));
    }
  }
  ASSERT_EQ(tokens.size(), 6u);

  sched::RequestParams scored = request(prompt, 1);
  scored.prompt.insert(scored.prompt.end(), tokens.begin(), tokens.end());
  scored.promptLogprobs = true;
  Expected<sched::RequestId> id = (*eng)->addRequest(scored, {}, 2);
  ASSERT_TRUE(id.ok());
  std::vector<sample::TokenLogprobs> got;
  int steps = 0;
  while ((*eng)->hasUnfinished()) {
    Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
    ASSERT_TRUE(events.ok()) << events.error().toString();
    ++steps;
    if (auto it = (*eng)->lastPromptLogprobs().find(*id); it != (*eng)->lastPromptLogprobs().end())
      got = it->second;
  }
  EXPECT_GE(steps, 2); // prefilled in two chunks
  ASSERT_EQ(got.size(), scored.prompt.size());
  for (size_t t = 0; t < tokens.size(); ++t) {
    const sample::TokenLogprobs &a = got[prompt.size() + t], &b = generated[t];
    EXPECT_EQ(a.chosen, b.chosen) << "token " << t;
    EXPECT_EQ(a.top, b.top) << "token " << t;
  }
  for (size_t p = 1; p < prompt.size(); ++p) // every prompt token scored, none positive
    EXPECT_LE(got[p].chosen, 0.0f) << "position " << p;
}

TEST(Engine, PromptLogprobsEqualTheGenerationsLogprobs) {
  checkPromptLogprobs("tiny-llama", 290); // longer than one 256-token prefill chunk
}

// The same past 1024 positions, where a decode step's attention is split over threads (its
// segments computed apart and merged after) while the prompt's rows run whole: on the
// key-transposed cache, and on DeepSeek-V2's latent one (values read from the key rows).
TEST(Engine, PromptLogprobsEqualTheGenerationsLogprobsInLongContexts) {
  checkPromptLogprobs("tiny-llama-long", 1100);
  checkPromptLogprobs("tiny-deepseek-v2-long", 1100);
}

namespace {

// An executor that "samples on its device" the way the engine must use one: it wraps the CPU
// executor, takes the logits of every wanted row, and for the chunks with deviceSampling
// returns a token instead of the row. Its rule is recognizable: greedy rows get the argmax
// (and the logits' log-probabilities), sampled rows (seed + step) mod vocab. It records
// every DeviceSampling it was given.
class FakeDeviceSampler final : public Executor {
public:
  explicit FakeDeviceSampler(CpuExecutor &inner) : inner_(inner) {}
  const plan::PlanMetadata &metadata() const override { return inner_.metadata(); }
  int32_t numKvBlocks() const override { return inner_.numKvBlocks(); }
  int32_t kvBlockSize() const override { return inner_.kvBlockSize(); }
  int rank() const override { return 0; }
  Status copyBlocks(const std::vector<kv::BlockCopy> &c) override { return inner_.copyBlocks(c); }
  Expected<std::vector<float>> step(const std::vector<int32_t> &tokens,
                                    const std::vector<PagedChunk> &chunks) override {
    return inner_.step(tokens, chunks);
  }
  int pipelineDepth() const override { return 1; }
  bool samplesOnDevice() const override { return true; }
  Status submit(const std::vector<int32_t> &tokens, const std::vector<PagedChunk> &chunks,
                const std::vector<kv::BlockCopy> &copies) override {
    if (Status s = copyBlocks(copies); !s)
      return s;
    std::vector<PagedChunk> plain = chunks;
    for (PagedChunk &c : plain)
      c.deviceSampling = nullptr;
    Expected<std::vector<float>> logits = inner_.step(tokens, plain);
    if (!logits)
      return logits.error();
    const int64_t vocab = metadata().vocabSize;
    StepOutput out;
    const float *row = logits->data();
    for (const PagedChunk &c : chunks) {
      const int64_t rows = c.allLogits ? c.numTokens : c.sample ? 1 : 0;
      if (const DeviceSampling *d = c.deviceSampling) {
        seen.push_back(*d);
        DeviceSample pick;
        if (d->temperature > 0.0f) {
          pick.token = static_cast<int32_t>((d->seed + d->step) % uint64_t(vocab));
        } else {
          pick.token = static_cast<int32_t>(std::max_element(row, row + vocab) - row);
          sample::TokenLogprobs lp =
              sample::logprobs(row, vocab, pick.token, std::max(d->topLogprobs, 0));
          pick.logprob = lp.chosen;
          pick.top = lp.top;
        }
        out.sampled.push_back(pick);
      } else {
        out.logits.insert(out.logits.end(), row, row + rows * vocab);
      }
      row += rows * vocab;
    }
    done_.push_back(std::move(out));
    return Status::success();
  }
  Expected<StepOutput> collect() override {
    StepOutput out = std::move(done_.front());
    done_.pop_front();
    return out;
  }
  std::vector<DeviceSampling> seen;

private:
  CpuExecutor &inner_;
  std::deque<StepOutput> done_;
};

} // namespace

// On an executor that samples on its device, the engine sends it the requests whose logits
// it does not change (no bias, penalties or constraint; at most 20 top logprobs; not a
// prompt-scoring chunk), with each request's seed and a step that counts its own tokens
// (so the draw does not depend on the batch); the rest, in the same batch, are sampled on
// the host as before.
TEST(Engine, DeviceSamplingTakesOnlyRequestsItCanSample) {
  auto exec = loadTinyLlama();
  ASSERT_TRUE(exec);
  const int64_t vocab = exec->metadata().vocabSize;
  std::vector<sched::RequestParams> requests = {
      request({1, 17, 42, 99, 3, 250, 7}, 6), request({5, 6, 7, 8, 9}, 6),
      request({200, 3}, 6), request({31, 41, 59, 26}, 6), request({2, 7, 1, 8}, 6)};
  std::vector<sample::SamplingParams> sampling(5);
  sampling[0].seed = 100;                       // greedy: device
  sampling[1].seed = 101;                       // logit bias: host
  sampling[1].logitBias = {{9, 5.0f}};
  sampling[2].seed = 102;                       // temperature: device
  sampling[2].temperature = 0.8f;
  sampling[2].topK = 5;
  sampling[3].seed = 103;                       // 3 top logprobs: device
  sampling[4].seed = 104;                       // a repetition penalty: host
  sampling[4].repetitionPenalty = 1.3f;
  const std::vector<int> topLogprobs = {-1, -1, -1, 3, -1};

  // Each request alone on the CPU executor (the host sampler) for the greedy ones.
  auto serveWith = [&](Executor &ex, std::map<size_t, std::vector<sample::TokenLogprobs>> *lps) {
    Expected<std::unique_ptr<Engine>> eng = Engine::create(ex, sched::Policy::IterationLevel);
    EXPECT_TRUE(eng.ok());
    std::map<sched::RequestId, size_t> which;
    std::map<size_t, std::vector<int32_t>> tokens;
    for (size_t i = 0; i < requests.size(); ++i) {
      Expected<sched::RequestId> id = (*eng)->addRequest(requests[i], sampling[i], topLogprobs[i]);
      EXPECT_TRUE(id.ok());
      which[*id] = i;
    }
    while ((*eng)->hasUnfinished()) {
      Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
      EXPECT_TRUE(events.ok()) << events.error().toString();
      if (!events.ok())
        break;
      for (const sched::TokenEvent &e : *events) {
        tokens[which[e.id]].push_back(e.token);
        if (lps && (*eng)->lastLogprobs().count(e.id))
          (*lps)[which[e.id]].push_back((*eng)->lastLogprobs().at(e.id));
      }
    }
    return tokens;
  };
  std::map<size_t, std::vector<sample::TokenLogprobs>> hostLogprobs, deviceLogprobs;
  auto host = serveWith(*exec, &hostLogprobs);
  FakeDeviceSampler device(*exec);
  auto onDevice = serveWith(device, &deviceLogprobs);

  // Requests 1 and 4 never reached the device; 0, 2 and 3 did, once per token, with their
  // own seeds and steps 0, 1, 2, ...
  std::map<uint64_t, std::vector<uint64_t>> steps;
  for (const DeviceSampling &d : device.seen)
    steps[d.seed].push_back(d.step);
  EXPECT_EQ(steps.count(101), 0u);
  EXPECT_EQ(steps.count(104), 0u);
  for (uint64_t seed : {100, 102, 103})
    EXPECT_EQ(steps[seed], (std::vector<uint64_t>{0, 1, 2, 3, 4, 5})) << "seed " << seed;
  for (const DeviceSampling &d : device.seen)
    if (d.seed == 102) {
      EXPECT_EQ(d.temperature, 0.8f);
      EXPECT_EQ(d.topK, 5);
    } else if (d.seed == 103) {
      EXPECT_EQ(d.topLogprobs, 3);
    }
  // The device's tokens are the ones the engine reports; the host's are unchanged.
  for (size_t i : {0, 1, 3, 4})
    EXPECT_EQ(onDevice[i], host[i]) << "request " << i;
  ASSERT_EQ(onDevice[2].size(), 6u);
  for (size_t t = 0; t < 6; ++t)
    EXPECT_EQ(onDevice[2][t], int32_t((102 + t) % uint64_t(vocab))) << "token " << t;
  // Log-probabilities come from the device's pick.
  ASSERT_EQ(deviceLogprobs[3].size(), 6u);
  for (size_t t = 0; t < 6; ++t) {
    EXPECT_EQ(deviceLogprobs[3][t].chosen, hostLogprobs[3][t].chosen) << "token " << t;
    EXPECT_EQ(deviceLogprobs[3][t].top, hostLogprobs[3][t].top) << "token " << t;
  }
  // Without device sampling, no chunk may carry it.
  std::vector<int32_t> table(4, 0);
  DeviceSampling d;
  Expected<std::vector<float>> refused =
      exec->step({1, 2}, {{0, 2, true, &table, false, &d}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("does not sample"), std::string::npos)
      << refused.error().message();
}

// Greedy requests speculate on an executor that samples on its device too: a step with
// drafts samples the request on the host, the others on the device; the tokens stay those
// of decoding one at a time.
TEST(Engine, SpeculationMixesWithDeviceSampling) {
  auto exec = loadTinyLlama();
  ASSERT_TRUE(exec);
  std::vector<sched::RequestParams> requests = {
      request({5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7}, 40), request({200}, 33),
      request({9, 9, 9, 9, 9}, 17)};
  auto plain = serve(*exec, sched::Policy::IterationLevel, requests, {0, 0, 0});
  FakeDeviceSampler device(*exec);
  Expected<std::unique_ptr<Engine>> eng =
      Engine::create(device, sched::Policy::IterationLevel, false, 4);
  ASSERT_TRUE(eng.ok());
  std::map<sched::RequestId, size_t> which;
  std::map<size_t, std::vector<int32_t>> tokens;
  for (size_t i = 0; i < requests.size(); ++i)
    which[(*eng)->addRequest(requests[i], {}).value()] = i;
  while ((*eng)->hasUnfinished()) {
    Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
    ASSERT_TRUE(events.ok()) << events.error().toString();
    for (const sched::TokenEvent &e : *events)
      tokens[which[e.id]].push_back(e.token);
  }
  for (size_t i = 0; i < requests.size(); ++i)
    EXPECT_EQ(tokens[i], plain[i]) << "request " << i;
  EXPECT_GT((*eng)->acceptedDraftTokens(), 0) << (*eng)->draftTokens() << " drafts";
  EXPECT_FALSE(device.seen.empty()) << "no step sampled on the device";
}

// Recurrent state under preemption: with a KV cache of 6 blocks for 5 requests of 2 blocks
// each, requests lose their blocks and state slots to older ones and are recomputed from
// position 0 in whatever slot is free then; every request's greedy tokens stay those it
// gets alone.
TEST(Engine, RecurrentStateSurvivesPreemption) {
  ExecutorOptions options;
  Expected<std::unique_ptr<CpuExecutor>> probe =
      CpuExecutor::load(planDirectory + "/tiny-lfm2.plan");
  ASSERT_TRUE(probe.ok()) << probe.error().toString();
  const plan::KvCacheLayout &kv = (*probe)->metadata().kvCache;
  options.kvCacheBytes = 6 * kv.numLayers * options.kvBlockSize *
                         kv.numKvHeads * (kv.headDim + kv.valueHeadDim) * int64_t(sizeof(float));
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/tiny-lfm2.plan", options);
  ASSERT_TRUE(exec.ok()) << exec.error().toString();
  ASSERT_EQ((*exec)->numKvBlocks(), 6);
  std::vector<sched::RequestParams> requests = {
      request({1, 17, 42, 99, 3, 250, 7}, 20), request({5, 6, 7, 8, 9, 10, 11, 12, 13}, 18),
      request({200, 3}, 25), request({31, 41, 59, 26, 53, 58, 97, 93, 23, 84, 62, 64}, 16),
      request({2, 7, 1, 8}, 24)};
  std::map<size_t, std::vector<int32_t>> alone;
  for (size_t i = 0; i < requests.size(); ++i)
    alone[i] = serve(**exec, sched::Policy::IterationLevel, {requests[i]}, {0})[0];

  Expected<std::unique_ptr<Engine>> eng = Engine::create(**exec, sched::Policy::IterationLevel);
  ASSERT_TRUE(eng.ok());
  std::map<sched::RequestId, size_t> which;
  for (size_t i = 0; i < requests.size(); ++i)
    which[*(*eng)->addRequest(requests[i], {})] = i;
  std::map<size_t, std::vector<int32_t>> loaded;
  int32_t preemptions = 0;
  for (int step = 0; step < 1000 && (*eng)->hasUnfinished(); ++step) {
    for (auto [id, i] : which)
      preemptions = std::max(preemptions, (*eng)->scheduler().numPreemptions(id));
    Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
    ASSERT_TRUE(events.ok()) << events.error().toString();
    for (const sched::TokenEvent &e : *events)
      loaded[which[e.id]].push_back(e.token);
  }
  EXPECT_GT(preemptions, 0) << "the test meant to preempt";
  for (size_t i = 0; i < requests.size(); ++i)
    EXPECT_EQ(loaded[i], alone[i]) << "request " << i;
}
