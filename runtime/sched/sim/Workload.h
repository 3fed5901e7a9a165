// Seeded synthetic workloads: Poisson arrivals at a rate (or all at once) with input and
// output lengths drawn from fixed, uniform or ShareGPT-like distributions.
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace modelrt::sched::sim {

struct LengthDistribution {
  enum class Kind { Fixed, Uniform, ShareGpt };
  Kind kind = Kind::Fixed;
  // Fixed: lo. Uniform: [lo, hi] inclusive. ShareGpt: log-normal with median lo, clamped to
  // [1, hi] (a heavy right tail, like chat prompts and replies; not a fit to the data set).
  int32_t lo = 128;
  int32_t hi = 128;
  double sigma = 1.0;
};

// "fixed:N", "uniform:A:B", "sharegpt-input" or "sharegpt-output".
Expected<LengthDistribution> parseLengthDistribution(const std::string &text);
std::string describe(const LengthDistribution &dist);

struct WorkloadSpec {
  int32_t numPrompts = 100;
  // Requests per second; infinity sends every request at time 0.
  double requestRate = 1.0;
  LengthDistribution input;
  LengthDistribution output;
  uint64_t seed = 0;
};

struct SimRequest {
  double arrival; // seconds
  int32_t inputLen;
  int32_t outputLen;
};

// The same spec always gives the same requests (on every platform: no std distributions).
std::vector<SimRequest> generateWorkload(const WorkloadSpec &spec);

} // namespace modelrt::sched::sim
