#include "runtime/sched/sim/Workload.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>

namespace modelrt::sched::sim {

namespace {

constexpr double kPi = 3.14159265358979323846;

Expected<int32_t> parseLength(const std::string &text, const std::string &whole) {
  char *end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 1 || value > (1 << 24))
    return Error(ErrorCode::InvalidArgument,
                 "bad length '" + text + "' in '" + whole + "' (expected a whole number >= 1)");
  return static_cast<int32_t>(value);
}

// mt19937_64's sequence is fixed by the standard; the std distributions are not.
double uniform01(std::mt19937_64 &rng) { return double(rng() >> 11) * 0x1.0p-53; }

double standardNormal(std::mt19937_64 &rng) {
  double u1 = 1.0 - uniform01(rng), u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

int32_t sample(const LengthDistribution &dist, std::mt19937_64 &rng) {
  switch (dist.kind) {
  case LengthDistribution::Kind::Fixed:
    return dist.lo;
  case LengthDistribution::Kind::Uniform:
    return dist.lo + static_cast<int32_t>(rng() % uint64_t(dist.hi - dist.lo + 1));
  case LengthDistribution::Kind::ShareGpt: {
    double value = double(dist.lo) * std::exp(dist.sigma * standardNormal(rng));
    return std::clamp(static_cast<int32_t>(std::lround(value)), 1, dist.hi);
  }
  }
  return dist.lo;
}

} // namespace

Expected<LengthDistribution> parseLengthDistribution(const std::string &text) {
  LengthDistribution dist;
  if (text == "sharegpt-input" || text == "sharegpt-output") {
    dist.kind = LengthDistribution::Kind::ShareGpt;
    bool input = text == "sharegpt-input";
    dist.lo = input ? 120 : 150;
    dist.hi = 1024;
    dist.sigma = input ? 1.0 : 0.9;
    return dist;
  }
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t colon; (colon = text.find(':', start)) != std::string::npos; start = colon + 1)
    parts.push_back(text.substr(start, colon - start));
  parts.push_back(text.substr(start));
  if (parts[0] == "fixed" && parts.size() == 2) {
    Expected<int32_t> n = parseLength(parts[1], text);
    if (!n)
      return n.error();
    dist.kind = LengthDistribution::Kind::Fixed;
    dist.lo = dist.hi = *n;
    return dist;
  }
  if (parts[0] == "uniform" && parts.size() == 3) {
    Expected<int32_t> lo = parseLength(parts[1], text);
    if (!lo)
      return lo.error();
    Expected<int32_t> hi = parseLength(parts[2], text);
    if (!hi)
      return hi.error();
    if (*hi < *lo)
      return Error(ErrorCode::InvalidArgument, "uniform range '" + text + "' has max < min");
    dist.kind = LengthDistribution::Kind::Uniform;
    dist.lo = *lo;
    dist.hi = *hi;
    return dist;
  }
  return Error(ErrorCode::InvalidArgument,
               "bad length distribution '" + text +
                   "' (expected fixed:N, uniform:A:B, sharegpt-input or sharegpt-output)");
}

std::string describe(const LengthDistribution &dist) {
  switch (dist.kind) {
  case LengthDistribution::Kind::Fixed:
    return "fixed:" + std::to_string(dist.lo);
  case LengthDistribution::Kind::Uniform:
    return "uniform:" + std::to_string(dist.lo) + ":" + std::to_string(dist.hi);
  case LengthDistribution::Kind::ShareGpt:
    return "sharegpt(median " + std::to_string(dist.lo) + ", max " + std::to_string(dist.hi) + ")";
  }
  return "?";
}

std::vector<SimRequest> generateWorkload(const WorkloadSpec &spec) {
  std::mt19937_64 rng(spec.seed);
  std::vector<SimRequest> requests;
  requests.reserve(spec.numPrompts);
  double t = 0;
  for (int32_t i = 0; i < spec.numPrompts; ++i) {
    if (std::isfinite(spec.requestRate))
      t += -std::log(1.0 - uniform01(rng)) / spec.requestRate;
    SimRequest r;
    r.arrival = t;
    r.inputLen = sample(spec.input, rng);
    r.outputLen = sample(spec.output, rng);
    requests.push_back(r);
  }
  return requests;
}

} // namespace modelrt::sched::sim
