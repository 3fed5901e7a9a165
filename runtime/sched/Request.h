// What a caller asks of the scheduler for one request, and the states a request moves
// through: waiting -> running -> finished, and running -> preempted -> running.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace modelrt::sched {

// Assigned by the scheduler in arrival order, so a smaller id arrived earlier.
using RequestId = uint64_t;
using TokenId = int32_t;

struct RequestParams {
  std::vector<TokenId> prompt;
  // Each prompt token's type (segment), for plans whose program takes them (a pair: the
  // query's 0, the document's 1); empty: all 0. The scheduler does not read it.
  std::vector<int32_t> tokenTypes;
  // The engine also scores the prompt (log-probabilities of prompt tokens 1..n-1): its KV is
  // computed, never taken from the prefix cache, with every row's logits.
  bool promptLogprobs = false;
  // How many of the most likely tokens each prompt token's entry lists (vLLM's
  // prompt_logprobs); -1: as many as the request's top logprobs.
  int32_t promptTopLogprobs = -1;
  // Generated tokens at most; the request finishes with FinishReason::Length there.
  int32_t maxTokens = 16;
  // An embedding request (Engine::addEmbeddingRequest): its one token is a placeholder that
  // ends it and never runs, so the prompt alone may fill max_seq_len.
  bool poolsPrompt = false;
  // Generating eosTokenId ends the request (FinishReason::Eos) unless ignoreEos.
  std::optional<TokenId> eosTokenId;
  bool ignoreEos = false;
  // Generating any of these ends the request (FinishReason::Stop).
  std::vector<TokenId> stopTokenIds;
  // Generated tokens ending with one of these sequences end the request (FinishReason::Stop).
  // Stop strings are text: whoever detokenizes matches them and calls Scheduler::finish.
  std::vector<std::vector<TokenId>> stopSequences;
  // The LoRA adapter the request runs with (PagedChunk::adapter: 0 none). Its KV is its
  // own: the prefix cache shares blocks only between requests of one adapter.
  int32_t adapter = 0;
};

enum class RequestState {
  Waiting,   // queued, never admitted
  Running,   // admitted: holds KV blocks, scheduled in iterations
  Preempted, // lost its KV blocks to an older request; queued to be recomputed
};

enum class FinishReason {
  Eos,       // generated the end-of-sequence token
  Length,    // generated maxTokens tokens
  Stop,      // a stop token, stop sequence or stop string
  Cancelled, // the client went away or asked to cancel
};

const char *requestStateName(RequestState state);
const char *finishReasonName(FinishReason reason);

} // namespace modelrt::sched
