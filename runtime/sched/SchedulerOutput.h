// One iteration's decisions: what the engine runs, in the layout selective batching wants
// (all requests' rows flattened into one [T] batch; attention per request over its own
// block table), and which rows it samples.
#pragma once

#include "runtime/kv/KvCacheManager.h"
#include "runtime/sched/Request.h"

#include <cstdint>
#include <vector>

namespace modelrt::sched {

struct ScheduledRequest {
  RequestId id;
  // Position of the first row computed now; equals the tokens already in the KV cache.
  int32_t startPosition;
  // Rows computed now: 1 for a decode, up to a chunk for a prefill (or a recompute).
  int32_t numTokens;
  // Computes prompt tokens (or recomputes after preemption) rather than one new token.
  bool isPrefill;
  // These rows reach the end of the request's known tokens, so the last row's logits are
  // sampled. A prefill chunk that stops short of the prompt's end samples nothing.
  bool sampled;
  // Covers at least startPosition + numTokens token slots.
  std::vector<kv::BlockId> blockTable;
  // On the first rows after an admission: the tokens before startPosition whose KV came
  // from the prefix cache (0 otherwise).
  int32_t numCachedTokens = 0;
  // The request scores its prompt and these rows include prompt positions: the engine
  // wants every row's logits.
  bool allLogits = false;
  // Its recurrent-state slot (SchedulerConfig::recurrentState; -1 otherwise).
  int32_t stateSlot = -1;
  // Its LoRA adapter (RequestParams::adapter).
  int32_t adapter = 0;
};

struct FinishedRequest {
  RequestId id;
  FinishReason reason;
};

struct SchedulerOutput {
  uint64_t iteration = 0;
  std::vector<ScheduledRequest> requests;
  // One entry per row, request after request in `requests` order.
  std::vector<TokenId> tokenIds;
  std::vector<int32_t> positions;
  // requests.size() + 1 offsets into the rows: request i owns [queryStarts[i], queryStarts[i+1]).
  std::vector<int32_t> queryStarts;
  // The row whose logits are sampled, one per request with `sampled`, in `requests` order;
  // Scheduler::update takes the sampled tokens in this order.
  std::vector<int32_t> sampleRows;
  std::vector<RequestId> sampleRequestIds;
  // Copy-on-write copies to make before running the iteration.
  std::vector<kv::BlockCopy> blockCopies;
  // Requests whose KV blocks were taken in this call; they are recomputed later.
  std::vector<RequestId> preempted;
  // Requests that ended in this call (cancelled, or stopped from outside); blocks freed.
  std::vector<FinishedRequest> finished;

  int32_t numBatchedTokens() const { return static_cast<int32_t>(tokenIds.size()); }
  bool empty() const { return requests.empty(); }
};

// One sampled token, as Scheduler::update hands it back: appended to the request's output,
// and when it ends the request, why.
struct TokenEvent {
  RequestId id;
  TokenId token;
  std::optional<FinishReason> finish;
  // Prompt tokens the request's first admission took from the prefix cache (usage's
  // cached_tokens).
  int32_t numCachedTokens = 0;
};

} // namespace modelrt::sched
