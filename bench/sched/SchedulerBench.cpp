// One scheduler call (schedule() + update()) at a large steady state: 256 running decodes
// with long contexts and 1000 requests waiting behind them. It must take well under one
// engine iteration (tens of milliseconds). Results: docs/benchmarks.md, "Scheduler".
#include "runtime/sched/Scheduler.h"

#include <benchmark/benchmark.h>

#include <cstdlib>

using namespace modelrt;
using namespace modelrt::sched;

namespace {

constexpr int kRunning = 256;
constexpr int kWaiting = 1000;
constexpr int kPromptLen = 512;

Scheduler makeSteadyState(Policy policy, int maxTokens) {
  SchedulerConfig config;
  config.policy = policy;
  config.maxNumSeqs = kRunning;
  config.maxNumBatchedTokens = 8192;
  config.maxSeqLen = 1 << 20;
  config.kvCache.blockSize = 16;
  // Room for every running request to grow a long way without preemption.
  config.kvCache.numBlocks = kRunning * (kPromptLen + maxTokens) / 16 + 1024;
  config.kvCache.watermarkBlocks = 16;
  Expected<Scheduler> created = Scheduler::create(config);
  if (!created)
    std::abort();
  Scheduler scheduler = std::move(created.value());
  for (int i = 0; i < kRunning + kWaiting; ++i) {
    RequestParams params;
    params.prompt.assign(kPromptLen, 7);
    params.maxTokens = maxTokens;
    if (!scheduler.addRequest(std::move(params)))
      std::abort();
  }
  // Prefill the first 256 until they all decode.
  while (true) {
    SchedulerOutput out = scheduler.schedule();
    bool allDecode = out.requests.size() == size_t(kRunning);
    for (const ScheduledRequest &r : out.requests)
      allDecode &= !r.isPrefill;
    std::vector<TokenId> sampled(out.sampleRows.size(), 3);
    if (!scheduler.update(out, sampled))
      std::abort();
    if (allDecode)
      break;
  }
  return scheduler;
}

void BM_ScheduleUpdate(benchmark::State &state) {
  Policy policy = state.range(0) ? Policy::RequestLevel : Policy::IterationLevel;
  Scheduler scheduler = makeSteadyState(policy, /*maxTokens=*/1 << 16);
  std::vector<TokenId> sampled(kRunning, 3);
  for (auto _ : state) {
    SchedulerOutput out = scheduler.schedule();
    benchmark::DoNotOptimize(out.tokenIds.data());
    if (!scheduler.update(out, sampled))
      std::abort();
  }
  state.counters["running"] = double(scheduler.numRunning());
  state.counters["waiting"] = double(scheduler.numWaiting());
}
BENCHMARK(BM_ScheduleUpdate)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("request_level")
    ->Unit(benchmark::kMicrosecond);

// The same with churn: one running request finishes every iteration and the head of the
// waiting queue is admitted with a full 512-token prefill in its place.
void BM_ScheduleUpdateWithAdmission(benchmark::State &state) {
  Scheduler scheduler = makeSteadyState(Policy::IterationLevel, /*maxTokens=*/1 << 16);
  std::vector<TokenId> sampled;
  for (auto _ : state) {
    SchedulerOutput out = scheduler.schedule();
    benchmark::DoNotOptimize(out.tokenIds.data());
    sampled.assign(out.sampleRows.size(), 3);
    if (!scheduler.update(out, sampled))
      std::abort();
    state.PauseTiming();
    // Keep the queue full and end the oldest running request.
    RequestParams params;
    params.prompt.assign(kPromptLen, 7);
    params.maxTokens = 1 << 16;
    if (!scheduler.addRequest(std::move(params)))
      std::abort();
    if (!scheduler.cancel(scheduler.runningIds().front()))
      std::abort();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_ScheduleUpdateWithAdmission)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
