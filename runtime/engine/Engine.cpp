#include "runtime/engine/Engine.h"

#include <algorithm>
#include <utility>

namespace modelrt::engine {

Expected<std::unique_ptr<Engine>> Engine::create(Executor &executor, sched::Policy policy,
                                                 bool prefixCaching) {
  const plan::PlanMetadata &m = executor.metadata();
  sched::SchedulerConfig config;
  config.policy = policy;
  config.maxNumSeqs = static_cast<int32_t>(m.maxNumSeqs);
  config.maxNumBatchedTokens = static_cast<int32_t>(m.maxNumBatchedTokens);
  config.maxSeqLen = static_cast<int32_t>(m.maxSeqLen);
  config.vocabSize = static_cast<int32_t>(m.vocabSize);
  // The scheduler hands out the executor's KV blocks.
  config.kvCache.blockSize = executor.kvBlockSize();
  config.kvCache.numBlocks = executor.numKvBlocks();
  config.kvCache.prefixCaching = prefixCaching && policy == sched::Policy::IterationLevel;
  // ORCA: one iteration in flight per pipeline stage.
  config.maxInFlight = executor.pipelineDepth();
  Expected<sched::Scheduler> scheduler = sched::Scheduler::create(config);
  if (!scheduler)
    return scheduler.error();
  return std::unique_ptr<Engine>(new Engine(executor, std::move(*scheduler)));
}

Expected<sched::RequestId> Engine::addRequest(sched::RequestParams params,
                                              const sample::SamplingParams &sampling,
                                              int topLogprobs) {
  if (Status s = sample::validate(sampling, executor_.metadata().vocabSize); !s)
    return s.error();
  sample::Sampler sampler(sampling, params.prompt);
  RequestSampling state{std::move(sampler), topLogprobs, {}, {}, {}, false};
  if (params.promptLogprobs) {
    state.prompt = params.prompt;
    state.promptLogprobs.resize(params.prompt.size());
    state.scored.assign(params.prompt.size(), false);
  }
  Expected<sched::RequestId> id = scheduler_.addRequest(std::move(params));
  if (id)
    samplers_.emplace(*id, std::move(state));
  return id;
}

void Engine::forget(sched::RequestId id) { samplers_.erase(id); }

Engine::~Engine() {
  for (; !inFlight_.empty(); inFlight_.pop_front())
    (void)executor_.collect();
}

Expected<std::vector<sched::TokenEvent>> Engine::step() {
  lastLogprobs_.clear();
  lastPromptLogprobs_.clear();
  // Keep every pipeline stage busy: iterations go out until one per stage is in flight (a
  // request is in at most one); then the oldest comes back and is sampled.
  std::vector<sched::TokenEvent> events;
  while (scheduler_.numInFlight() < size_t(executor_.pipelineDepth())) {
    sched::SchedulerOutput out = scheduler_.schedule();
    for (const sched::FinishedRequest &f : out.finished)
      forget(f.id);
    if (out.empty()) { // nothing more can run now
      Expected<std::vector<sched::TokenEvent>> none = scheduler_.update(out, {});
      if (!none)
        return none.error();
      events.insert(events.end(), none->begin(), none->end());
      break;
    }
    std::vector<PagedChunk> chunks;
    for (const sched::ScheduledRequest &r : out.requests)
      chunks.push_back({r.startPosition, r.numTokens, r.sampled, &r.blockTable, r.allLogits});
    if (Status submitted = executor_.submit(out.tokenIds, chunks, out.blockCopies); !submitted)
      return submitted.error();
    inFlight_.push_back(std::move(out));
  }
  if (inFlight_.empty())
    return events;
  Expected<std::vector<float>> logits = executor_.collect();
  sched::SchedulerOutput out = std::move(inFlight_.front());
  inFlight_.pop_front();
  if (!logits)
    return logits.error();
  const int64_t vocab = executor_.metadata().vocabSize;
  // The logits rows: every row of an allLogits chunk (prompt tokens scored here), the last
  // row of the other sampled ones; the rows sampled, in sampleRequestIds' order.
  std::vector<const float *> sampleRow;
  const float *at = logits->data();
  for (const sched::ScheduledRequest &r : out.requests) {
    if (r.allLogits) {
      RequestSampling &s = samplers_.at(r.id);
      for (int32_t k = 0; k < r.numTokens; ++k) {
        const size_t next = static_cast<size_t>(r.startPosition) + k + 1;
        if (next < s.prompt.size() && !s.scored[next]) {
          s.promptLogprobs[next] = sample::logprobs(at + int64_t(k) * vocab, vocab, s.prompt[next],
                                                    std::max(s.topLogprobs, 0));
          s.scored[next] = true;
        }
      }
      at += int64_t(r.numTokens) * vocab;
      if (r.sampled)
        sampleRow.push_back(at - vocab);
    } else if (r.sampled) {
      sampleRow.push_back(at);
      at += vocab;
    }
  }
  std::vector<sched::TokenId> sampled;
  for (size_t i = 0; i < out.sampleRequestIds.size(); ++i) {
    RequestSampling &r = samplers_.at(out.sampleRequestIds[i]);
    const float *row = sampleRow[i];
    if (!r.prompt.empty() && !std::exchange(r.delivered, true))
      lastPromptLogprobs_[out.sampleRequestIds[i]] = r.promptLogprobs;
    sampled.push_back(r.sampler.next(row, vocab));
    r.sampler.accept(sampled.back());
    if (r.topLogprobs >= 0)
      lastLogprobs_[out.sampleRequestIds[i]] =
          sample::logprobs(row, vocab, sampled.back(), r.topLogprobs);
  }
  Expected<std::vector<sched::TokenEvent>> sampledEvents = scheduler_.update(out, sampled);
  if (!sampledEvents)
    return sampledEvents.error();
  for (const sched::TokenEvent &e : *sampledEvents)
    if (e.finish)
      forget(e.id);
  events.insert(events.end(), sampledEvents->begin(), sampledEvents->end());
  return events;
}

} // namespace modelrt::engine
