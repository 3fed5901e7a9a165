// One scheduler call (schedule() + update()) at a large steady state: 256 running requests
// and 1000 waiting behind them. It must take well under one engine iteration (tens of
// milliseconds). Requests have 512-token prompts and 256 to 1279 output tokens, so they
// finish at different times and the head of the queue is admitted with a prefill in their
// place; the queue is topped up to 1000 outside the timed region. Results:
// docs/benchmarks.md, "Scheduler".
#include "runtime/sched/Scheduler.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace modelrt;
using namespace modelrt::sched;

namespace {

constexpr int kRunning = 256;
constexpr int kWaiting = 1000;
constexpr int kPromptLen = 512;

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "SchedulerBench: %s\n", message.c_str());
  std::abort();
}

void addRequest(Scheduler &scheduler, int i) {
  RequestParams params;
  params.prompt.assign(kPromptLen, 7);
  params.maxTokens = 256 + (i * 389) % 1024;
  Expected<RequestId> id = scheduler.addRequest(std::move(params));
  if (!id)
    fail(id.error().toString());
}

void step(Scheduler &scheduler, std::vector<TokenId> &sampled) {
  SchedulerOutput out = scheduler.schedule();
  benchmark::DoNotOptimize(out.tokenIds.data());
  sampled.assign(out.sampleRows.size(), 3);
  Expected<std::vector<TokenEvent>> events = scheduler.update(out, sampled);
  if (!events)
    fail(events.error().toString());
}

void BM_SchedulerCall(benchmark::State &state) {
  SchedulerConfig config;
  config.policy = state.range(0) ? Policy::RequestLevel : Policy::IterationLevel;
  config.maxNumSeqs = kRunning;
  config.maxNumBatchedTokens = 8192;
  config.maxSeqLen = 4096;
  config.kvCache.blockSize = 16;
  // Room for 256 requests at their longest: no preemption, as in a well-sized deployment.
  config.kvCache.numBlocks = kRunning * (kPromptLen + 1280) / 16;
  config.kvCache.watermarkBlocks = 16;
  Expected<Scheduler> created = Scheduler::create(config);
  if (!created)
    fail(created.error().toString());
  Scheduler &scheduler = created.value();
  int added = 0;
  for (; added < kRunning + kWaiting; ++added)
    addRequest(scheduler, added);
  std::vector<TokenId> sampled;
  // Warm up past the first prefills and into the churn of finishing and admitted requests.
  for (int i = 0; i < 2000; ++i)
    step(scheduler, sampled);

  size_t running = 0;
  for (auto _ : state) {
    step(scheduler, sampled);
    state.PauseTiming();
    running += scheduler.numRunning();
    for (; scheduler.numWaiting() < size_t(kWaiting); ++added)
      addRequest(scheduler, added);
    state.ResumeTiming();
  }
  state.counters["mean_running"] = double(running) / double(state.iterations());
  state.counters["waiting"] = double(scheduler.numWaiting());
}
BENCHMARK(BM_SchedulerCall)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("request_level")
    ->Iterations(3000)
    ->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
