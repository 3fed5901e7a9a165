#include "runtime/sched/sim/Simulator.h"

#include <limits>
#include <unordered_map>

namespace modelrt::sched::sim {

Expected<SimResult> simulate(const SchedulerConfig &config, const CostModel &cost,
                             const std::vector<SimRequest> &workload) {
  Expected<Scheduler> created = Scheduler::create(config);
  if (!created)
    return created.error();
  Scheduler &scheduler = created.value();

  SimResult result;
  std::vector<RequestTiming> timings(workload.size());
  std::unordered_map<RequestId, size_t> index;
  // Request-level batching returns results when the whole batch is done.
  std::vector<size_t> heldUntilBatchEnds;
  double now = 0;
  size_t nextArrival = 0;
  uint64_t batchTokens = 0, batchRequests = 0;
  // Prompt contents do not matter to the scheduler or the cost model; any valid ids do.
  const TokenId fillerToken = 1;

  while (nextArrival < workload.size() || scheduler.hasUnfinished()) {
    if (!scheduler.hasUnfinished() && workload[nextArrival].arrival > now)
      now = workload[nextArrival].arrival;
    for (; nextArrival < workload.size() && workload[nextArrival].arrival <= now; ++nextArrival) {
      const SimRequest &r = workload[nextArrival];
      RequestParams params;
      params.prompt.assign(r.inputLen, fillerToken);
      params.maxTokens = r.outputLen;
      Expected<RequestId> id = scheduler.addRequest(std::move(params));
      if (!id) {
        ++result.rejected;
        continue;
      }
      index[*id] = nextArrival;
      timings[nextArrival].arrival = r.arrival;
      timings[nextArrival].inputTokens = r.inputLen;
    }
    if (!scheduler.hasUnfinished())
      continue;

    SchedulerOutput output = scheduler.schedule();
    if (output.empty()) {
      // Cannot happen with valid limits (an idle engine always admits the queue's head),
      // but never spin: report it.
      return Error(ErrorCode::Internal, "the scheduler scheduled nothing with " +
                                            std::to_string(scheduler.numUnfinished()) +
                                            " requests unfinished");
    }
    ++result.iterations;
    result.preemptions += output.preempted.size();
    batchTokens += output.numBatchedTokens();
    batchRequests += output.requests.size();
    now += cost.iterationUs(output) * 1e-6;

    std::vector<TokenId> sampled(output.sampleRows.size(), fillerToken);
    Expected<std::vector<TokenEvent>> events = scheduler.update(output, sampled);
    if (!events)
      return events.error();
    for (const TokenEvent &event : *events) {
      RequestTiming &timing = timings[index.at(event.id)];
      timing.tokenTimes.push_back(now);
      if (!event.finish)
        continue;
      if (config.policy == Policy::RequestLevel)
        heldUntilBatchEnds.push_back(index.at(event.id));
      else
        timing.completion = now;
      index.erase(event.id);
    }
    if (scheduler.numRunning() == 0) {
      for (size_t i : heldUntilBatchEnds)
        timings[i].completion = now;
      heldUntilBatchEnds.clear();
    }
  }

  result.report = summarize(timings, now);
  if (result.iterations > 0) {
    result.meanBatchTokens = double(batchTokens) / double(result.iterations);
    result.meanBatchRequests = double(batchRequests) / double(result.iterations);
  }
  return result;
}

} // namespace modelrt::sched::sim
