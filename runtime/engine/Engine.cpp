#include "runtime/engine/Engine.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace modelrt::engine {

std::vector<int32_t> proposeNgramDrafts(const std::vector<int32_t> &history, int k, int nMax,
                                        int nMin) {
  const int64_t size = static_cast<int64_t>(history.size());
  if (k <= 0)
    return {};
  for (int64_t n = std::min<int64_t>(nMax, size - 1); n >= nMin && n >= 1; --n) {
    const int32_t *tail = history.data() + size - n;
    // The latest occurrence that has a token after it, other than the tail itself.
    for (int64_t i = size - n - 1; i >= 0; --i)
      if (std::equal(tail, tail + n, history.data() + i)) {
        const int64_t from = i + n, to = std::min<int64_t>(size, from + k);
        return std::vector<int32_t>(history.begin() + from, history.begin() + to);
      }
  }
  return {};
}

Status Engine::checkSpeculation(const plan::PlanMetadata &meta, int speculativeTokens) {
  if (meta.hasRecurrentState() && speculativeTokens > 0)
    return Error(ErrorCode::Unsupported,
                 "speculative decoding needs a model without recurrent state (its rejected "
                 "drafts would stay in the state); this plan keeps " +
                     std::to_string(meta.numRecurrentStates) + " recurrent states");
  return Status::success();
}

Expected<std::unique_ptr<Engine>> Engine::create(Executor &executor, sched::Policy policy,
                                                 bool prefixCaching, int speculativeTokens) {
  if (speculativeTokens < 0 || speculativeTokens > 16)
    return Error(ErrorCode::InvalidArgument,
                 "speculative tokens must be in [0, 16], got " + std::to_string(speculativeTokens));
  const plan::PlanMetadata &m = executor.metadata();
  if (Status s = checkSpeculation(m, speculativeTokens); !s)
    return s.error();
  sched::SchedulerConfig config;
  config.policy = policy;
  config.maxNumSeqs = static_cast<int32_t>(m.maxNumSeqs);
  config.maxNumBatchedTokens = static_cast<int32_t>(m.maxNumBatchedTokens);
  config.maxSeqLen = static_cast<int32_t>(m.maxSeqLen);
  config.vocabSize = static_cast<int32_t>(m.vocabSize);
  // The scheduler hands out the executor's KV blocks.
  config.kvCache.blockSize = executor.kvBlockSize();
  config.kvCache.numBlocks = executor.numKvBlocks();
  // A request's recurrent state cannot come from cached blocks: no prefix caching then.
  config.recurrentState = m.hasRecurrentState();
  // Nor for a bidirectional model, whose prompts also run whole, never chunked.
  config.wholePrompts = m.bidirectional;
  config.kvCache.prefixCaching =
      usesPrefixCache(m, prefixCaching) && policy == sched::Policy::IterationLevel;
  // ORCA: one iteration in flight per pipeline stage.
  config.maxInFlight = executor.pipelineDepth();
  Expected<sched::Scheduler> scheduler = sched::Scheduler::create(config);
  if (!scheduler)
    return scheduler.error();
  return std::unique_ptr<Engine>(new Engine(executor, std::move(*scheduler), speculativeTokens));
}

Status Engine::checkAdapter(int32_t adapter) const {
  const std::vector<std::string> names = executor_.adapterNames();
  if (adapter < 0 || static_cast<size_t>(adapter) > names.size() ||
      (adapter > 0 && names[size_t(adapter - 1)].empty()))
    return Error(ErrorCode::InvalidArgument,
                 "LoRA adapter " + std::to_string(adapter) + " is not loaded (0 is none)");
  return Status::success();
}

Expected<sched::RequestId> Engine::addRequest(sched::RequestParams params,
                                              const sample::SamplingParams &sampling,
                                              int topLogprobs) {
  if (executor_.metadata().pooling)
    return Error(ErrorCode::InvalidArgument,
                 executor_.metadata().classifier
                     ? "this plan is a classifier (modelc --task classify), not tokens"
                     : "this plan computes embeddings (modelc --task embed), not tokens");
  if (Status s = sample::validate(sampling, executor_.metadata().vocabSize); !s)
    return s.error();
  if (Status s = checkAdapter(params.adapter); !s)
    return s.error();
  const int32_t adapter = params.adapter;
  sample::Sampler sampler(sampling, params.prompt);
  RequestSampling state{std::move(sampler), topLogprobs, {}, {}, {}, false};
  if (executor_.samplesOnDevice() && !state.sampler.adjustsLogits() &&
      topLogprobs <= kMaxDeviceTopLogprobs) {
    state.onDevice = true;
    // Below 1e-5 the draw is the argmax anyway; on the device it would divide by ~0.
    state.device.temperature = sampling.temperature < 1e-5f ? 0.0f : sampling.temperature;
    state.device.topK = sampling.topK;
    state.device.topP = sampling.topP;
    state.device.minP = sampling.minP;
    state.device.seed = sampling.seed;
    state.device.topLogprobs = topLogprobs;
  }
  // Greedy requests may speculate even where the device samples: a step with drafts
  // samples that request on the host (greedy is the same argmax there), the others on the
  // device.
  if (speculativeTokens_ > 0 && sampling.temperature == 0.0f && topLogprobs < 0 &&
      !params.promptLogprobs) {
    state.speculate = true;
    state.history = params.prompt;
    state.maxTokens = params.maxTokens;
  }
  if (params.promptLogprobs) {
    state.promptTop = params.promptTopLogprobs;
    state.prompt = params.prompt;
    state.promptLogprobs.resize(params.prompt.size());
    state.scored.assign(params.prompt.size(), false);
  }
  state.adapter = adapter;
  Expected<sched::RequestId> id = scheduler_.addRequest(std::move(params));
  if (id)
    samplers_.emplace(*id, std::move(state));
  return id;
}

Expected<sched::RequestId> Engine::addEmbeddingRequest(std::vector<int32_t> prompt,
                                                       int64_t dimensions, int32_t adapter,
                                                       std::vector<int32_t> tokenTypes) {
  const std::optional<plan::Pooling> &pooling = executor_.metadata().pooling;
  if (!pooling)
    return Error(ErrorCode::InvalidArgument,
                 "this plan generates tokens; embeddings need a plan compiled with modelc "
                 "--task embed (classes: --task classify)");
  if (dimensions < 0 || dimensions > pooling->dimensions)
    return Error(ErrorCode::InvalidArgument, "dimensions " + std::to_string(dimensions) +
                                                 " is not in [1, " +
                                                 std::to_string(pooling->dimensions) + "]");
  if (Status s = checkAdapter(adapter); !s)
    return s.error();
  const std::optional<plan::Classifier> &classifier = executor_.metadata().classifier;
  const int64_t types = classifier ? classifier->tokenTypes : 0;
  if (!tokenTypes.empty()) {
    if (types == 0)
      return Error(ErrorCode::InvalidArgument, "this plan takes no token types");
    if (tokenTypes.size() != prompt.size())
      return Error(ErrorCode::InvalidArgument,
                   std::to_string(tokenTypes.size()) + " token types for a prompt of " +
                       std::to_string(prompt.size()) + " tokens");
    for (int32_t t : tokenTypes)
      if (t < 0 || t >= types)
        return Error(ErrorCode::InvalidArgument, "token type " + std::to_string(t) +
                                                     " is not in [0, " + std::to_string(types) +
                                                     ")");
  }
  sched::RequestParams params;
  params.prompt = std::move(prompt);
  // Every row's state where the pooling reads them all (never from the prefix cache); one
  // "token" ends the request at its last prompt position.
  params.promptLogprobs = pooling->needsAllRows();
  params.maxTokens = 1;
  params.poolsPrompt = true;
  params.ignoreEos = true;
  params.adapter = adapter;
  RequestSampling state{sample::Sampler(sample::SamplingParams{}, {}), -1}; // never samples
  state.embed = true;
  state.promptLength = static_cast<int64_t>(params.prompt.size());
  state.dimensions = dimensions ? dimensions : pooling->dimensions;
  state.adapter = adapter;
  state.tokenTypes = std::move(tokenTypes);
  Expected<sched::RequestId> id = scheduler_.addRequest(std::move(params));
  if (id)
    samplers_.emplace(*id, std::move(state));
  return id;
}

void Engine::pool(RequestSampling &s, int64_t position, const float *row) {
  const plan::Pooling &pooling = *executor_.metadata().pooling;
  if (position != s.pooledRows || pooling.type == plan::Pooling::Type::Last)
    return;
  ++s.pooledRows;
  if (pooling.type == plan::Pooling::Type::Cls && position > 0)
    return;
  s.pooled.resize(size_t(pooling.dimensions), 0.0);
  for (int64_t i = 0; i < pooling.dimensions; ++i)
    s.pooled[size_t(i)] += row[i];
}

std::vector<float> Engine::finishEmbedding(const RequestSampling &s, const float *lastRow) const {
  const plan::Pooling &pooling = *executor_.metadata().pooling;
  std::vector<double> v(size_t(s.dimensions));
  for (int64_t i = 0; i < s.dimensions; ++i)
    v[size_t(i)] = pooling.type == plan::Pooling::Type::Last ? double(lastRow[i])
                   : pooling.type == plan::Pooling::Type::Mean
                       ? s.pooled[size_t(i)] / double(s.pooledRows)
                       : s.pooled[size_t(i)];
  // torch.nn.functional.normalize: x / max(||x||, 1e-12).
  double scale = 1.0;
  if (pooling.normalize) {
    double norm = 0.0;
    for (double x : v)
      norm += x * x;
    scale = 1.0 / std::max(std::sqrt(norm), 1e-12);
  }
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = static_cast<float>(v[i] * scale);
  return out;
}

int64_t Engine::requestsWithAdapter(int32_t adapter) const {
  int64_t n = 0;
  for (const auto &[id, state] : samplers_)
    n += state.adapter == adapter;
  return n;
}

void Engine::forget(sched::RequestId id) { samplers_.erase(id); }

Engine::~Engine() {
  for (; !inFlight_.empty(); inFlight_.pop_front())
    (void)executor_.collect();
}

Expected<std::vector<sched::TokenEvent>> Engine::step() {
  lastLogprobs_.clear();
  lastPromptLogprobs_.clear();
  lastEmbeddings_.clear();
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
    InFlight flight{std::move(out), {}, {}, {}};
    flight.sampling.reserve(flight.out.requests.size()); // the chunks point into it
    std::vector<PagedChunk> chunks;
    // Draft tokens go right after their request's tokens; the batch stays within
    // max_num_batched_tokens.
    std::vector<int32_t> tokens;
    int64_t rows = static_cast<int64_t>(flight.out.tokenIds.size());
    const int64_t maxRows = executor_.metadata().maxNumBatchedTokens,
                  maxSeqLen = executor_.metadata().maxSeqLen;
    size_t at = 0;
    // Only small steps speculate (vLLM's disable-by-batch-size): a bigger batch already
    // reads each weight once for many rows, and extra rows cost more than they save.
    const bool speculateNow = flight.out.sampleRequestIds.size() <= kSpeculativeMaxBatch;
    for (const sched::ScheduledRequest &r : flight.out.requests) {
      chunks.push_back({r.startPosition, r.numTokens, r.sampled, &r.blockTable, r.allLogits});
      chunks.back().stateSlot = r.stateSlot;
      chunks.back().adapter = r.adapter;
      if (const std::vector<int32_t> &types = samplers_.at(r.id).tokenTypes; !types.empty()) {
        if (size_t(r.startPosition + r.numTokens) > types.size())
          return Error(ErrorCode::Internal, "request " + std::to_string(r.id) +
                                                ": rows past its prompt's token types");
        chunks.back().tokenTypes = types.data() + r.startPosition;
      }
      tokens.insert(tokens.end(), flight.out.tokenIds.begin() + at,
                    flight.out.tokenIds.begin() + at + r.numTokens);
      at += static_cast<size_t>(r.numTokens);
      RequestSampling &s = samplers_.at(r.id);
      std::vector<int32_t> drafts;
      if (s.speculate && speculateNow && r.sampled && !r.allLogits) {
        // Only into KV slots the request's last block already has (the scheduler's blocks
        // are untouched past its length), and never past its limits.
        const int64_t end = r.startPosition + r.numTokens;
        const int64_t room =
            static_cast<int64_t>(r.blockTable.size()) * executor_.kvBlockSize() - end;
        const int64_t k = std::min<int64_t>({speculativeTokens_, room,
                                             s.maxTokens - static_cast<int64_t>(s.draws) - 1,
                                             maxRows - rows, maxSeqLen - end});
        if (k > 0)
          drafts = proposeNgramDrafts(s.history, static_cast<int>(k));
      }
      if (!drafts.empty()) {
        chunks.back().numTokens += static_cast<int64_t>(drafts.size());
        chunks.back().allLogits = true; // the last row and one per draft
        tokens.insert(tokens.end(), drafts.begin(), drafts.end());
        rows += static_cast<int64_t>(drafts.size());
        draftTokens_ += static_cast<int64_t>(drafts.size());
      }
      const bool device = r.sampled && !r.allLogits && s.onDevice && drafts.empty();
      if (device) {
        flight.sampling.push_back(s.device);
        flight.sampling.back().step = s.draws;
        chunks.back().deviceSampling = &flight.sampling.back();
      }
      flight.onDevice.push_back(device);
      flight.drafts.push_back(std::move(drafts));
    }
    if (Status submitted = executor_.submit(tokens, chunks, flight.out.blockCopies); !submitted)
      return submitted.error();
    inFlight_.push_back(std::move(flight));
  }
  if (inFlight_.empty())
    return events;
  Expected<StepOutput> result = executor_.collect();
  sched::SchedulerOutput out = std::move(inFlight_.front().out);
  const std::vector<std::vector<int32_t>> drafts = std::move(inFlight_.front().drafts);
  const std::vector<bool> onDevice = std::move(inFlight_.front().onDevice);
  inFlight_.pop_front();
  if (!result)
    return result.error();
  // Logits rows, or an embedding plan's hidden states.
  const int64_t vocab = executor_.metadata().outputWidth();
  // The logits rows: every row of an allLogits chunk (prompt tokens scored here), the last
  // row of the other sampled ones, except those the executor sampled (which come as
  // tokens); the rows sampled, in sampleRequestIds' order (null for a device token).
  std::vector<const float *> sampleRow;
  std::vector<const std::vector<int32_t> *> draftsOf; // per sampled row: its drafts, if any
  const float *at = result->logits.data();
  size_t devicePicks = 0;
  for (size_t j = 0; j < out.requests.size(); ++j) {
    const sched::ScheduledRequest &r = out.requests[j];
    if (!drafts[j].empty()) { // every row of the chunk: the last real one, then the drafts'
      sampleRow.push_back(at + int64_t(r.numTokens - 1) * vocab);
      draftsOf.push_back(&drafts[j]);
      at += int64_t(r.numTokens + static_cast<int64_t>(drafts[j].size())) * vocab;
      continue;
    }
    if (r.sampled)
      draftsOf.push_back(nullptr);
    if (r.allLogits) {
      RequestSampling &s = samplers_.at(r.id);
      for (int32_t k = 0; s.embed && k < r.numTokens; ++k)
        pool(s, r.startPosition + k, at + int64_t(k) * vocab);
      // Each row scores its own prompt position: rows in parallel (the slots are distinct;
      // `scored` is a bit vector, so it is set afterwards).
      const int32_t rows = s.embed ? 0 : r.numTokens;
      const int top = s.promptTop >= 0 ? s.promptTop : std::max(s.topLogprobs, 0);
#pragma omp parallel for schedule(dynamic, 8) if (rows > 8)
      for (int32_t k = 0; k < rows; ++k) {
        const size_t next = static_cast<size_t>(r.startPosition) + size_t(k) + 1;
        if (next < s.prompt.size() && !s.scored[next])
          s.promptLogprobs[next] =
              sample::logprobs(at + int64_t(k) * vocab, vocab, s.prompt[next], top);
      }
      for (int32_t k = 0; k < rows; ++k)
        if (const size_t next = static_cast<size_t>(r.startPosition) + size_t(k) + 1;
            next < s.prompt.size())
          s.scored[next] = true;
      at += int64_t(r.numTokens) * vocab;
      if (r.sampled)
        sampleRow.push_back(at - vocab);
    } else if (r.sampled && onDevice[j]) {
      sampleRow.push_back(nullptr);
      ++devicePicks;
    } else if (r.sampled) {
      sampleRow.push_back(at);
      at += vocab;
    }
  }
  if (devicePicks != result->sampled.size() || at != result->logits.data() + result->logits.size())
    return Error(ErrorCode::Internal,
                 "the executor returned " + std::to_string(result->logits.size() / size_t(vocab)) +
                     " logits rows and " + std::to_string(result->sampled.size()) +
                     " device tokens, not what the step asked for");
  // Host draws of rows without guided decoding (constraints may share a vocabulary's mask
  // cache) run in parallel first: each request's sampler is its own, so every token is the
  // same on any number of threads; the rest, and all bookkeeping, follow in order.
  std::vector<RequestSampling *> plain(out.sampleRequestIds.size(), nullptr);
  size_t numPlain = 0;
  for (size_t i = 0; i < out.sampleRequestIds.size(); ++i) {
    RequestSampling &r = samplers_.at(out.sampleRequestIds[i]);
    if (sampleRow[i] && !r.embed && !r.sampler.params().constraint) {
      plain[i] = &r;
      ++numPlain;
    }
  }
  std::vector<int32_t> drawn(plain.size(), -1);
  std::vector<sample::TokenLogprobs> drawnLogprobs(plain.size());
  if (numPlain > 1) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < plain.size(); ++i)
      if (RequestSampling *r = plain[i]) {
        drawn[i] = r->sampler.next(sampleRow[i], vocab);
        if (r->topLogprobs >= 0)
          drawnLogprobs[i] = sample::logprobs(sampleRow[i], vocab, drawn[i], r->topLogprobs);
      }
  }
  std::vector<sched::TokenId> sampled;
  std::vector<std::vector<sched::TokenId>> accepted; // after each sampled token (speculation)
  size_t nextPick = 0;
  for (size_t i = 0; i < out.sampleRequestIds.size(); ++i) {
    RequestSampling &r = samplers_.at(out.sampleRequestIds[i]);
    const float *row = sampleRow[i];
    if (!r.prompt.empty() && !std::exchange(r.delivered, true))
      lastPromptLogprobs_[out.sampleRequestIds[i]] = r.promptLogprobs;
    ++r.draws;
    if (r.embed) { // its last prompt row: the vector is done, and a placeholder token ends it
      pool(r, r.promptLength - 1, row);
      lastEmbeddings_[out.sampleRequestIds[i]] = finishEmbedding(r, row);
      sampled.push_back(0);
      accepted.emplace_back();
      continue;
    }
    if (!row) {
      DeviceSample &pick = result->sampled[nextPick++];
      sampled.push_back(pick.token);
      if (r.topLogprobs >= 0)
        lastLogprobs_[out.sampleRequestIds[i]] = {pick.logprob, std::move(pick.top)};
    } else if (drawn[i] >= 0) {
      sampled.push_back(drawn[i]);
      if (r.topLogprobs >= 0)
        lastLogprobs_[out.sampleRequestIds[i]] = std::move(drawnLogprobs[i]);
    } else {
      sampled.push_back(r.sampler.next(row, vocab));
      if (r.topLogprobs >= 0)
        lastLogprobs_[out.sampleRequestIds[i]] =
            sample::logprobs(row, vocab, sampled.back(), r.topLogprobs);
    }
    r.sampler.accept(sampled.back());
    if (r.speculate)
      r.history.push_back(sampled.back());
    // Speculation: while the choice equals the next draft, the draft's own row gives the
    // token after it.
    std::vector<sched::TokenId> more;
    if (const std::vector<int32_t> *d = draftsOf[i])
      for (size_t k = 0; k < d->size() && r.history.back() == (*d)[k]; ++k) {
        const int32_t t = r.sampler.next(row + int64_t(k + 1) * vocab, vocab);
        r.sampler.accept(t);
        r.history.push_back(t);
        ++r.draws;
        ++acceptedDraftTokens_;
        more.push_back(t);
      }
    accepted.push_back(std::move(more));
  }
  Expected<std::vector<sched::TokenEvent>> sampledEvents =
      scheduler_.update(out, sampled, &accepted);
  if (!sampledEvents)
    return sampledEvents.error();
  for (const sched::TokenEvent &e : *sampledEvents)
    if (e.finish)
      forget(e.id);
  events.insert(events.end(), sampledEvents->begin(), sampledEvents->end());
  return events;
}

} // namespace modelrt::engine
