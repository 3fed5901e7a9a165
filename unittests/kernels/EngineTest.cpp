// The serving loop on a real plan: a request's greedy tokens are the same alone, among
// others arriving while it runs (iteration-level), and under the request-level baseline;
// and equal to token-by-token decoding with the executor. Requests of different lengths
// leave as soon as they finish.
#include "runtime/engine/Engine.h"
#include "runtime/engine/Sequences.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

using namespace modelrt;
using namespace modelrt::engine;

extern std::string planDirectory;

namespace {

std::unique_ptr<CpuExecutor> loadTinyLlama() {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/tiny-llama.plan");
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
                                             std::vector<int> *finishStep = nullptr) {
  Expected<std::unique_ptr<Engine>> eng = Engine::create(exec, policy);
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
  return tokens;
}

} // namespace

TEST(Engine, GreedyTokensDoNotDependOnLoadOrPolicy) {
  auto exec = loadTinyLlama();
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
