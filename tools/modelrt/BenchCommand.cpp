// `modelrt bench PLAN`: a seeded set of random prompts arrives at a request rate (Poisson)
// or all at once, and is served by the iteration-level engine, or by ORCA's request-level
// baseline with the same kernels (--scheduler both runs them side by side). Reports what
// vLLM's serving benchmark reports.
#include "Commands.h"

#include "runtime/engine/Engine.h"
#include "runtime/sched/ServingMetrics.h"

#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <random>
#include <thread>

namespace modelrt::cli {
namespace {

struct BenchOptions {
  engine::ExecutorOptions executor;
  std::string plan;
  int numPrompts = 32;
  int inputLen = 64;
  int outputLen = 32;
  std::string requestRate = "inf";
  std::string scheduler = "both";
  uint64_t seed = 0;
  bool json = false;
  bool randomOutputLen = false;
  bool prefixCaching = true;
  int sharedPrefixLen = 0;
  int speculativeTokens = 0;
  int numWarmups = 1;
  // Sampling of every request (greedy by default); request i draws with seed --seed + i.
  sample::SamplingParams sampling;
};

int fail(const std::string &message) {
  std::cerr << "modelrt bench: " << message << "\n";
  return 1;
}

struct Workload {
  std::vector<sched::RequestParams> prompts;
  std::vector<double> arrivals; // seconds from the start, ascending
};

// n seeded random prompts of --input-len tokens (after the shared prefix) arriving at the
// request rate, or all at once.
Workload makeWorkload(const BenchOptions &o, int64_t vocab, uint64_t seed, int n, double rate) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(vocab) - 1);
  std::exponential_distribution<double> gap(std::isinf(rate) ? 1.0 : rate);
  Workload w;
  w.prompts.resize(n);
  w.arrivals.assign(n, 0.0);
  std::vector<int32_t> shared(o.sharedPrefixLen);
  for (int32_t &id : shared)
    id = token(gen);
  double t = 0;
  for (int i = 0; i < n; ++i) {
    w.prompts[i].prompt = shared;
    w.prompts[i].prompt.resize(o.inputLen);
    for (size_t k = shared.size(); k < w.prompts[i].prompt.size(); ++k)
      w.prompts[i].prompt[k] = token(gen);
    w.prompts[i].maxTokens =
        o.randomOutputLen ? std::uniform_int_distribution<int>(1, o.outputLen)(gen) : o.outputLen;
    w.prompts[i].ignoreEos = true;
    // With LoRA adapters, requests take them in turn (vLLM's benchmark picks one at random).
    const int adapters = static_cast<int>(o.executor.loraAdapters.size());
    w.prompts[i].adapter = adapters ? i % adapters + 1 : 0;
    if (!std::isinf(rate))
      t += gap(gen);
    w.arrivals[i] = t;
  }
  return w;
}

sample::SamplingParams samplingOf(const BenchOptions &o, int request) {
  sample::SamplingParams s = o.sampling;
  s.seed = o.seed + uint64_t(request);
  return s;
}

// cachedTokens: prompt tokens the prefix cache supplied, summed over the requests; drafts
// and accepted: speculative draft tokens run and confirmed.
Expected<sched::ServingReport> runOnce(Executor &exec, sched::Policy policy, const BenchOptions &o,
                                       const Workload &w, int64_t &cachedTokens, int64_t &drafts,
                                       int64_t &accepted) {
  Expected<std::unique_ptr<engine::Engine>> created =
      engine::Engine::create(exec, policy, o.prefixCaching, o.speculativeTokens);
  if (!created)
    return created.error();
  engine::Engine &eng = **created;
  const int numPrompts = static_cast<int>(w.prompts.size());
  const std::vector<sched::RequestParams> &prompts = w.prompts;
  const std::vector<double> &arrivals = w.arrivals;

  std::vector<sched::RequestTiming> timings(numPrompts);
  std::map<sched::RequestId, int> index;
  auto start = std::chrono::steady_clock::now();
  auto now = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  int next = 0, done = 0;
  while (done < numPrompts) {
    for (; next < numPrompts && arrivals[next] <= now(); ++next) {
      // An embedding plan's requests are prompts alone: one event each, when pooled.
      Expected<sched::RequestId> id =
          exec.metadata().pooling
              ? eng.addEmbeddingRequest(prompts[next].prompt, 0, prompts[next].adapter)
              : eng.addRequest(prompts[next], samplingOf(o, next));
      if (!id)
        return id.error();
      index[*id] = next;
      timings[next].arrival = arrivals[next];
      timings[next].inputTokens = o.inputLen;
    }
    if (!eng.hasUnfinished()) {
      std::this_thread::sleep_for(std::chrono::duration<double>(arrivals[next] - now()));
      continue;
    }
    Expected<std::vector<sched::TokenEvent>> events = eng.step();
    if (!events)
      return events.error();
    double at = now();
    for (const sched::TokenEvent &e : *events) {
      sched::RequestTiming &r = timings[index.at(e.id)];
      if (r.tokenTimes.empty())
        cachedTokens += e.numCachedTokens;
      r.tokenTimes.push_back(at);
      if (e.finish) {
        r.completion = at;
        ++done;
      }
    }
  }
  drafts = eng.draftTokens();
  accepted = eng.acceptedDraftTokens();
  return sched::summarize(timings, now());
}

int runBench(const BenchOptions &o) {
  if (o.numPrompts < 1 || o.inputLen < 1 || o.outputLen < 1)
    return fail("--num-prompts, --input-len and --output-len must be at least 1");
  if (o.numWarmups < 0)
    return fail("--num-warmups must be at least 0");
  if (o.sharedPrefixLen < 0 || o.sharedPrefixLen > o.inputLen)
    return fail("--shared-prefix-len must be in [0, --input-len]");
  if (Status s = sample::validate(o.sampling); !s)
    return fail(s.error().message());
  double rate = std::numeric_limits<double>::infinity();
  if (o.requestRate != "inf") {
    try {
      rate = std::stod(o.requestRate);
    } catch (const std::exception &) {
      rate = -1;
    }
    if (!(rate > 0) || std::isinf(rate))
      return fail("--request-rate must be a positive number or inf");
  }
  std::vector<sched::Policy> policies;
  if (o.scheduler == "both") {
    policies = {sched::Policy::IterationLevel, sched::Policy::RequestLevel};
  } else {
    Expected<sched::Policy> p = sched::parsePolicy(o.scheduler);
    if (!p)
      return fail(p.error().message());
    policies = {*p};
  }
  Expected<std::unique_ptr<Executor>> exec = engine::loadExecutor(o.plan, o.executor);
  if (!exec)
    return fail(exec.error().message());
  const int64_t vocab = (*exec)->metadata().vocabSize;
  if (!o.json) {
    std::cout << describeKvCache(**exec, o.executor.kvCacheDtype) << "\n";
    if (std::string gemms = engine::describeCpuGemms(**exec); !gemms.empty())
      std::cout << gemms << "\n";
  }
  // Warm-up requests first, untimed (vLLM's benchmark also sends a test prompt first):
  // other random prompts, all at once, so that one-time costs (kernel modules, GEMM
  // algorithm choices per shape) stay out of the figures.
  if (o.numWarmups > 0) {
    int64_t cached = 0, drafts = 0, accepted = 0;
    Workload warm = makeWorkload(o, vocab, o.seed ^ 0x9e3779b97f4a7c15ull, o.numWarmups,
                                 std::numeric_limits<double>::infinity());
    Expected<sched::ServingReport> report =
        runOnce(**exec, policies.front(), o, warm, cached, drafts, accepted);
    if (!report)
      return fail("warm-up: " + report.error().message());
  }
  const Workload work = makeWorkload(o, vocab, o.seed, o.numPrompts, rate);
  nlohmann::json all = nlohmann::json::object();
  for (sched::Policy policy : policies) {
    int64_t cached = 0, drafts = 0, accepted = 0;
    Expected<sched::ServingReport> report =
        runOnce(**exec, policy, o, work, cached, drafts, accepted);
    if (!report)
      return fail(report.error().message());
    if (o.json) {
      all[sched::policyName(policy)] = sched::reportToJson(*report);
      all[sched::policyName(policy)]["prefix_cached_prompt_tokens"] = cached;
      all[sched::policyName(policy)]["speculative_draft_tokens"] = drafts;
      all[sched::policyName(policy)]["speculative_accepted_tokens"] = accepted;
      all[sched::policyName(policy)]["embedding_plan"] =
          (*exec)->metadata().pooling.has_value() && !(*exec)->metadata().classifier;
      all[sched::policyName(policy)]["classification_plan"] =
          (*exec)->metadata().classifier.has_value();
    } else {
      std::cout << "== " << sched::policyName(policy) << " scheduling: " << o.numPrompts
                << " prompts, input " << o.inputLen << ", output " << o.outputLen
                << (o.randomOutputLen ? " (uniform from 1)" : "") << ", request rate "
                << o.requestRate
                << (o.executor.loraAdapters.empty()
                        ? std::string()
                        : ", " + std::to_string(o.executor.loraAdapters.size()) +
                              " LoRA adapter(s) in turn")
                << " ==\n"
                << sched::formatReport(*report) << "Prompt tokens from the prefix cache: " << cached
                << " of " << int64_t(o.numPrompts) * o.inputLen << "\n";
      if (o.sampling.temperature > 0.0f)
        std::cout << "Sampling: temperature " << o.sampling.temperature << ", top_p "
                  << o.sampling.topP << ", top_k " << o.sampling.topK << ", min_p "
                  << o.sampling.minP << " (request i: seed --seed + i)\n";
      if ((*exec)->metadata().classifier)
        std::cout << "Classification plan: a request's one event is its logits (no tokens are "
                     "generated: 'generated tokens' count requests, E2EL is the time to the "
                     "logits)\n";
      else if ((*exec)->metadata().pooling)
        std::cout << "Embedding plan: a request's one event is its vector (no tokens are "
                     "generated: 'generated tokens' count requests, E2EL is the time to the "
                     "vector)\n";
      if (o.speculativeTokens > 0)
        std::cout << "Speculative draft tokens: " << drafts << ", accepted " << accepted << " ("
                  << (drafts ? 100.0 * double(accepted) / double(drafts) : 0.0) << "%)\n";
      std::cout << "\n";
    }
  }
  if (o.json)
    std::cout << all.dump(2) << "\n";
  return 0;
}

} // namespace

void addBenchCommand(CLI::App &app, int &exitCode) {
  auto o = std::make_shared<BenchOptions>();
  auto *cmd = app.add_subcommand("bench", "Serving benchmark of a plan (CPU executor)");
  cmd->add_option("plan", o->plan, "plan.bin written by modelc")->required();
  addExecutorOptions(cmd, o->executor);
  cmd->add_option("--num-prompts", o->numPrompts, "Requests (default 32)");
  cmd->add_option("--input-len", o->inputLen, "Prompt tokens per request (default 64)");
  cmd->add_option("--output-len", o->outputLen,
                  "Generated tokens per request, EOS ignored (default 32)");
  cmd->add_option("--request-rate", o->requestRate,
                  "Poisson arrivals per second, or inf (default)");
  cmd->add_option("--scheduler", o->scheduler,
                  "iteration-level, request-level, or both (default: side by side)");
  cmd->add_option("--seed", o->seed, "Prompt and arrival seed (default 0)");
  cmd->add_flag("--random-output-len", o->randomOutputLen,
                "Draw each request's output length uniformly from 1 to --output-len (ORCA's "
                "varied lengths)");
  cmd->add_option("--shared-prefix-len", o->sharedPrefixLen,
                  "Tokens every prompt starts with (a shared system prompt; default 0)");
  cmd->add_flag("--no-prefix-caching{false}", o->prefixCaching,
                "Compute every prompt in full (iteration-level) instead of reusing cached KV");
  cmd->add_option("--num-speculative-tokens", o->speculativeTokens,
                  "Speculative decoding by prompt lookup (vLLM's ngram method) for greedy "
                  "requests: up to this many draft tokens per decode step (default 0: off)")
      ->check(CLI::Range(0, 16));
  addLoraLimits(cmd, o->executor);
  addLoraOption(cmd, "--lora-modules", o->executor,
                "LoRA adapters (name=path ...): request i runs with adapter i mod n");
  cmd->add_option("--num-warmups", o->numWarmups,
                  "Untimed requests served first, all at once, other random prompts (default 1)");
  cmd->add_option("--temperature", o->sampling.temperature,
                  "Sampling temperature of every request (default 0: greedy)");
  cmd->add_option("--top-p", o->sampling.topP, "Top-p of every request (default 1)");
  cmd->add_option("--top-k", o->sampling.topK, "Top-k of every request (default 0: off)");
  cmd->add_option("--min-p", o->sampling.minP, "Min-p of every request (default 0: off)");
  cmd->add_flag("--json", o->json, "Print the figures as JSON");
  cmd->callback([o, &exitCode] {
    if (!runAsWorker(o->plan, o->executor, exitCode))
      exitCode = runBench(*o);
  });
}

} // namespace modelrt::cli
