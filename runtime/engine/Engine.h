// ORCA's serving loop on one executor: each step asks the iteration-level scheduler what
// runs now, runs those rows as one flattened batch, samples each request's token and hands
// the tokens back. Requests join and leave between steps.
#pragma once

#include "runtime/engine/CpuExecutor.h"
#include "runtime/sample/Sampler.h"
#include "runtime/sched/Scheduler.h"

#include <deque>
#include <map>
#include <memory>
#include <optional>

namespace modelrt::engine {

class Engine {
public:
  // Measured on the CPU (docs/benchmarks.md, speculative decoding): drafts made batch 1
  // 1.4-1.6x faster and batch 4 6%, and batches of 8 and 16 slower.
  static constexpr size_t kSpeculativeMaxBatch = 4;

  // `executor` outlives the engine. The scheduler's limits come from the plan. With
  // prefixCaching (iteration-level only), a request whose prompt starts with blocks of
  // tokens whose KV is still in the cache takes it instead of computing it again; the
  // executor's output does not depend on the batch, so the KV and every logit are the same.
  //
  // speculativeTokens > 0: speculative decoding by prompt lookup (vLLM's "ngram" method)
  // for greedy requests without logprobs (a step with drafts samples the request on the
  // host, others may on the device): a decode step also runs up to that many draft tokens
  // (what followed the latest earlier occurrence of the request's last 1..3 tokens), in KV
  // slots its last block already has; every draft the greedy choice confirms, and the
  // token after the last one, comes out of that one step. The tokens are those decoding one at a
  // time gives. Only steps that sample at most kSpeculativeMaxBatch requests speculate.
  //
  // A plan with recurrent state gets a state slot per running request from the scheduler,
  // serves without the prefix cache (prefixCaching is ignored), and refuses speculation.
  // Whether an engine asked for the prefix cache uses it with this plan (not with recurrent
  // state), and whether it can speculate with it: the server asks before it starts one.
  static bool usesPrefixCache(const plan::PlanMetadata &meta, bool requested) {
    return requested && !meta.hasRecurrentState() && !meta.bidirectional;
  }
  static Status checkSpeculation(const plan::PlanMetadata &meta, int speculativeTokens);

  static Expected<std::unique_ptr<Engine>> create(Executor &executor, sched::Policy policy,
                                                  bool prefixCaching = false,
                                                  int speculativeTokens = 0);

  // `topLogprobs` >= 0 asks for log-probabilities of each token (and that many of the most
  // likely ones); -1 for none.
  Expected<sched::RequestId> addRequest(sched::RequestParams params,
                                        const sample::SamplingParams &sampling,
                                        int topLogprobs = -1);
  // One iteration; the events of the tokens it produced (empty when nothing could run).
  // With pipeline stages, iterations are scheduled until one per stage is in flight, and
  // the oldest one's tokens come back.
  Expected<std::vector<sched::TokenEvent>> step();
  // An embedding plan's request (metadata().pooling; addRequest refuses such plans, and this
  // the others): the prompt's final hidden states pooled into one vector, of its first
  // `dimensions` features (0: all; vLLM's matryoshka "dimensions": truncated, then
  // normalized if the plan normalizes). It finishes at the step that computes its last prompt
  // token, and that step's lastEmbeddings() holds the vector. Rows are pooled in position
  // order, so the vector does not depend on the batch or on how the prompt was chunked.
  // `tokenTypes`: each prompt token's type (segment), where the plan's program takes them
  // (PlanMetadata's classifier tokenTypes); empty: all 0.
  Expected<sched::RequestId> addEmbeddingRequest(std::vector<int32_t> prompt,
                                                 int64_t dimensions = 0, int32_t adapter = 0,
                                                 std::vector<int32_t> tokenTypes = {});
  const std::map<sched::RequestId, std::vector<float>> &lastEmbeddings() const {
    return lastEmbeddings_;
  }
  // Ends a request in any state; its resources go at the next step.
  Status cancel(sched::RequestId id) { return scheduler_.cancel(id); }
  bool hasUnfinished() const { return scheduler_.hasUnfinished(); }
  // Requests not yet finished (nor forgotten after a cancel) that run LoRA adapter `adapter`:
  // an adapter is unloaded only when none do.
  int64_t requestsWithAdapter(int32_t adapter) const;
  // Log-probabilities of the last step()'s tokens, for the requests that asked (a request
  // gets at most one token per step).
  const std::map<sched::RequestId, sample::TokenLogprobs> &lastLogprobs() const {
    return lastLogprobs_;
  }
  // For requests with params.promptLogprobs whose first token came in the last step(): the
  // log-probability of each prompt token given the ones before it, entry p for prompt
  // token p (entry 0, which nothing predicts, is empty), with `topLogprobs` alternatives.
  const std::map<sched::RequestId, std::vector<sample::TokenLogprobs>> &lastPromptLogprobs() const {
    return lastPromptLogprobs_;
  }
  const sched::Scheduler &scheduler() const { return scheduler_; }
  // Speculative decoding so far: draft tokens run, and those the greedy choice confirmed.
  int64_t draftTokens() const { return draftTokens_; }
  int64_t acceptedDraftTokens() const { return acceptedDraftTokens_; }

  // Waits for (and drops) the iterations still in flight in the pipeline, so that the
  // executor's next collect() belongs to whoever steps it next.
  ~Engine();

private:
  Engine(Executor &executor, sched::Scheduler scheduler, int speculativeTokens)
      : executor_(executor), scheduler_(std::move(scheduler)),
        speculativeTokens_(speculativeTokens) {}
  void forget(sched::RequestId id);
  // A request's adapter slot is 0 or a loaded adapter's.
  Status checkAdapter(int32_t adapter) const;

  Executor &executor_;
  sched::Scheduler scheduler_;
  struct RequestSampling {
    sample::Sampler sampler;
    int topLogprobs;
    std::vector<int32_t> prompt; // only when the prompt is scored
    std::vector<sample::TokenLogprobs> promptLogprobs;
    std::vector<bool> scored; // a recompute after a preemption scores nothing twice
    bool delivered = false;
    // Sampled by the executor (its device) rather than by `sampler`: where the executor can
    // and the request changes no logits (bias, penalties, constraints are the host's).
    bool onDevice = false;
    DeviceSampling device;
    uint64_t draws = 0; // tokens sampled so far: the device draw's step
    // Speculative decoding (greedy, no logprobs): prompt and tokens so far. A step with
    // drafts samples on the host.
    bool speculate = false;
    std::vector<int32_t> history;
    int64_t maxTokens = 0;
    int32_t adapter = 0; // its LoRA adapter
    // Embedding requests: the rows pooled so far (positions 0..pooledRows-1: were the
    // request recomputed after a preemption, nothing would be pooled twice), their sum
    // (mean) or the first one (cls).
    bool embed = false;
    int64_t promptLength = 0; // its last row, position promptLength - 1, is sampled
    std::vector<int32_t> tokenTypes; // of its prompt (PagedChunk::tokenTypes); empty: all 0
    int64_t dimensions = 0;
    int64_t pooledRows = 0;
    std::vector<double> pooled;
    int32_t promptTop = -1; // a scored prompt's RequestParams::promptTopLogprobs
  };
  // Pools the output row of `position` into an embedding request's state.
  void pool(RequestSampling &s, int64_t position, const float *row);
  std::vector<float> finishEmbedding(const RequestSampling &s, const float *lastRow) const;
  std::map<sched::RequestId, std::vector<float>> lastEmbeddings_;
  std::map<sched::RequestId, RequestSampling> samplers_;
  std::map<sched::RequestId, sample::TokenLogprobs> lastLogprobs_;
  struct InFlight {
    sched::SchedulerOutput out;
    std::vector<DeviceSampling> sampling;     // what the chunks' deviceSampling point to
    std::vector<std::vector<int32_t>> drafts; // per scheduled request: its draft tokens
    std::vector<bool> onDevice;               // per scheduled request: sampled on the device
  };
  int speculativeTokens_ = 0;
  int64_t draftTokens_ = 0, acceptedDraftTokens_ = 0;
  std::deque<InFlight> inFlight_; // submitted to the executor, oldest first
  std::map<sched::RequestId, std::vector<sample::TokenLogprobs>> lastPromptLogprobs_;
};

// Prompt lookup: the (at most k) tokens that followed the latest earlier occurrence of the
// history's last n tokens, for n from nMax down to nMin; none where there is no match.
std::vector<int32_t> proposeNgramDrafts(const std::vector<int32_t> &history, int k, int nMax = 3,
                                        int nMin = 1);

} // namespace modelrt::engine
