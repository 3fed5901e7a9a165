#include "runtime/sched/ServingMetrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace modelrt::sched {

double percentile(std::vector<double> values, double pct) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  double rank = pct / 100.0 * double(values.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - double(lo));
}

LatencySummary summarizeMs(const std::vector<double> &seconds) {
  LatencySummary summary;
  if (seconds.empty())
    return summary;
  std::vector<double> ms(seconds.size());
  std::transform(seconds.begin(), seconds.end(), ms.begin(), [](double s) { return s * 1e3; });
  summary.mean = std::accumulate(ms.begin(), ms.end(), 0.0) / double(ms.size());
  summary.median = percentile(ms, 50);
  summary.p90 = percentile(ms, 90);
  summary.p99 = percentile(ms, 99);
  return summary;
}

ServingReport summarize(const std::vector<RequestTiming> &requests, double durationS) {
  ServingReport report;
  std::vector<double> ttft, tpot, itl, e2el, normalized;
  for (const RequestTiming &r : requests) {
    if (r.tokenTimes.empty())
      continue;
    ++report.completed;
    size_t n = r.tokenTimes.size();
    report.totalInputTokens += r.inputTokens;
    report.totalOutputTokens += static_cast<int64_t>(n);
    ttft.push_back(r.tokenTimes.front() - r.arrival);
    if (n > 1)
      tpot.push_back((r.tokenTimes.back() - r.tokenTimes.front()) / double(n - 1));
    for (size_t i = 1; i < n; ++i)
      itl.push_back(r.tokenTimes[i] - r.tokenTimes[i - 1]);
    e2el.push_back(r.completion - r.arrival);
    normalized.push_back((r.completion - r.arrival) / double(n));
  }
  report.durationS = durationS;
  if (durationS > 0) {
    report.requestThroughput = double(report.completed) / durationS;
    report.outputTokenThroughput = double(report.totalOutputTokens) / durationS;
    report.totalTokenThroughput =
        double(report.totalInputTokens + report.totalOutputTokens) / durationS;
  }
  report.ttft = summarizeMs(ttft);
  report.tpot = summarizeMs(tpot);
  report.itl = summarizeMs(itl);
  report.e2el = summarizeMs(e2el);
  report.normalizedLatency = summarizeMs(normalized);
  return report;
}

namespace {

void appendLine(std::string &out, const char *label, double value, int decimals) {
  char line[128];
  std::snprintf(line, sizeof(line), "%-40s %.*f\n", label, decimals, value);
  out += line;
}

void appendSection(std::string &out, const char *title, const char *metric,
                   const LatencySummary &s) {
  char line[128];
  std::snprintf(line, sizeof(line), "%s\n", title);
  out += line;
  std::string name(metric);
  appendLine(out, ("Mean " + name + " (ms):").c_str(), s.mean, 2);
  appendLine(out, ("Median " + name + " (ms):").c_str(), s.median, 2);
  appendLine(out, ("P90 " + name + " (ms):").c_str(), s.p90, 2);
  appendLine(out, ("P99 " + name + " (ms):").c_str(), s.p99, 2);
}

void addLatency(nlohmann::json &json, const std::string &metric, const LatencySummary &s) {
  json["mean_" + metric + "_ms"] = s.mean;
  json["median_" + metric + "_ms"] = s.median;
  json["p90_" + metric + "_ms"] = s.p90;
  json["p99_" + metric + "_ms"] = s.p99;
}

} // namespace

std::string formatReport(const ServingReport &r) {
  std::string out = "============ Serving Benchmark Result ============\n";
  appendLine(out, "Successful requests:", double(r.completed), 0);
  appendLine(out, "Benchmark duration (s):", r.durationS, 2);
  appendLine(out, "Total input tokens:", double(r.totalInputTokens), 0);
  appendLine(out, "Total generated tokens:", double(r.totalOutputTokens), 0);
  appendLine(out, "Request throughput (req/s):", r.requestThroughput, 2);
  appendLine(out, "Output token throughput (tok/s):", r.outputTokenThroughput, 2);
  appendLine(out, "Total Token throughput (tok/s):", r.totalTokenThroughput, 2);
  appendSection(out, "---------------Time to First Token----------------", "TTFT", r.ttft);
  appendSection(out, "-----Time per Output Token (excl. 1st token)------", "TPOT", r.tpot);
  appendSection(out, "---------------Inter-token Latency----------------", "ITL", r.itl);
  appendSection(out, "----------------End-to-end Latency----------------", "E2EL", r.e2el);
  appendSection(out, "-----Normalized Latency (per output token)--------", "NL",
                r.normalizedLatency);
  out += "==================================================\n";
  return out;
}

nlohmann::json reportToJson(const ServingReport &r) {
  nlohmann::json json;
  json["completed"] = r.completed;
  json["duration_s"] = r.durationS;
  json["total_input_tokens"] = r.totalInputTokens;
  json["total_output_tokens"] = r.totalOutputTokens;
  json["request_throughput"] = r.requestThroughput;
  json["output_throughput"] = r.outputTokenThroughput;
  json["total_token_throughput"] = r.totalTokenThroughput;
  addLatency(json, "ttft", r.ttft);
  addLatency(json, "tpot", r.tpot);
  addLatency(json, "itl", r.itl);
  addLatency(json, "e2el", r.e2el);
  addLatency(json, "normalized_latency", r.normalizedLatency);
  return json;
}

} // namespace modelrt::sched
