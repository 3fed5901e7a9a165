// A cost model of one engine iteration, for the simulator: how long the engine takes for a
// SchedulerOutput. Parameters come from a JSON file so they can be calibrated against the
// real engine later (bench/sched/cost-model.json documents each).
#pragma once

#include "runtime/sched/SchedulerOutput.h"
#include "runtime/support/Error.h"

#include <string>

namespace modelrt::sched::sim {

struct CostModel {
  std::string description;
  // Per iteration: kernel launches, scheduling, host work.
  double fixedUs = 0;
  // Token-wise ops (selective batching: one [T, D] batch) cost
  // max(weightsReadUs, perTokenUs * T): reading every weight once bounds a small batch,
  // compute bounds a large one.
  double weightsReadUs = 0;
  double perTokenUs = 0;
  // Attention, per request: reading each context token's K and V once...
  double perKvTokenUs = 0;
  // ...and the score work, per (query row, key) pair.
  double perAttentionPairUs = 0;

  double iterationUs(const SchedulerOutput &output) const;
};

Expected<CostModel> parseCostModel(const std::string &jsonText);
Expected<CostModel> loadCostModel(const std::string &path);

} // namespace modelrt::sched::sim
