#include "runtime/sched/sim/Simulator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace modelrt;
using namespace modelrt::sched;
using namespace modelrt::sched::sim;

namespace {

const char *kCostModel = R"({"fixed_us": 1000, "weights_read_us": 10000, "per_token_us": 100,
                             "per_kv_token_us": 1, "per_attention_pair_us": 0.01})";

TEST(SchedCostModelTest, ParsesAndPricesAnIteration) {
  Expected<CostModel> model = parseCostModel(kCostModel);
  ASSERT_TRUE(model.ok()) << model.error().toString();
  SchedulerOutput out;
  // One decode at position 99 (100 keys) and a 200-token prefill from 0.
  out.requests.push_back({0, 99, 1, false, true, {}});
  out.requests.push_back({1, 0, 200, true, true, {}});
  out.tokenIds.assign(201, 0);
  double attention = 1 * 100 + 0.01 * 100 + 1 * 200 + 0.01 * (200 * 201 / 2);
  EXPECT_NEAR(model->iterationUs(out), 1000 + 201 * 100 + attention, 1e-6);
  // A small batch is bound by reading the weights.
  out.requests.pop_back();
  out.tokenIds.assign(1, 0);
  EXPECT_NEAR(model->iterationUs(out), 1000 + 10000 + 100 + 1, 1e-6);
}

TEST(SchedCostModelTest, RejectsMissingOrNegativeParameters) {
  EXPECT_FALSE(parseCostModel("{").ok());
  EXPECT_FALSE(parseCostModel(R"({"fixed_us": 1})").ok());
  Expected<CostModel> negative = parseCostModel(
      R"({"fixed_us": -1, "weights_read_us": 1, "per_token_us": 1, "per_kv_token_us": 1,
          "per_attention_pair_us": 1})");
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message().find("fixed_us"), std::string::npos);
  EXPECT_FALSE(loadCostModel("/nonexistent/cost.json").ok());
}

TEST(SchedWorkloadTest, SeededAndWithinItsDistributions) {
  WorkloadSpec spec;
  spec.numPrompts = 2000;
  spec.requestRate = 4.0;
  spec.input = *parseLengthDistribution("uniform:32:512");
  spec.output = *parseLengthDistribution("sharegpt-output");
  spec.seed = 7;
  std::vector<SimRequest> a = generateWorkload(spec), b = generateWorkload(spec);
  ASSERT_EQ(a.size(), 2000u);
  double last = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].arrival, b[i].arrival);
    EXPECT_EQ(a[i].inputLen, b[i].inputLen);
    EXPECT_GE(a[i].arrival, last);
    last = a[i].arrival;
    EXPECT_GE(a[i].inputLen, 32);
    EXPECT_LE(a[i].inputLen, 512);
    EXPECT_GE(a[i].outputLen, 1);
    EXPECT_LE(a[i].outputLen, 1024);
  }
  // Poisson at 4 req/s: 2000 arrivals take about 500 s.
  EXPECT_NEAR(last, 500, 50);

  spec.requestRate = std::numeric_limits<double>::infinity();
  spec.input = *parseLengthDistribution("fixed:64");
  for (const SimRequest &r : generateWorkload(spec)) {
    EXPECT_EQ(r.arrival, 0);
    EXPECT_EQ(r.inputLen, 64);
  }
  EXPECT_FALSE(parseLengthDistribution("uniform:9:3").ok());
  EXPECT_FALSE(parseLengthDistribution("fixed:0").ok());
  EXPECT_FALSE(parseLengthDistribution("normal:3").ok());
}

TEST(SchedSimulatorTest, IterationLevelBeatsRequestLevelOnVariedOutputLengths) {
  CostModel cost = *parseCostModel(kCostModel);
  WorkloadSpec spec;
  spec.numPrompts = 60;
  spec.requestRate = std::numeric_limits<double>::infinity();
  spec.input = *parseLengthDistribution("uniform:8:64");
  spec.output = *parseLengthDistribution("uniform:1:128");
  std::vector<SimRequest> workload = generateWorkload(spec);

  SchedulerConfig config;
  config.maxNumSeqs = 16;
  config.maxNumBatchedTokens = 256;
  config.maxSeqLen = 256;
  config.kvCache = {256, 16, 4};
  Expected<SimResult> iteration = simulate(config, cost, workload);
  config.policy = Policy::RequestLevel;
  Expected<SimResult> request = simulate(config, cost, workload);
  ASSERT_TRUE(iteration.ok() && request.ok());
  EXPECT_EQ(iteration->report.completed, 60u);
  EXPECT_EQ(request->report.completed, 60u);
  EXPECT_EQ(iteration->report.totalOutputTokens, request->report.totalOutputTokens);
  EXPECT_GT(iteration->report.requestThroughput, request->report.requestThroughput);
  EXPECT_LT(iteration->report.e2el.median, request->report.e2el.median);
}

TEST(SchedServingMetricsTest, SummarizesLikeTheServingBenchmark) {
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 90), 4.6);
  std::vector<RequestTiming> timings(2);
  timings[0] = {0.0, 1.0, 10, {0.5, 0.75, 1.0}};
  timings[1] = {1.0, 2.0, 20, {1.5}};
  ServingReport report = summarize(timings, 2.0);
  EXPECT_EQ(report.completed, 2u);
  EXPECT_EQ(report.totalOutputTokens, 4);
  EXPECT_DOUBLE_EQ(report.requestThroughput, 1.0);
  EXPECT_DOUBLE_EQ(report.totalTokenThroughput, 17.0);
  EXPECT_DOUBLE_EQ(report.ttft.mean, 500);
  EXPECT_DOUBLE_EQ(report.tpot.median, 250);
  EXPECT_DOUBLE_EQ(report.e2el.p99, 1000);
  std::string text = formatReport(report);
  EXPECT_NE(text.find("Request throughput (req/s):              1.00\n"), std::string::npos)
      << text;
  EXPECT_DOUBLE_EQ(reportToJson(report)["median_tpot_ms"].get<double>(), 250);
}

} // namespace
