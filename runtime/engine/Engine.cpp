#include "runtime/engine/Engine.h"

namespace modelrt::engine {

Expected<std::unique_ptr<Engine>> Engine::create(CpuExecutor &executor, sched::Policy policy) {
  const plan::PlanMetadata &m = executor.metadata();
  sched::SchedulerConfig config;
  config.policy = policy;
  config.maxNumSeqs = static_cast<int32_t>(m.maxNumSeqs);
  config.maxNumBatchedTokens = static_cast<int32_t>(m.maxNumBatchedTokens);
  config.maxSeqLen = static_cast<int32_t>(m.maxSeqLen);
  config.vocabSize = static_cast<int32_t>(m.vocabSize);
  // The executor keeps a contiguous cache per sequence; the block pool accounts for every
  // sequence reaching max_seq_len (the paged device cache replaces this).
  config.kvCache.blockSize = 16;
  config.kvCache.numBlocks = static_cast<int32_t>(m.maxNumSeqs * ((m.maxSeqLen + 15) / 16));
  Expected<sched::Scheduler> scheduler = sched::Scheduler::create(config);
  if (!scheduler)
    return scheduler.error();
  return std::unique_ptr<Engine>(new Engine(executor, std::move(*scheduler)));
}

Expected<sched::RequestId> Engine::addRequest(sched::RequestParams params,
                                              const sample::SamplingParams &sampling,
                                              int topLogprobs) {
  if (Status s = sample::validate(sampling); !s)
    return s.error();
  Expected<sched::RequestId> id = scheduler_.addRequest(std::move(params));
  if (id)
    samplers_.emplace(*id, RequestSampling{sample::Sampler(sampling), topLogprobs});
  return id;
}

void Engine::forget(sched::RequestId id) {
  executor_.release(id);
  samplers_.erase(id);
}

Expected<std::vector<sched::TokenEvent>> Engine::step() {
  lastLogprobs_.clear();
  sched::SchedulerOutput out = scheduler_.schedule();
  for (sched::RequestId id : out.preempted)
    executor_.release(id); // recomputed from its first token when readmitted
  for (const sched::FinishedRequest &f : out.finished)
    forget(f.id);
  if (out.empty())
    return scheduler_.update(out, {});

  std::vector<SequenceChunk> chunks;
  for (const sched::ScheduledRequest &r : out.requests) {
    if (executor_.cachedTokens(r.id) != r.startPosition)
      return Error(ErrorCode::Internal, "request " + std::to_string(r.id) + " starts at " +
                                            std::to_string(r.startPosition) + " but " +
                                            std::to_string(executor_.cachedTokens(r.id)) +
                                            " tokens are cached");
    chunks.push_back({r.id, r.numTokens, r.sampled});
  }
  Expected<std::vector<float>> logits = executor_.step(out.tokenIds, chunks);
  if (!logits)
    return logits.error();
  const int64_t vocab = executor_.metadata().vocabSize;
  std::vector<sched::TokenId> sampled;
  for (size_t i = 0; i < out.sampleRequestIds.size(); ++i) {
    RequestSampling &r = samplers_.at(out.sampleRequestIds[i]);
    const float *row = logits->data() + i * vocab;
    sampled.push_back(r.sampler.next(row, vocab));
    if (r.topLogprobs >= 0)
      lastLogprobs_[out.sampleRequestIds[i]] =
          sample::logprobs(row, vocab, sampled.back(), r.topLogprobs);
  }
  Expected<std::vector<sched::TokenEvent>> events = scheduler_.update(out, sampled);
  if (events)
    for (const sched::TokenEvent &e : *events)
      if (e.finish)
        forget(e.id);
  return events;
}

} // namespace modelrt::engine
