// Serving metrics as `modelrt bench` reports them (after vLLM's serving benchmark): request
// and token throughput, TTFT, TPOT, ITL and end-to-end latency with mean, p50, p90, p99.
// The simulator and the real benchmark fill the same RequestTiming records.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace modelrt::sched {

// Times in seconds from the start of the run.
struct RequestTiming {
  double arrival = 0;
  // When the client got the whole result (request-level batching returns it only when the
  // whole batch has finished).
  double completion = 0;
  int32_t inputTokens = 0;
  // When each generated token came out of the engine; tokenTimes.front() is the first.
  std::vector<double> tokenTimes;
};

// Milliseconds.
struct LatencySummary {
  double mean = 0;
  double median = 0;
  double p90 = 0;
  double p99 = 0;
};

struct ServingReport {
  size_t completed = 0;
  double durationS = 0;
  int64_t totalInputTokens = 0;
  int64_t totalOutputTokens = 0;
  double requestThroughput = 0;     // req/s
  double outputTokenThroughput = 0; // tok/s
  double totalTokenThroughput = 0;  // tok/s, input and output
  LatencySummary ttft;              // arrival to first token
  LatencySummary tpot;              // per output token after the first, per request
  LatencySummary itl;               // between consecutive tokens, over all requests
  LatencySummary e2el;              // arrival to completion
  // ORCA's latency metric: end-to-end latency divided by the request's output tokens.
  LatencySummary normalizedLatency; // ms per output token
};

// numpy's default (linear) percentile of unsorted values; 0 for none.
double percentile(std::vector<double> values, double pct);
LatencySummary summarizeMs(const std::vector<double> &seconds);
// durationS: the run's wall time (first arrival to last completion, as the caller measures).
ServingReport summarize(const std::vector<RequestTiming> &requests, double durationS);

// The human-readable block (vLLM's layout).
std::string formatReport(const ServingReport &report);
// The same figures as flat JSON keys (request_throughput, mean_ttft_ms, p99_e2el_ms, ...).
nlohmann::json reportToJson(const ServingReport &report);

} // namespace modelrt::sched
