// modelrt-sim: runs the real scheduler against a cost model over a synthetic workload and
// reports serving metrics per scheduler and request rate. See docs/scheduling.md.
#include "runtime/sched/sim/Simulator.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <vector>

using namespace modelrt;
using namespace modelrt::sched;
using namespace modelrt::sched::sim;

namespace {

const char *kUsage =
    "usage: modelrt-sim --cost-model FILE [options]\n"
    "  --scheduler iteration-level|request-level|both   (default iteration-level)\n"
    "  --request-rate R[,R...]    requests/s, 'inf' = all at once; a list sweeps (default inf)\n"
    "  --num-prompts N            (default 200)\n"
    "  --input-len DIST           fixed:N | uniform:A:B | sharegpt-input (default uniform:32:512)\n"
    "  --output-len DIST          fixed:N | uniform:A:B | sharegpt-output (default "
    "uniform:1:512)\n"
    "  --seed S                   (default 0)\n"
    "  --max-num-seqs N           (default 256)\n"
    "  --max-num-batched-tokens N (default 2048)\n"
    "  --max-seq-len N            (default 2048)\n"
    "  --num-blocks N             KV cache blocks (default 800)\n"
    "  --block-size N             tokens per KV block (default 16)\n"
    "  --watermark-blocks N       (default 8)\n"
    "  --format text|json         json: one object per line (default text)\n";

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "modelrt-sim: %s\n", message.c_str());
  std::exit(2);
}

int32_t parseInt(const std::string &flag, const std::string &text) {
  char *end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 0 || value > std::numeric_limits<int32_t>::max())
    fail(flag + " expects a whole number >= 0, got '" + text + "'");
  return static_cast<int32_t>(value);
}

std::vector<double> parseRates(const std::string &text) {
  std::vector<double> rates;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? comma : comma - start);
    if (item == "inf") {
      rates.push_back(std::numeric_limits<double>::infinity());
    } else {
      char *end = nullptr;
      double rate = std::strtod(item.c_str(), &end);
      if (item.empty() || *end != '\0' || !(rate > 0) || !std::isfinite(rate))
        fail("--request-rate expects positive numbers or 'inf', got '" + item + "'");
      rates.push_back(rate);
    }
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return rates;
}

} // namespace

int main(int argc, char **argv) {
  std::map<std::string, std::string> args = {{"--scheduler", "iteration-level"},
                                             {"--request-rate", "inf"},
                                             {"--num-prompts", "200"},
                                             {"--input-len", "uniform:32:512"},
                                             {"--output-len", "uniform:1:512"},
                                             {"--seed", "0"},
                                             {"--max-num-seqs", "256"},
                                             {"--max-num-batched-tokens", "2048"},
                                             {"--max-seq-len", "2048"},
                                             {"--num-blocks", "800"},
                                             {"--block-size", "16"},
                                             {"--watermark-blocks", "8"},
                                             {"--format", "text"},
                                             {"--cost-model", ""}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string value;
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      fail("missing value for " + arg + "\n" + kUsage);
    }
    if (!args.count(arg))
      fail("unknown option " + arg + "\n" + kUsage);
    args[arg] = value;
  }
  if (args["--cost-model"].empty())
    fail(std::string("--cost-model is required\n") + kUsage);

  Expected<CostModel> cost = loadCostModel(args["--cost-model"]);
  if (!cost)
    fail(cost.error().toString());

  WorkloadSpec spec;
  spec.numPrompts = parseInt("--num-prompts", args["--num-prompts"]);
  spec.seed = static_cast<uint64_t>(parseInt("--seed", args["--seed"]));
  Expected<LengthDistribution> input = parseLengthDistribution(args["--input-len"]);
  if (!input)
    fail("--input-len: " + input.error().message());
  Expected<LengthDistribution> output = parseLengthDistribution(args["--output-len"]);
  if (!output)
    fail("--output-len: " + output.error().message());
  spec.input = *input;
  spec.output = *output;

  SchedulerConfig config;
  config.maxNumSeqs = parseInt("--max-num-seqs", args["--max-num-seqs"]);
  config.maxNumBatchedTokens =
      parseInt("--max-num-batched-tokens", args["--max-num-batched-tokens"]);
  config.maxSeqLen = parseInt("--max-seq-len", args["--max-seq-len"]);
  config.kvCache.numBlocks = parseInt("--num-blocks", args["--num-blocks"]);
  config.kvCache.blockSize = parseInt("--block-size", args["--block-size"]);
  config.kvCache.watermarkBlocks = parseInt("--watermark-blocks", args["--watermark-blocks"]);

  std::vector<Policy> policies;
  if (args["--scheduler"] == "both") {
    policies = {Policy::IterationLevel, Policy::RequestLevel};
  } else {
    Expected<Policy> policy = parsePolicy(args["--scheduler"]);
    if (!policy)
      fail(policy.error().message());
    policies = {*policy};
  }
  bool json = args["--format"] == "json";
  if (!json && args["--format"] != "text")
    fail("--format expects text or json, got '" + args["--format"] + "'");

  for (double rate : parseRates(args["--request-rate"])) {
    spec.requestRate = rate;
    std::vector<SimRequest> workload = generateWorkload(spec);
    for (Policy policy : policies) {
      config.policy = policy;
      Expected<SimResult> result = simulate(config, *cost, workload);
      if (!result)
        fail(result.error().toString());
      if (json) {
        nlohmann::json line = reportToJson(result->report);
        line["scheduler"] = policyName(policy);
        line["request_rate"] = std::isfinite(rate) ? nlohmann::json(rate) : nlohmann::json("inf");
        line["num_prompts"] = spec.numPrompts;
        line["input_len"] = describe(spec.input);
        line["output_len"] = describe(spec.output);
        line["seed"] = spec.seed;
        line["iterations"] = result->iterations;
        line["preemptions"] = result->preemptions;
        line["rejected"] = result->rejected;
        line["mean_batch_tokens"] = result->meanBatchTokens;
        line["mean_batch_requests"] = result->meanBatchRequests;
        std::printf("%s\n", line.dump().c_str());
      } else {
        char rateBuf[32];
        std::snprintf(rateBuf, sizeof(rateBuf), "%g", rate);
        std::string rateText = std::isfinite(rate) ? rateBuf : "inf";
        std::printf("Scheduler: %s   request rate: %s req/s   prompts: %d   input: %s   output: "
                    "%s   seed: %llu\n",
                    policyName(policy), rateText.c_str(), spec.numPrompts,
                    describe(spec.input).c_str(), describe(spec.output).c_str(),
                    static_cast<unsigned long long>(spec.seed));
        std::printf("Iterations: %llu   preemptions: %llu   rejected: %llu   mean batch: %.1f "
                    "tokens, %.1f requests\n",
                    static_cast<unsigned long long>(result->iterations),
                    static_cast<unsigned long long>(result->preemptions),
                    static_cast<unsigned long long>(result->rejected), result->meanBatchTokens,
                    result->meanBatchRequests);
        std::fputs(formatReport(result->report).c_str(), stdout);
        std::printf("\n");
      }
    }
  }
  return 0;
}
