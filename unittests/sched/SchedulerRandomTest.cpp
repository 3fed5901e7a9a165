// Randomised runs over many seeds: random arrivals, lengths, stop conditions and
// cancellations against tiny KV pools, with the scheduler's invariants checked after every
// call and every request's output compared with what it generates alone.
#include "unittests/sched/FakeEngine.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <set>

using namespace modelrt;
using namespace modelrt::sched;
using namespace modelrt::sched::testing;

namespace {

constexpr int32_t kVocab = 40; // small, so EOS and stop tokens come up often

// What the runs exercised, so a change that makes them trivial does not pass unnoticed.
struct Coverage {
  int preemptions = 0;
  int cancellations = 0;
  int rejections = 0;
  int partialChunks = 0;
  int completed = 0;
  int64_t cachedTokens = 0;
  int overlapped = 0; // iterations scheduled while another was in flight
};

struct Mode {
  Policy policy;
  bool prefixCaching;
  // Iterations in flight (pipeline stages): each is run when scheduled and updated, oldest
  // first, only when this many are out.
  int inFlight = 1;
};

struct RandomRun {
  explicit RandomRun(uint64_t seed, Mode mode) : rng(seed) {
    config.policy = mode.policy;
    config.kvCache.prefixCaching = mode.prefixCaching;
    config.maxInFlight = mode.inFlight;
    for (auto &prefix : prefixes)
      for (int i = 0; i < 40; ++i)
        prefix.push_back(pick(0, kVocab - 1));
    config.kvCache.blockSize = pick(1, 8);
    config.kvCache.numBlocks = pick(2, 32);
    config.kvCache.watermarkBlocks = pick(0, config.kvCache.numBlocks / 4);
    config.maxNumSeqs = pick(1, 6);
    config.maxNumBatchedTokens = pick(config.maxNumSeqs, 48);
    config.maxSeqLen = pick(8, 96);
    config.vocabSize = kVocab;
  }

  int32_t pick(int32_t lo, int32_t hi) {
    return lo + static_cast<int32_t>(rng() % uint64_t(hi - lo + 1));
  }
  bool chance(int percent) { return pick(1, 100) <= percent; }

  RequestParams randomRequest() {
    RequestParams params;
    int32_t promptLen = pick(1, 30);
    // With prefix caching, most prompts start with one of a few shared prefixes.
    int32_t shared = config.kvCache.prefixCaching && chance(70) ? pick(1, promptLen) : 0;
    const std::vector<TokenId> &prefix = prefixes[pick(0, 2)];
    for (int32_t i = 0; i < promptLen; ++i)
      params.prompt.push_back(i < shared ? prefix[i] : pick(0, kVocab - 1));
    params.maxTokens = pick(1, 30);
    if (chance(50))
      params.eosTokenId = 0;
    params.ignoreEos = chance(10);
    if (chance(20))
      params.stopTokenIds = {pick(0, kVocab - 1)};
    if (chance(10))
      params.stopSequences = {{pick(0, kVocab - 1), pick(0, kVocab - 1)}};
    return params;
  }

  // Everything that must hold after each schedule().
  void checkInvariants(const Scheduler &s, const SchedulerOutput &out) {
    const kv::KvCacheManager &kv = s.kvCache();
    ASSERT_LE(out.numBatchedTokens(), config.maxNumBatchedTokens);
    ASSERT_LE(out.requests.size(), size_t(config.maxNumSeqs));
    ASSERT_LE(s.numRunning(), size_t(config.maxNumSeqs));
    ASSERT_TRUE(kv.checkAccounting());

    std::set<RequestId> scheduled;
    for (const ScheduledRequest &r : out.requests) {
      ASSERT_TRUE(scheduled.insert(r.id).second) << "request scheduled twice";
      ASSERT_GT(r.numTokens, 0);
      ASSERT_EQ(s.state(r.id), RequestState::Running);
    }

    // Running requests own their blocks alone (nothing forks here) unless they share a
    // cached prefix; queued ones hold none.
    std::set<kv::BlockId> owned;
    int64_t tableBlocks = 0;
    for (RequestId id : s.runningIds()) {
      ASSERT_TRUE(kv.hasSeq(id));
      for (kv::BlockId block : kv.blockTable(id)) {
        bool first = owned.insert(block).second;
        if (!config.kvCache.prefixCaching) {
          ASSERT_TRUE(first) << "block " << block << " in two tables";
          ASSERT_EQ(kv.pool().refCount(block), 1);
        }
      }
      tableBlocks += int64_t(kv.blockTable(id).size());
    }
    if (config.kvCache.prefixCaching)
      tableBlocks = int64_t(owned.size());
    std::vector<RequestId> waiting = s.waitingIds();
    for (size_t i = 0; i < waiting.size(); ++i) {
      ASSERT_FALSE(kv.hasSeq(waiting[i])) << "queued request " << waiting[i] << " holds blocks";
      if (i > 0)
        ASSERT_LT(waiting[i - 1], waiting[i]) << "queue out of arrival order";
    }
    ASSERT_EQ(kv.numSeqs(), s.numRunning());
    ASSERT_EQ(tableBlocks + kv.numFreeBlocks(), config.kvCache.numBlocks);

    for (RequestId id : out.preempted) {
      ASSERT_EQ(s.state(id), RequestState::Preempted);
      ASSERT_EQ(scheduled.count(id), 0u);
    }
    for (const FinishedRequest &f : out.finished) {
      ASSERT_FALSE(s.state(f.id).has_value());
      ASSERT_FALSE(kv.hasSeq(f.id));
    }

    // FCFS: a request is admitted the first time only after every earlier arrival was.
    for (const ScheduledRequest &r : out.requests) {
      if (!everAdmitted.insert(r.id).second)
        continue;
      for (RequestId id : waiting)
        if (s.state(id) == RequestState::Waiting)
          ASSERT_GT(id, r.id) << "request " << r.id << " admitted before earlier " << id;
    }
  }

  void run() {
    Expected<Scheduler> created = Scheduler::create(config);
    ASSERT_TRUE(created.ok()) << created.error().toString();
    Scheduler &s = created.value();
    FakeEngine engine(config, kVocab);
    std::map<RequestId, RequestParams> params;
    std::map<RequestId, std::vector<TokenId>> outputs;
    std::map<RequestId, FinishReason> finished;
    std::vector<std::pair<SchedulerOutput, std::vector<TokenId>>> inFlight;

    int32_t toArrive = pick(1, 40);
    int iterations = 0;
    while (toArrive > 0 || s.hasUnfinished() || !inFlight.empty()) {
      ASSERT_LT(++iterations, 20000) << "no progress";
      int arrivals = chance(40) ? pick(1, 3) : 0;
      for (int i = 0; i < arrivals && toArrive > 0; ++i, --toArrive) {
        RequestParams p = randomRequest();
        Expected<RequestId> id = s.addRequest(p);
        int64_t longest = int64_t(p.prompt.size()) + p.maxTokens;
        bool fits = longest <= config.maxSeqLen &&
                    s.kvCache().blocksForTokens(longest - 1) <= config.kvCache.numBlocks;
        ASSERT_EQ(id.ok(), fits) << (id.ok() ? "accepted a request that cannot fit"
                                             : id.error().toString());
        if (!id) {
          ++coverage.rejections;
          continue;
        }
        engine.addRequest(*id, p.prompt);
        params[*id] = p;
      }
      if (s.hasUnfinished() && chance(4)) {
        RequestId victim = params.rbegin()->first - RequestId(pick(0, 5));
        if (s.state(victim).has_value())
          ASSERT_TRUE(s.cancel(victim).ok());
      }
      if (!s.hasUnfinished() && inFlight.empty())
        continue;

      // With iterations in flight, a new one goes out while another is still unsampled;
      // the oldest is updated once the pipeline is full (or nothing more can run).
      if (s.hasUnfinished() && s.numInFlight() < size_t(config.maxInFlight)) {
        SchedulerOutput next = s.schedule();
        ASSERT_NO_FATAL_FAILURE(checkInvariants(s, next));
        for (const ScheduledRequest &r : next.requests)
          for (const auto &[other, unused] : inFlight)
            for (const ScheduledRequest &o : other.requests)
              ASSERT_NE(o.id, r.id) << "request " << r.id << " in two iterations in flight";
        std::vector<TokenId> sampled = engine.run(next);
        coverage.overlapped += !inFlight.empty() && !next.requests.empty();
        inFlight.emplace_back(std::move(next), std::move(sampled));
        if (s.numInFlight() < size_t(config.maxInFlight) && !inFlight.back().first.empty())
          continue;
      }
      if (inFlight.empty())
        continue;
      SchedulerOutput out = std::move(inFlight.front().first);
      std::vector<TokenId> sampled = std::move(inFlight.front().second);
      inFlight.erase(inFlight.begin());
      for (const FinishedRequest &f : out.finished)
        finished[f.id] = f.reason;
      coverage.preemptions += int(out.preempted.size());
      for (const ScheduledRequest &r : out.requests) {
        coverage.partialChunks += r.isPrefill && !r.sampled;
        coverage.cachedTokens += r.numCachedTokens;
      }
      ASSERT_TRUE(!out.empty() || !out.finished.empty() || !s.hasUnfinished() || !inFlight.empty())
          << "an iteration with nothing to run while requests wait";
      // Sometimes cancel between schedule() and update(), as a client disconnect would.
      if (!out.sampleRequestIds.empty() && chance(3))
        ASSERT_TRUE(s.cancel(out.sampleRequestIds.front()).ok());
      Expected<std::vector<TokenEvent>> events = s.update(out, sampled);
      ASSERT_TRUE(events.ok()) << events.error().toString();
      engine.accept(*events);
      for (const TokenEvent &e : *events) {
        outputs[e.id].push_back(e.token);
        if (e.finish)
          finished[e.id] = *e.finish;
      }
      ASSERT_TRUE(s.kvCache().checkAccounting());
    }

    // Every request ended; completed ones match their solo output, cancelled ones a prefix.
    EXPECT_EQ(s.kvCache().numFreeBlocks(), config.kvCache.numBlocks);
    EXPECT_EQ(s.kvCache().numSeqs(), 0u);
    for (const auto &[id, p] : params) {
      ASSERT_EQ(finished.count(id), 1u) << "request " << id << " never ended";
      std::vector<TokenId> reference = referenceOutput(p, kVocab);
      const std::vector<TokenId> &got = outputs[id];
      if (finished[id] == FinishReason::Cancelled) {
        ++coverage.cancellations;
        ASSERT_LE(got.size(), reference.size());
        EXPECT_TRUE(std::equal(got.begin(), got.end(), reference.begin()));
      } else {
        ++coverage.completed;
        EXPECT_EQ(got, reference) << "request " << id;
      }
    }
  }

  std::mt19937_64 rng;
  SchedulerConfig config;
  std::vector<TokenId> prefixes[3];
  std::set<RequestId> everAdmitted;
  Coverage coverage;
};

class SchedulerRandomTest : public ::testing::TestWithParam<Mode> {};

TEST_P(SchedulerRandomTest, InvariantsHoldOverManySeeds) {
  Coverage total;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    RandomRun run(seed, GetParam());
    ASSERT_NO_FATAL_FAILURE(run.run());
    if (HasFailure())
      break;
    total.preemptions += run.coverage.preemptions;
    total.cancellations += run.coverage.cancellations;
    total.rejections += run.coverage.rejections;
    total.partialChunks += run.coverage.partialChunks;
    total.completed += run.coverage.completed;
    total.cachedTokens += run.coverage.cachedTokens;
    total.overlapped += run.coverage.overlapped;
  }
  // Iterations went out while others were unsampled (none when one is in flight).
  if (GetParam().inFlight > 1)
    EXPECT_GT(total.overlapped, 1000);
  else
    EXPECT_EQ(total.overlapped, 0);
  // Request-level batching reserves whole lengths, so it never preempts.
  if (GetParam().policy == Policy::IterationLevel)
    EXPECT_GT(total.preemptions, 100);
  else
    EXPECT_EQ(total.preemptions, 0);
  EXPECT_GT(total.cancellations, 100);
  EXPECT_GT(total.rejections, 100);
  EXPECT_GT(total.partialChunks, 100);
  EXPECT_GT(total.completed, 1000);
  if (GetParam().prefixCaching)
    EXPECT_GT(total.cachedTokens, 10000);
  else
    EXPECT_EQ(total.cachedTokens, 0);
  std::printf("coverage: %d preemptions, %d cancellations, %d rejections, %d partial prefill "
              "chunks, %d completed, %lld prompt tokens from the prefix cache\n",
              total.preemptions, total.cancellations, total.rejections, total.partialChunks,
              total.completed, static_cast<long long>(total.cachedTokens));
  std::printf("%d iterations went out while another was in flight\n", total.overlapped);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, SchedulerRandomTest,
    ::testing::Values(Mode{Policy::IterationLevel, false}, Mode{Policy::RequestLevel, false},
                      Mode{Policy::IterationLevel, true}, Mode{Policy::IterationLevel, false, 2},
                      Mode{Policy::IterationLevel, true, 3}, Mode{Policy::RequestLevel, false, 2}),
    [](const ::testing::TestParamInfo<Mode> &info) {
      std::string name =
          info.param.policy == Policy::IterationLevel ? "IterationLevel" : "RequestLevel";
      if (info.param.prefixCaching)
        name += "PrefixCaching";
      if (info.param.inFlight > 1)
        name += std::to_string(info.param.inFlight) + "InFlight";
      return name;
    });

} // namespace
