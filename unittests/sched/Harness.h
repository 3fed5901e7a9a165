// Drives a Scheduler with the FakeEngine one iteration at a time and keeps what came out.
#pragma once

#include "unittests/sched/FakeEngine.h"

#include <map>
#include <optional>

namespace modelrt::sched::testing {

struct Harness {
  static constexpr int32_t kVocab = 1000;

  explicit Harness(const SchedulerConfig &config)
      : scheduler(std::move(Scheduler::create(config).value())), engine(config, kVocab) {}

  RequestId add(const RequestParams &params) {
    Expected<RequestId> id = scheduler.addRequest(params);
    EXPECT_TRUE(id.ok()) << id.error().toString();
    engine.addRequest(*id, params.prompt);
    params_[*id] = params;
    return *id;
  }

  // One iteration: schedule, run, update.
  SchedulerOutput step() {
    SchedulerOutput out = scheduler.schedule();
    EXPECT_LE(out.numBatchedTokens(), scheduler.config().maxNumBatchedTokens);
    EXPECT_LE(out.requests.size(), size_t(scheduler.config().maxNumSeqs));
    for (const FinishedRequest &f : out.finished)
      finished[f.id] = f.reason;
    std::vector<TokenId> sampled = engine.run(out);
    Expected<std::vector<TokenEvent>> events = scheduler.update(out, sampled);
    EXPECT_TRUE(events.ok()) << events.error().toString();
    engine.accept(*events);
    for (const TokenEvent &e : *events) {
      outputs[e.id].push_back(e.token);
      if (e.finish)
        finished[e.id] = *e.finish;
    }
    return out;
  }

  // Steps until nothing is left (at most maxSteps); returns the number of steps.
  int runToCompletion(int maxSteps = 100000) {
    int steps = 0;
    while (scheduler.hasUnfinished() && steps < maxSteps) {
      step();
      ++steps;
    }
    EXPECT_FALSE(scheduler.hasUnfinished()) << "no progress after " << maxSteps << " steps";
    return steps;
  }

  std::vector<TokenId> reference(RequestId id) const {
    return referenceOutput(params_.at(id), kVocab);
  }

  Scheduler scheduler;
  FakeEngine engine;
  std::map<RequestId, std::vector<TokenId>> outputs;
  std::map<RequestId, FinishReason> finished;
  std::map<RequestId, RequestParams> params_;
};

inline RequestParams makeRequest(int32_t promptLen, int32_t maxTokens, TokenId first = 1) {
  RequestParams params;
  for (int32_t i = 0; i < promptLen; ++i)
    params.prompt.push_back((first + i) % Harness::kVocab);
  params.maxTokens = maxTokens;
  return params;
}

} // namespace modelrt::sched::testing
