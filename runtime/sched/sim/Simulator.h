// Discrete-event simulation of serving: the real Scheduler decides every iteration, a
// CostModel says how long the engine takes for it, and requests arrive on the workload's
// clock (a request arriving during an iteration joins at the next one, as in ORCA).
#pragma once

#include "runtime/sched/Scheduler.h"
#include "runtime/sched/ServingMetrics.h"
#include "runtime/sched/sim/CostModel.h"
#include "runtime/sched/sim/Workload.h"

#include <vector>

namespace modelrt::sched::sim {

struct SimResult {
  ServingReport report;
  uint64_t iterations = 0;
  uint64_t preemptions = 0;
  // Requests the scheduler refused at admission (they can never fit).
  uint64_t rejected = 0;
  double meanBatchTokens = 0;
  double meanBatchRequests = 0;
};

Expected<SimResult> simulate(const SchedulerConfig &config, const CostModel &cost,
                             const std::vector<SimRequest> &workload);

} // namespace modelrt::sched::sim
