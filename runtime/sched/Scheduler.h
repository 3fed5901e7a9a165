// The iteration-level scheduler (ORCA): once per iteration, schedule() picks what the engine
// runs; the engine runs it, samples, and hands the tokens to update(). Pure decisions: no
// device calls, no threads, no model knowledge, so a fake engine can drive it in tests.
//
//   Scheduler s = *Scheduler::create(config);
//   Expected<RequestId> id = s.addRequest(params);   // rejected when it can never fit
//   while (s.hasUnfinished()) {
//     SchedulerOutput out = s.schedule();
//     std::vector<TokenId> sampled = engine.run(out);   // one token per out.sampleRows
//     Expected<std::vector<TokenEvent>> events = s.update(out, sampled);
//   }
#pragma once

#include "runtime/kv/KvCacheManager.h"
#include "runtime/sched/Request.h"
#include "runtime/sched/SchedulerOutput.h"
#include "runtime/support/Error.h"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace modelrt::sched {

enum class Policy {
  // ORCA: every iteration keeps the running requests and admits waiting ones; a finished
  // request leaves at once.
  IterationLevel,
  // ORCA's baseline: a batch is admitted when nothing runs, reserves the KV for each
  // request's whole length, and runs until every request in it has finished.
  RequestLevel,
};

const char *policyName(Policy policy);
// "iteration-level" or "request-level".
Expected<Policy> parsePolicy(const std::string &name);

// The limits come from the plan at run time.
struct SchedulerConfig {
  Policy policy = Policy::IterationLevel;
  int32_t maxNumSeqs = 256;
  int32_t maxNumBatchedTokens = 2048;
  // Prompt plus generated tokens of one request.
  int32_t maxSeqLen = 2048;
  kv::KvCacheConfig kvCache;
  // Token ids must be below this (0: not checked).
  int32_t vocabSize = 0;
  // The model keeps recurrent state per request (PlanMetadata::hasRecurrentState): every
  // running request holds one of maxNumSeqs state slots (ScheduledRequest::stateSlot) from
  // its admission until it finishes or is preempted. Its state is a function of all its
  // tokens, so nothing may come from a prefix cache (kvCache.prefixCaching must be off).
  bool recurrentState = false;
  // Every prompt runs in one iteration, whole (a bidirectional model's: each position's
  // state depends on the positions after it, so a prompt can be neither chunked nor taken
  // from a prefix cache). A prompt over maxNumBatchedTokens is rejected; kvCache.prefixCaching
  // must be off.
  bool wholePrompts = false;
  // Iterations that may be scheduled before the oldest is updated: ORCA keeps one per
  // pipeline stage in flight. A request is in at most one of them; it is scheduled again
  // (or preempted, or removed when ended from outside) only after that one's update().
  int32_t maxInFlight = 1;
};

Status validateSchedulerConfig(const SchedulerConfig &config);

class Scheduler {
public:
  static Expected<Scheduler> create(const SchedulerConfig &config);

  // Queues a request. A request that can never run (empty prompt, bad token id, prompt +
  // maxTokens over maxSeqLen, or more KV blocks than the pool holds) is rejected here with
  // the reason, never queued.
  Expected<RequestId> addRequest(RequestParams params);

  // Ends a request in any state. It is removed, and its blocks freed, by the next
  // schedule(), which lists it in `finished`; a token sampled for it meanwhile is dropped.
  // reason is Cancelled, or Stop for a stop string matched outside.
  Status finish(RequestId id, FinishReason reason);
  Status cancel(RequestId id) { return finish(id, FinishReason::Cancelled); }

  // Decides the next iteration, from the requests that are in no iteration in flight. At
  // most config.maxInFlight iterations may await their update().
  SchedulerOutput schedule();
  size_t numInFlight() const { return pendingIterations_.size(); }
  // Takes the tokens sampled for output.sampleRows (same order) and returns, per token,
  // the event for its request; requests that finish here are removed and their blocks
  // freed. Fails, changing nothing, on a token count or token id that does not fit.
  //
  // `accepted` (speculative decoding), when given, holds per sampled row the tokens accepted
  // after the sampled one, in order: they are appended too (each with its event; the rest
  // are dropped once one finishes the request), and computed by the next iteration like a
  // prompt chunk.
  Expected<std::vector<TokenEvent>>
  update(const SchedulerOutput &output, const std::vector<TokenId> &sampledTokens,
         const std::vector<std::vector<TokenId>> *accepted = nullptr);

  bool hasUnfinished() const { return !requests_.empty(); }
  size_t numWaiting() const { return waiting_.size(); }
  size_t numRunning() const { return running_.size(); }
  size_t numUnfinished() const { return requests_.size(); }
  // nullopt once the request has finished (or was never added).
  std::optional<RequestState> state(RequestId id) const;
  // Times the request lost its KV blocks to an older one; 0 for an unknown id.
  int32_t numPreemptions(RequestId id) const;
  // Prompt tokens its first admission took from the prefix cache; 0 for an unknown id.
  int32_t numCachedTokens(RequestId id) const;
  // Ids in queue order (waiting and preempted), and in admission order (running).
  std::vector<RequestId> waitingIds() const;
  std::vector<RequestId> runningIds() const;

  const SchedulerConfig &config() const { return config_; }
  const kv::KvCacheManager &kvCache() const { return kv_; }

  Scheduler(Scheduler &&) = default;
  Scheduler &operator=(Scheduler &&) = default;

private:
  struct Request {
    RequestId id;
    RequestParams params;
    // Prompt followed by the generated tokens.
    std::vector<TokenId> tokens;
    // Tokens whose KV is in the cache.
    int32_t numComputed = 0;
    RequestState state = RequestState::Waiting;
    // Asked for from outside; carried out by the next schedule().
    std::optional<FinishReason> pendingFinish;
    // Finished in update(); removed before update() returns.
    bool finished = false;
    int32_t numPreemptions = 0;
    // Prompt tokens the first admission took from the prefix cache; and the tokens the last
    // admission took (prompt and generated), until the next emit() reports them.
    int32_t numCachedTokens = 0;
    int32_t pendingCachedTokens = 0;
    // The iteration it is in, until that iteration's update() (0: none).
    uint64_t inFlight = 0;
    // Its recurrent-state slot while running (-1: none).
    int32_t stateSlot = -1;

    int32_t numPrompt() const { return static_cast<int32_t>(params.prompt.size()); }
    int32_t numOutput() const { return static_cast<int32_t>(tokens.size()) - numPrompt(); }
    // Tokens known but not yet in the KV cache.
    int32_t numUncomputed() const { return static_cast<int32_t>(tokens.size()) - numComputed; }
  };

  Scheduler(const SchedulerConfig &config, kv::KvCacheManager kv)
      : config_(config), kv_(std::move(kv)) {
    if (config.recurrentState)
      for (int32_t s = config.maxNumSeqs - 1; s >= 0; --s)
        freeStateSlots_.push_back(s);
  }

  Status validateRequest(const RequestParams &params) const;
  void removeFinishedFromOutside(SchedulerOutput &out);
  void scheduleRunning(SchedulerOutput &out, int32_t &prefillBudget);
  void admitWaiting(SchedulerOutput &out, int32_t &prefillBudget);
  bool admitOne(Request &req, SchedulerOutput &out, int32_t &prefillBudget);
  void preempt(size_t runningIndex, SchedulerOutput &out);
  void enqueueWaiting(Request *req);
  void emit(Request &req, int32_t numTokens, SchedulerOutput &out);
  // The prefill budget the first prefill of a step is sure of: max-num-batched-tokens less a
  // decode row for each other sequence.
  int32_t leastPrefillBudget() const;
  // The tokens of req's next prefill chunk within `budget` (0: wait), and of those `fit`
  // that the KV pool can take (config.wholePrompts: all of them or none).
  int32_t chunkFor(const Request &req, int32_t budget) const;
  int64_t chunkThatFits(const Request &req, int32_t wanted, int64_t fit) const;
  std::optional<FinishReason> finishReasonAfter(const Request &req) const;
  void release(Request &req);

  SchedulerConfig config_;
  kv::KvCacheManager kv_;
  RequestId nextId_ = 0;
  uint64_t iteration_ = 0;
  // The iterations handed out by schedule() and not yet given to update(), oldest first.
  std::vector<uint64_t> pendingIterations_;
  std::unordered_map<RequestId, std::unique_ptr<Request>> requests_;
  // Sorted by id (arrival order), which makes admission FCFS.
  std::deque<Request *> waiting_;
  // In admission order: the back is the most recently admitted, preempted first.
  std::vector<Request *> running_;
  std::vector<RequestId> finishRequested_;
  std::vector<int32_t> freeStateSlots_; // lowest last
};

} // namespace modelrt::sched
