// One test per scheduling rule. Randomised runs over many seeds are in
// SchedulerRandomTest.cpp.
#include "unittests/sched/Harness.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace modelrt;
using namespace modelrt::sched;
using namespace modelrt::sched::testing;

namespace {

SchedulerConfig smallConfig(int32_t numBlocks = 64, int32_t blockSize = 4) {
  SchedulerConfig config;
  config.maxNumSeqs = 4;
  config.maxNumBatchedTokens = 32;
  config.maxSeqLen = 256;
  config.kvCache = {numBlocks, blockSize, 0};
  return config;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

TEST(SchedulerConfigTest, RejectsLimitsThatCannotWork) {
  SchedulerConfig config = smallConfig();
  config.maxNumBatchedTokens = 3; // fewer than max-num-seqs decodes
  Expected<Scheduler> s = Scheduler::create(config);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.error().message(), "max-num-batched-tokens"));

  config = smallConfig();
  config.maxNumSeqs = 0;
  EXPECT_FALSE(Scheduler::create(config).ok());

  config = smallConfig();
  config.kvCache.watermarkBlocks = config.kvCache.numBlocks;
  EXPECT_FALSE(Scheduler::create(config).ok());

  EXPECT_TRUE(parsePolicy("request-level").ok());
  EXPECT_FALSE(parsePolicy("fifo").ok());
}

TEST(SchedulerAdmissionTest, RejectsRequestsThatCanNeverFit) {
  SchedulerConfig config = smallConfig(/*numBlocks=*/8, /*blockSize=*/4);
  config.maxSeqLen = 40;
  config.vocabSize = 100;
  Scheduler s = std::move(Scheduler::create(config).value());

  Expected<RequestId> tooLong = s.addRequest(makeRequest(30, 11));
  ASSERT_FALSE(tooLong.ok());
  EXPECT_EQ(tooLong.error().code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(contains(tooLong.error().message(), "exceeds the maximum sequence length 40"))
      << tooLong.error().message();

  // 34 tokens need 9 blocks of 4 but the pool has 8 (the last token needs no slot: 33 fit).
  Expected<RequestId> tooBig = s.addRequest(makeRequest(30, 5));
  ASSERT_FALSE(tooBig.ok());
  EXPECT_EQ(tooBig.error().code(), ErrorCode::ResourceExhausted);
  EXPECT_TRUE(contains(tooBig.error().message(), "the pool has only 8"))
      << tooBig.error().message();
  EXPECT_TRUE(s.addRequest(makeRequest(30, 3)).ok());

  EXPECT_FALSE(s.addRequest(makeRequest(0, 5)).ok());
  EXPECT_FALSE(s.addRequest(makeRequest(3, 0)).ok());
  RequestParams badToken = makeRequest(3, 5);
  badToken.prompt[1] = 100;
  Expected<RequestId> bad = s.addRequest(badToken);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.error().message(), "prompt token 1 is 100")) << bad.error().message();
  RequestParams emptyStop = makeRequest(3, 5);
  emptyStop.stopSequences.push_back({});
  EXPECT_FALSE(s.addRequest(emptyStop).ok());

  // Rejected requests were never queued.
  EXPECT_EQ(s.numUnfinished(), 1u);
}

TEST(SchedulerTest, PrefillThenOneDecodeRowPerIteration) {
  Harness h(smallConfig());
  RequestId id = h.add(makeRequest(5, 3));
  SchedulerOutput out = h.step();
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_TRUE(out.requests[0].isPrefill);
  EXPECT_EQ(out.requests[0].numTokens, 5);
  EXPECT_EQ(out.positions, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(out.queryStarts, (std::vector<int32_t>{0, 5}));
  EXPECT_EQ(out.sampleRows, (std::vector<int32_t>{4}));
  EXPECT_EQ(out.requests[0].blockTable.size(), 2u);

  out = h.step();
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_FALSE(out.requests[0].isPrefill);
  EXPECT_EQ(out.requests[0].startPosition, 5);
  EXPECT_EQ(out.requests[0].numTokens, 1);
  EXPECT_EQ(out.tokenIds, (std::vector<TokenId>{h.outputs[id][0]}));
  h.runToCompletion();
  EXPECT_EQ(h.outputs[id], h.reference(id));
  EXPECT_EQ(h.finished[id], FinishReason::Length);
  EXPECT_EQ(h.scheduler.kvCache().numFreeBlocks(), 64);
}

// Speculative decoding: tokens accepted after the sampled one are appended with their
// events, computed by the next iteration as one chunk, and dropped past a token that ends
// the request; bad ones are refused before anything changes.
TEST(SchedulerTest, AcceptedSpeculativeTokensAreAppendedAndComputedNext) {
  SchedulerConfig config = smallConfig();
  config.vocabSize = 100;
  Scheduler s = std::move(Scheduler::create(config).value());
  RequestParams p;
  p.prompt = {1, 2, 3};
  p.maxTokens = 8;
  p.eosTokenId = 9;
  RequestId id = s.addRequest(p).value();
  SchedulerOutput out = s.schedule();
  ASSERT_EQ(s.update(out, {10}).value().size(), 1u);
  out = s.schedule(); // the decode of 10
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0].numTokens, 1);
  // Refused, changing nothing: a row count that does not match, a token outside the vocabulary.
  std::vector<std::vector<TokenId>> twoRows = {{11}, {12}}, outside = {{11, 100}};
  EXPECT_FALSE(s.update(out, {20}, &twoRows).ok());
  EXPECT_FALSE(s.update(out, {20}, &outside).ok());
  std::vector<std::vector<TokenId>> accepted = {{11, 12}};
  Expected<std::vector<TokenEvent>> events = s.update(out, {20}, &accepted);
  ASSERT_TRUE(events.ok()) << events.error().toString();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].token, 20);
  EXPECT_EQ((*events)[1].token, 11);
  EXPECT_EQ((*events)[2].token, 12);
  for (const TokenEvent &e : *events)
    EXPECT_FALSE(e.finish);
  out = s.schedule(); // 20, 11 and 12 are computed together, the last one sampled
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0].startPosition, 4);
  EXPECT_EQ(out.requests[0].numTokens, 3);
  EXPECT_EQ(out.tokenIds, (std::vector<TokenId>{20, 11, 12}));
  EXPECT_TRUE(out.requests[0].sampled);
  // The end-of-sequence token among the accepted ones ends the request there.
  accepted = {{9, 13}};
  events = s.update(out, {30}, &accepted);
  ASSERT_TRUE(events.ok()) << events.error().toString();
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].token, 9);
  EXPECT_EQ((*events)[1].finish, FinishReason::Eos);
  EXPECT_FALSE(s.hasUnfinished());
  EXPECT_EQ(s.kvCache().numFreeBlocks(), 64);
  (void)id;
}

TEST(SchedulerTest, ChunkedPrefillOfAPromptLongerThanTheTokenBudget) {
  Harness h(smallConfig());
  RequestId id = h.add(makeRequest(100, 2));
  std::vector<int32_t> chunks;
  std::vector<bool> sampled;
  for (int i = 0; i < 4; ++i) {
    SchedulerOutput out = h.step();
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].startPosition, i * 32);
    chunks.push_back(out.requests[0].numTokens);
    sampled.push_back(out.requests[0].sampled);
    // A chunk that stops short of the prompt's end samples no row.
    EXPECT_EQ(out.sampleRows.size(), out.requests[0].sampled ? 1u : 0u);
  }
  EXPECT_EQ(chunks, (std::vector<int32_t>{32, 32, 32, 4}));
  EXPECT_EQ(sampled, (std::vector<bool>{false, false, false, true}));
  EXPECT_EQ(h.outputs[id].size(), 1u);
  h.runToCompletion();
  EXPECT_EQ(h.outputs[id], h.reference(id));
}

// A prompt position is computed in a chunk of two tokens or more whatever the budget others
// leave (a device may run one-row steps through another kernel): a cut that would leave one
// token leaves two, and a budget of one token waits for a larger one.
TEST(SchedulerTest, PromptChunksNeverLeaveALoneToken) {
  Harness h(smallConfig());
  RequestId id = h.add(makeRequest(33, 2)); // 32 + 1 would leave a lone token
  std::vector<int32_t> chunks;
  for (int i = 0; i < 2; ++i)
    chunks.push_back(h.step().requests.at(0).numTokens);
  EXPECT_EQ(chunks, (std::vector<int32_t>{31, 2}));
  h.runToCompletion();
  EXPECT_EQ(h.outputs[id], h.reference(id));

  // Three decodes and a prompt whose uncomputed tail sees a budget of 29: no cut leaves 1.
  Harness d(smallConfig());
  std::vector<RequestId> decoders;
  for (int i = 0; i < 3; ++i)
    decoders.push_back(d.add(makeRequest(4, 40, 5 + i)));
  d.step();
  RequestId big = d.add(makeRequest(30, 2, 9));
  SchedulerOutput out = d.step();
  ASSERT_EQ(out.requests.size(), 4u);
  EXPECT_EQ(out.requests[3].id, big);
  EXPECT_EQ(out.requests[3].numTokens, 28); // 29 would leave one of its 30
  d.runToCompletion();
  EXPECT_EQ(d.outputs[big], d.reference(big));
}

// Where the budget left beside a full set of decodes is under 3 tokens, lone tokens are the
// only progress: the rule is off rather than starve the prompt.
TEST(SchedulerTest, TightBudgetsStillTakeLoneTokens) {
  SchedulerConfig config = smallConfig();
  config.maxNumBatchedTokens = 4; // 4 sequences: 1 token beside 3 decodes
  Harness h(config);
  std::vector<RequestId> decoders;
  for (int i = 0; i < 3; ++i)
    decoders.push_back(h.add(makeRequest(1, 30, 5 + i)));
  h.step();
  RequestId prompt = h.add(makeRequest(5, 2, 9));
  std::vector<int32_t> chunks;
  for (int i = 0; i < 5; ++i) {
    SchedulerOutput out = h.step();
    for (const ScheduledRequest &r : out.requests)
      if (r.id == prompt)
        chunks.push_back(r.numTokens);
  }
  EXPECT_EQ(chunks, (std::vector<int32_t>{1, 1, 1, 1, 1}));
  h.runToCompletion();
  EXPECT_EQ(h.outputs[prompt], h.reference(prompt));
}

TEST(SchedulerTest, DecodesKeepTheirRowsWhileAPrefillIsChunked) {
  Harness h(smallConfig());
  RequestId a = h.add(makeRequest(4, 50));
  RequestId b = h.add(makeRequest(4, 50, 7));
  h.step(); // both prefilled in one iteration
  RequestId big = h.add(makeRequest(80, 2, 3));
  SchedulerOutput out = h.step();
  ASSERT_EQ(out.requests.size(), 3u);
  EXPECT_EQ(out.requests[0].id, a);
  EXPECT_EQ(out.requests[1].id, b);
  EXPECT_EQ(out.requests[2].id, big);
  EXPECT_EQ(out.requests[2].numTokens, 30); // 32 minus the two decode rows
  EXPECT_EQ(out.numBatchedTokens(), 32);
  EXPECT_EQ(out.sampleRequestIds, (std::vector<RequestId>{a, b}));
  h.runToCompletion();
  for (RequestId id : {a, b, big})
    EXPECT_EQ(h.outputs[id], h.reference(id));
}

TEST(SchedulerTest, MaxNumSeqsLimitsTheRunningSet) {
  Harness h(smallConfig());
  for (int i = 0; i < 6; ++i)
    h.add(makeRequest(2, 5, i));
  SchedulerOutput out = h.step();
  EXPECT_EQ(out.requests.size(), 4u);
  EXPECT_EQ(h.scheduler.numRunning(), 4u);
  EXPECT_EQ(h.scheduler.waitingIds(), (std::vector<RequestId>{4, 5}));
  h.runToCompletion();
  EXPECT_EQ(h.outputs.size(), 6u);
}

TEST(SchedulerTest, FinishReasons) {
  Harness h(smallConfig());
  RequestParams base = makeRequest(3, 8);
  std::vector<TokenId> ref = referenceOutput(base, Harness::kVocab);
  ASSERT_EQ(ref.size(), 8u);

  RequestParams eos = base;
  eos.eosTokenId = ref[2];
  RequestParams ignoreEos = eos;
  ignoreEos.ignoreEos = true;
  RequestParams stopToken = base;
  stopToken.stopTokenIds = {ref[4]};
  RequestParams stopSeq = base;
  stopSeq.stopSequences = {{ref[5], ref[6]}, {ref[0], ref[0], ref[0]}};

  RequestId idEos = h.add(eos), idIgnore = h.add(ignoreEos), idStop = h.add(stopToken),
            idSeq = h.add(stopSeq);
  h.runToCompletion();
  EXPECT_EQ(h.finished[idEos], FinishReason::Eos);
  EXPECT_EQ(h.outputs[idEos].size(), 3u);
  EXPECT_EQ(h.finished[idIgnore], FinishReason::Length);
  EXPECT_EQ(h.outputs[idIgnore].size(), 8u);
  EXPECT_EQ(h.finished[idStop], FinishReason::Stop);
  EXPECT_EQ(h.outputs[idStop].size(), 5u);
  EXPECT_EQ(h.finished[idSeq], FinishReason::Stop);
  EXPECT_EQ(h.outputs[idSeq].size(), 7u);
  EXPECT_EQ(h.scheduler.kvCache().numFreeBlocks(), 64);
}

TEST(SchedulerTest, StopStringMatchedOutsideEndsTheRequest) {
  Harness h(smallConfig());
  RequestId id = h.add(makeRequest(3, 50));
  h.step();
  h.step();
  ASSERT_TRUE(h.scheduler.finish(id, FinishReason::Stop).ok());
  EXPECT_FALSE(h.scheduler.finish(id, FinishReason::Length).ok());
  SchedulerOutput out = h.step();
  ASSERT_EQ(out.finished.size(), 1u);
  EXPECT_EQ(out.finished[0].reason, FinishReason::Stop);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(h.scheduler.hasUnfinished());
  EXPECT_EQ(h.outputs[id].size(), 2u);
}

// Pool of 6 blocks of 4: A and B fit as prompts but not as they grow.
TEST(SchedulerPreemptionTest, MostRecentlyAdmittedIsPreemptedAndResumesWithTheSameOutput) {
  Harness h(smallConfig(/*numBlocks=*/6, /*blockSize=*/4));
  RequestId a = h.add(makeRequest(8, 12, 1));
  RequestId b = h.add(makeRequest(8, 12, 50));
  bool sawPreemption = false;
  while (h.scheduler.hasUnfinished()) {
    SchedulerOutput out = h.step();
    if (!out.preempted.empty()) {
      sawPreemption = true;
      EXPECT_EQ(out.preempted, (std::vector<RequestId>{b}));
      EXPECT_EQ(h.scheduler.state(b), RequestState::Preempted);
      EXPECT_FALSE(h.scheduler.kvCache().hasSeq(b));
      // A keeps running; nothing is admitted in a call that preempted.
      ASSERT_EQ(out.requests.size(), 1u);
      EXPECT_EQ(out.requests[0].id, a);
    }
  }
  EXPECT_TRUE(sawPreemption);
  // B was recomputed (prompt and its tokens so far) and finished as if never interrupted.
  EXPECT_EQ(h.outputs[a], h.reference(a));
  EXPECT_EQ(h.outputs[b], h.reference(b));
  EXPECT_EQ(h.scheduler.kvCache().numFreeBlocks(), 6);
}

TEST(SchedulerPreemptionTest, WatermarkKeepsBlocksBackFromAdmission) {
  SchedulerConfig config = smallConfig(/*numBlocks=*/8, /*blockSize=*/4);
  config.kvCache.watermarkBlocks = 3;
  Harness h(config);
  RequestId a = h.add(makeRequest(16, 4));
  RequestId b = h.add(makeRequest(8, 4));
  RequestId c = h.add(makeRequest(4, 4));
  SchedulerOutput out = h.step();
  // A takes 4 blocks. B's whole prompt (2 blocks) would leave 2 < 3 free, so it is admitted
  // with the chunk that fits above the watermark (one block); C waits behind it.
  ASSERT_EQ(out.requests.size(), 2u);
  EXPECT_EQ(out.requests[0].id, a);
  EXPECT_EQ(out.requests[1].id, b);
  EXPECT_EQ(out.requests[1].numTokens, 4);
  EXPECT_EQ(h.scheduler.kvCache().numFreeBlocks(), 3);
  EXPECT_EQ(h.scheduler.state(c), RequestState::Waiting);
  // Running requests may grow into the watermark: A's first decode and B's second chunk
  // take a block each.
  out = h.step();
  EXPECT_EQ(out.requests[1].numTokens, 4);
  EXPECT_EQ(h.scheduler.kvCache().numFreeBlocks(), 1);
  h.runToCompletion();
  for (RequestId id : {a, b, c})
    EXPECT_EQ(h.outputs[id], h.reference(id));
}

TEST(SchedulerCancelTest, WhileWaiting) {
  Harness h(smallConfig());
  for (int i = 0; i < 5; ++i)
    h.add(makeRequest(2, 30, i));
  RequestId waiting = 4;
  h.step();
  ASSERT_EQ(h.scheduler.state(waiting), RequestState::Waiting);
  ASSERT_TRUE(h.scheduler.cancel(waiting).ok());
  SchedulerOutput out = h.step();
  ASSERT_EQ(out.finished.size(), 1u);
  EXPECT_EQ(out.finished[0].id, waiting);
  EXPECT_EQ(out.finished[0].reason, FinishReason::Cancelled);
  EXPECT_FALSE(h.scheduler.state(waiting).has_value());
  EXPECT_EQ(h.scheduler.numWaiting(), 0u);
  EXPECT_FALSE(h.scheduler.cancel(waiting).ok()); // gone
  h.runToCompletion();
  EXPECT_EQ(h.outputs.count(waiting), 0u);
}

TEST(SchedulerCancelTest, WhileRunningFreesBlocksInTheNextCallAndDropsAnInFlightToken) {
  Harness h(smallConfig());
  RequestId id = h.add(makeRequest(10, 30));
  h.step();
  EXPECT_GT(h.scheduler.kvCache().numUsedBlocks(), 0);
  // Cancel between schedule() and update(): the token sampled meanwhile is dropped.
  SchedulerOutput out = h.scheduler.schedule();
  ASSERT_TRUE(h.scheduler.cancel(id).ok());
  Expected<std::vector<TokenEvent>> events =
      h.scheduler.update(out, std::vector<TokenId>(out.sampleRows.size(), 5));
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(events->empty());
  out = h.scheduler.schedule();
  EXPECT_TRUE(out.empty());
  ASSERT_EQ(out.finished.size(), 1u);
  EXPECT_EQ(out.finished[0].reason, FinishReason::Cancelled);
  EXPECT_EQ(h.scheduler.kvCache().numUsedBlocks(), 0);
  EXPECT_EQ(h.scheduler.kvCache().numSeqs(), 0u);
  ASSERT_TRUE(h.scheduler.update(out, {}).ok());
  EXPECT_FALSE(h.scheduler.hasUnfinished());
}

TEST(SchedulerCancelTest, WhilePreempted) {
  Harness h(smallConfig(/*numBlocks=*/6, /*blockSize=*/4));
  RequestId a = h.add(makeRequest(8, 12, 1));
  RequestId b = h.add(makeRequest(8, 12, 50));
  while (h.scheduler.state(b) != RequestState::Preempted) {
    ASSERT_TRUE(h.scheduler.hasUnfinished());
    h.step();
  }
  ASSERT_TRUE(h.scheduler.cancel(b).ok());
  SchedulerOutput out = h.step();
  ASSERT_EQ(out.finished.size(), 1u);
  EXPECT_EQ(out.finished[0].id, b);
  EXPECT_FALSE(h.scheduler.state(b).has_value());
  h.runToCompletion();
  EXPECT_EQ(h.outputs[a], h.reference(a));
  EXPECT_EQ(h.scheduler.kvCache().numFreeBlocks(), 6);
}

TEST(SchedulerFairnessTest, ManyShortRequestsBehindOneLongOne) {
  SchedulerConfig config = smallConfig(/*numBlocks=*/128, /*blockSize=*/4);
  config.maxNumSeqs = 8;
  config.maxSeqLen = 512;
  Harness h(config);
  RequestId longId = h.add(makeRequest(300, 40, 11));
  std::vector<RequestId> shorts;
  for (int i = 0; i < 40; ++i)
    shorts.push_back(h.add(makeRequest(3, 4, i)));
  std::map<RequestId, int> doneAt;
  int step = 0;
  while (h.scheduler.hasUnfinished() && step < 1000) {
    SchedulerOutput out = h.step();
    ++step;
    for (auto &[id, reason] : h.finished)
      doneAt.emplace(id, step);
  }
  ASSERT_FALSE(h.scheduler.hasUnfinished());
  // The long prompt goes first (FCFS) in 32-token chunks; the short ones join as soon as its
  // last chunk leaves room in the token budget, instead of waiting for it to finish.
  EXPECT_LT(doneAt[shorts[0]], doneAt[longId]);
  // Neither starves: the long one needs ceil(300/32) prefill + 39 decode iterations and
  // shares each with at most 7 short ones.
  EXPECT_LE(doneAt[longId], 60);
  for (RequestId id : shorts)
    EXPECT_EQ(h.outputs[id], h.reference(id));
  EXPECT_EQ(h.outputs[longId], h.reference(longId));
}

TEST(SchedulerPolicyTest, RequestLevelRunsEachBatchToCompletion) {
  SchedulerConfig config = smallConfig();
  config.policy = Policy::RequestLevel;
  config.maxNumSeqs = 2;
  Harness h(config);
  RequestId shortId = h.add(makeRequest(3, 2));
  RequestId longId = h.add(makeRequest(3, 10));
  RequestId late = h.add(makeRequest(3, 2));
  // The whole length is reserved at admission.
  h.step();
  EXPECT_EQ(h.scheduler.kvCache().blockTable(longId).size(), 3u); // 3 + 10 - 1 = 12 slots
  while (h.scheduler.state(longId).has_value()) {
    EXPECT_EQ(h.scheduler.state(late), RequestState::Waiting);
    h.step();
  }
  EXPECT_FALSE(h.scheduler.state(shortId).has_value());
  h.runToCompletion();
  for (RequestId id : {shortId, longId, late})
    EXPECT_EQ(h.outputs[id], h.reference(id));
}

TEST(SchedulerPolicyTest, IterationLevelAdmitsAsSoonAsASlotFrees) {
  SchedulerConfig config = smallConfig();
  config.maxNumSeqs = 2;
  Harness h(config);
  h.add(makeRequest(3, 2));
  RequestId longId = h.add(makeRequest(3, 10));
  RequestId late = h.add(makeRequest(3, 2));
  h.step();
  h.step(); // the short one finishes here
  SchedulerOutput out = h.step();
  EXPECT_EQ(h.scheduler.state(longId), RequestState::Running);
  ASSERT_EQ(out.requests.size(), 2u);
  EXPECT_EQ(out.requests[1].id, late);
}

TEST(SchedulerUpdateTest, RejectsMismatchedFeedback) {
  Harness h(smallConfig());
  h.add(makeRequest(3, 5));
  SchedulerOutput out = h.scheduler.schedule();
  ASSERT_EQ(out.sampleRows.size(), 1u);
  EXPECT_FALSE(h.scheduler.update(out, {}).ok());
  EXPECT_FALSE(h.scheduler.update(out, {-1}).ok());
  SchedulerOutput stale = out;
  stale.iteration += 1;
  Expected<std::vector<TokenEvent>> wrong = h.scheduler.update(stale, {4});
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(contains(wrong.error().message(), "pending iteration is 1"));
  // Nothing was changed by the failed calls.
  ASSERT_TRUE(h.scheduler.update(out, {4}).ok());
  EXPECT_FALSE(h.scheduler.update(out, {4}).ok()); // twice
}

} // namespace

namespace {

// Prefix caching: a repeated prompt starts after its cached blocks and gives the same
// output; when the blocks it would adopt are what keeps the pool above the watermark, it
// is admitted as if nothing were cached instead of waiting forever.
TEST(SchedulerPrefixCacheTest, RepeatedPromptStartsAfterItsCachedBlocks) {
  SchedulerConfig config = smallConfig(64, 4);
  config.kvCache.prefixCaching = true;
  Harness h(config);
  RequestId a = h.add(makeRequest(25, 3));
  h.runToCompletion();
  RequestId b = h.add(makeRequest(25, 3));
  SchedulerOutput out = h.step();
  ASSERT_EQ(out.requests.size(), 1u);
  // 5 of the 6 full blocks: the last token is computed, and never alone (a one-row step
  // may run another attention kernel than the cache-miss run's chunk did).
  EXPECT_EQ(out.requests[0].numCachedTokens, 20);
  EXPECT_EQ(out.requests[0].startPosition, 20);
  EXPECT_EQ(out.requests[0].numTokens, 5);
  h.runToCompletion();
  EXPECT_EQ(h.outputs[a], h.outputs[b]);
  EXPECT_EQ(h.outputs[b], h.reference(b));
}

TEST(SchedulerPrefixCacheTest, CachedBlocksNeverBlockAnAdmissionAtTheWatermark) {
  SchedulerConfig config = smallConfig(8, 4);
  config.kvCache.prefixCaching = true;
  config.kvCache.watermarkBlocks = 2;
  config.maxSeqLen = 30;
  Harness h(config);
  RequestId a = h.add(makeRequest(25, 1));
  h.runToCompletion();
  // Adopting a's 6 cached blocks would leave 2 free, all of them the watermark.
  RequestId b = h.add(makeRequest(25, 1));
  h.runToCompletion(200);
  EXPECT_EQ(h.outputs[b], h.outputs[a]);
  EXPECT_TRUE(h.scheduler.kvCache().checkAccounting());
}

} // namespace

// A model with recurrent state: every running request holds a state slot of its own, the
// same one from its admission to its end or preemption; a preempted request gives its slot
// back and restarts at position 0 (where its state restarts too). Prefix caching and
// accepted drafts are refused: neither can rebuild a state.
TEST(SchedulerRecurrentStateTest, EachRunningRequestKeepsItsOwnSlot) {
  SchedulerConfig config = smallConfig(/*numBlocks=*/10, /*blockSize=*/4);
  config.recurrentState = true;
  Harness h(config);
  std::vector<RequestId> ids;
  for (int i = 0; i < 7; ++i)
    ids.push_back(h.add(makeRequest(5 + i, 6 + 2 * i, 1 + 100 * i)));
  std::map<RequestId, int32_t> slotOf;
  bool sawPreemption = false;
  while (h.scheduler.hasUnfinished()) {
    SchedulerOutput out = h.step();
    std::set<int32_t> slots;
    for (RequestId p : out.preempted) {
      slotOf.erase(p);
      sawPreemption = true;
    }
    for (const ScheduledRequest &r : out.requests) {
      ASSERT_GE(r.stateSlot, 0);
      ASSERT_LT(r.stateSlot, config.maxNumSeqs);
      EXPECT_TRUE(slots.insert(r.stateSlot).second) << "slot " << r.stateSlot << " twice";
      if (r.startPosition == 0)
        slotOf[r.id] = r.stateSlot;
      else
        EXPECT_EQ(slotOf.at(r.id), r.stateSlot) << "request " << r.id << " changed slots";
    }
  }
  EXPECT_TRUE(sawPreemption);
  for (RequestId id : ids)
    EXPECT_EQ(h.outputs[id], h.reference(id));

  // Without a recurrent state there are no slots.
  Harness plain(smallConfig());
  plain.add(makeRequest(5, 2));
  EXPECT_EQ(plain.step().requests.at(0).stateSlot, -1);

  config.kvCache.prefixCaching = true;
  Expected<Scheduler> cached = Scheduler::create(config);
  ASSERT_FALSE(cached.ok());
  EXPECT_TRUE(contains(cached.error().message(), "recurrent state")) << cached.error().message();

  config.kvCache.prefixCaching = false;
  Scheduler s = std::move(Scheduler::create(config).value());
  ASSERT_TRUE(s.addRequest(makeRequest(3, 5)).ok());
  SchedulerOutput out = s.schedule();
  std::vector<std::vector<TokenId>> accepted = {{7}};
  Expected<std::vector<TokenEvent>> events = s.update(out, {4}, &accepted);
  ASSERT_FALSE(events.ok());
  EXPECT_TRUE(contains(events.error().message(), "recurrent state")) << events.error().message();
  EXPECT_TRUE(s.update(out, {4}).ok()); // nothing changed: the plain update still fits
}

// A bidirectional model's prompts run whole: a prompt that does not fit the step's budget or
// the free KV blocks waits for a later step rather than running in part; one longer than the
// budget is refused; a prefix cache is refused.
TEST(SchedulerWholePromptsTest, PromptsAreNeverCut) {
  SchedulerConfig config = smallConfig(/*numBlocks=*/8, /*blockSize=*/4);
  config.wholePrompts = true;
  Harness h(config);
  RequestId a = h.add(makeRequest(20, 1)), b = h.add(makeRequest(16, 1)),
            c = h.add(makeRequest(8, 1, 300));
  std::vector<std::vector<std::pair<RequestId, int32_t>>> steps;
  while (h.scheduler.hasUnfinished()) {
    SchedulerOutput out = h.step();
    steps.emplace_back();
    for (const ScheduledRequest &r : out.requests) {
      EXPECT_EQ(r.startPosition, 0);
      steps.back().push_back({r.id, r.numTokens});
    }
    ASSERT_LT(steps.size(), 10u);
  }
  // 20 tokens take 5 of the 8 blocks; 16 need 4 more and wait (cut, 12 would fit), and c
  // waits behind b (first come, first served); then b and c together.
  EXPECT_EQ(steps, (std::vector<std::vector<std::pair<RequestId, int32_t>>>{
                       {{a, 20}}, {{b, 16}, {c, 8}}}));
  for (RequestId id : {a, b, c})
    EXPECT_EQ(h.outputs[id], h.reference(id));

  Expected<RequestId> tooLong = h.scheduler.addRequest(makeRequest(33, 1));
  ASSERT_FALSE(tooLong.ok());
  EXPECT_TRUE(contains(tooLong.error().message(), "exceeds max-num-batched-tokens 32"))
      << tooLong.error().message();

  config.kvCache.prefixCaching = true;
  Expected<Scheduler> cached = Scheduler::create(config);
  ASSERT_FALSE(cached.ok());
  EXPECT_TRUE(contains(cached.error().message(), "bidirectional")) << cached.error().message();

  // With a watermark a whole prompt must fit the blocks admission may take (else it would
  // wait forever, and everything behind it).
  config.kvCache.prefixCaching = false;
  config.kvCache.watermarkBlocks = 2;
  Scheduler marked = std::move(Scheduler::create(config).value());
  Expected<RequestId> over = marked.addRequest(makeRequest(28, 1));
  ASSERT_FALSE(over.ok());
  EXPECT_TRUE(contains(over.error().message(), "the pool admits at most 6")) << over.error().message();
  EXPECT_TRUE(marked.addRequest(makeRequest(24, 1)).ok());
}
