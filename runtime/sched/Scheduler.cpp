#include "runtime/sched/Scheduler.h"

#include <algorithm>
#include <cassert>

namespace modelrt::sched {

const char *requestStateName(RequestState state) {
  switch (state) {
  case RequestState::Waiting:
    return "waiting";
  case RequestState::Running:
    return "running";
  case RequestState::Preempted:
    return "preempted";
  }
  return "unknown";
}

const char *finishReasonName(FinishReason reason) {
  switch (reason) {
  case FinishReason::Eos:
    return "eos";
  case FinishReason::Length:
    return "length";
  case FinishReason::Stop:
    return "stop";
  case FinishReason::Cancelled:
    return "cancelled";
  }
  return "unknown";
}

const char *policyName(Policy policy) {
  return policy == Policy::IterationLevel ? "iteration-level" : "request-level";
}

Expected<Policy> parsePolicy(const std::string &name) {
  if (name == "iteration-level")
    return Policy::IterationLevel;
  if (name == "request-level")
    return Policy::RequestLevel;
  return Error(ErrorCode::InvalidArgument,
               "unknown scheduler '" + name + "' (expected iteration-level or request-level)");
}

Status validateSchedulerConfig(const SchedulerConfig &config) {
  auto invalid = [](const std::string &message) {
    return Status(Error(ErrorCode::InvalidArgument, message));
  };
  if (config.maxNumSeqs < 1)
    return invalid("max-num-seqs must be at least 1, got " + std::to_string(config.maxNumSeqs));
  // Every running request decodes one row per iteration; they must all fit in one batch.
  if (config.maxNumBatchedTokens < config.maxNumSeqs)
    return invalid("max-num-batched-tokens (" + std::to_string(config.maxNumBatchedTokens) +
                   ") must be at least max-num-seqs (" + std::to_string(config.maxNumSeqs) + ")");
  if (config.maxSeqLen < 2)
    return invalid("max-seq-len must be at least 2, got " + std::to_string(config.maxSeqLen));
  if (config.vocabSize < 0)
    return invalid("vocab size must not be negative, got " + std::to_string(config.vocabSize));
  if (config.recurrentState && config.kvCache.prefixCaching)
    return invalid("prefix caching cannot serve a model with recurrent state (a request's "
                   "state is a function of every token before, not of cached KV blocks)");
  if (config.wholePrompts && config.kvCache.prefixCaching)
    return invalid("prefix caching cannot serve a bidirectional model (each position's keys "
                   "depend on the positions after it)");
  if (config.maxInFlight < 1 || config.maxInFlight > 256)
    return invalid("iterations in flight must be in [1, 256], got " +
                   std::to_string(config.maxInFlight));
  return Status::success();
}

Expected<Scheduler> Scheduler::create(const SchedulerConfig &config) {
  if (Status status = validateSchedulerConfig(config); !status)
    return status.error();
  Expected<kv::KvCacheManager> kv = kv::KvCacheManager::create(config.kvCache);
  if (!kv)
    return kv.error();
  return Scheduler(config, std::move(kv.value()));
}

Status Scheduler::validateRequest(const RequestParams &params) const {
  auto invalid = [](const std::string &message) {
    return Status(Error(ErrorCode::InvalidArgument, message));
  };
  if (params.prompt.empty())
    return invalid("the prompt is empty");
  if (params.maxTokens < 1)
    return invalid("max_tokens must be at least 1, got " + std::to_string(params.maxTokens));
  if (params.adapter < 0)
    return invalid("LoRA adapter " + std::to_string(params.adapter) + " (0 is none)");
  auto badToken = [&](TokenId token) {
    return token < 0 || (config_.vocabSize > 0 && token >= config_.vocabSize);
  };
  auto tokenRange = [&] {
    return config_.vocabSize > 0 ? "[0, " + std::to_string(config_.vocabSize) + ")"
                                 : std::string("[0, inf)");
  };
  for (size_t i = 0; i < params.prompt.size(); ++i)
    if (badToken(params.prompt[i]))
      return invalid("prompt token " + std::to_string(i) + " is " +
                     std::to_string(params.prompt[i]) + ", outside the vocabulary " + tokenRange());
  if (params.eosTokenId && badToken(*params.eosTokenId))
    return invalid("eos token " + std::to_string(*params.eosTokenId) +
                   " is outside the vocabulary " + tokenRange());
  for (TokenId token : params.stopTokenIds)
    if (badToken(token))
      return invalid("stop token " + std::to_string(token) + " is outside the vocabulary " +
                     tokenRange());
  for (const std::vector<TokenId> &sequence : params.stopSequences) {
    if (sequence.empty())
      return invalid("a stop sequence is empty");
    for (TokenId token : sequence)
      if (badToken(token))
        return invalid("stop sequence token " + std::to_string(token) +
                       " is outside the vocabulary " + tokenRange());
  }

  if (config_.wholePrompts && int64_t(params.prompt.size()) > config_.maxNumBatchedTokens)
    return invalid("the prompt (" + std::to_string(params.prompt.size()) +
                   " tokens) exceeds max-num-batched-tokens " +
                   std::to_string(config_.maxNumBatchedTokens) +
                   ": a bidirectional model runs each prompt whole, in one step");
  int64_t longest = int64_t(params.prompt.size()) + params.maxTokens;
  if (params.poolsPrompt && params.maxTokens == 1 &&
      int64_t(params.prompt.size()) > config_.maxSeqLen)
    return invalid("the prompt (" + std::to_string(params.prompt.size()) +
                   " tokens) exceeds the maximum sequence length " +
                   std::to_string(config_.maxSeqLen));
  if (!(params.poolsPrompt && params.maxTokens == 1) && longest > config_.maxSeqLen)
    return invalid("prompt (" + std::to_string(params.prompt.size()) + " tokens) + max_tokens (" +
                   std::to_string(params.maxTokens) + ") = " + std::to_string(longest) +
                   " exceeds the maximum sequence length " + std::to_string(config_.maxSeqLen));
  // The last generated token is never fed back, so it needs no KV slot.
  int64_t blocks = kv_.blocksForTokens(longest - 1);
  // A whole prompt is admitted only with the watermark's blocks to spare.
  if (config_.wholePrompts && kv_.blocksForTokens(int64_t(params.prompt.size())) >
                                  config_.kvCache.numBlocks - config_.kvCache.watermarkBlocks)
    return Status(Error(ErrorCode::ResourceExhausted,
                        "the prompt needs " +
                            std::to_string(kv_.blocksForTokens(int64_t(params.prompt.size()))) +
                            " KV blocks at once, but the pool admits at most " +
                            std::to_string(config_.kvCache.numBlocks -
                                           config_.kvCache.watermarkBlocks)));
  if (blocks > config_.kvCache.numBlocks)
    return Status(Error(ErrorCode::ResourceExhausted,
                        "the request needs " + std::to_string(blocks) + " KV blocks of " +
                            std::to_string(config_.kvCache.blockSize) +
                            " tokens at its longest, but the pool has only " +
                            std::to_string(config_.kvCache.numBlocks)));
  return Status::success();
}

Expected<RequestId> Scheduler::addRequest(RequestParams params) {
  if (Status status = validateRequest(params); !status)
    return status.error().withContext("request rejected");
  auto req = std::make_unique<Request>();
  req->id = nextId_++;
  req->tokens = params.prompt;
  req->params = std::move(params);
  // Ids grow with arrival, so appending keeps the queue sorted.
  waiting_.push_back(req.get());
  RequestId id = req->id;
  requests_.emplace(id, std::move(req));
  return id;
}

Status Scheduler::finish(RequestId id, FinishReason reason) {
  if (reason != FinishReason::Cancelled && reason != FinishReason::Stop)
    return Error(
        ErrorCode::InvalidArgument,
        std::string("a request can be ended from outside only as cancelled or stop, not ") +
            finishReasonName(reason));
  auto it = requests_.find(id);
  if (it == requests_.end())
    return Error(ErrorCode::NotFound, "no unfinished request with id " + std::to_string(id));
  if (!it->second->pendingFinish) {
    it->second->pendingFinish = reason;
    finishRequested_.push_back(id);
  }
  return Status::success();
}

namespace {
// The tokens a prefill chunk takes of a request's `uncomputed` ones within `budget`: all
// that fit, but never a lone token of several, neither as the chunk nor as what is left for
// the next one (0: wait for a larger budget). A device may serve a request's one-row steps
// with another kernel than its longer chunks (CUDA: decode and prefill attention), so where
// a prompt is cut, which follows the budget others leave, must not decide which kernel
// computes one of its positions (DESIGN.md: output independent of the batch).
// `leastBudget` is what the first prefill of a step is sure to get (max-num-batched-tokens
// less a decode row for every other sequence): under 3 the rule could starve it, so it is off.
int32_t prefillChunk(int32_t uncomputed, int32_t budget, int32_t leastBudget) {
  if (uncomputed <= budget || leastBudget < 3)
    return std::min(uncomputed, budget);
  const int32_t chunk = uncomputed - budget == 1 ? budget - 1 : budget;
  return chunk >= 2 ? chunk : 0;
}

// `fit` of a chunk's `wanted` tokens fit in the KV pool: cut it by the same rule, unless
// that leaves nothing (then the lone token goes: a short pool must not stall the request).
int64_t prefillChunkThatFits(int32_t uncomputed, int32_t wanted, int64_t fit, int32_t leastBudget) {
  if (fit >= wanted)
    return fit;
  const int32_t cut = prefillChunk(uncomputed, static_cast<int32_t>(fit), leastBudget);
  return cut > 0 ? cut : fit;
}
} // namespace

int32_t Scheduler::chunkFor(const Request &req, int32_t budget) const {
  if (config_.wholePrompts)
    return req.numUncomputed() <= budget ? req.numUncomputed() : 0;
  return prefillChunk(req.numUncomputed(), budget, leastPrefillBudget());
}

int64_t Scheduler::chunkThatFits(const Request &req, int32_t wanted, int64_t fit) const {
  if (config_.wholePrompts)
    return fit >= wanted ? wanted : 0;
  return prefillChunkThatFits(req.numUncomputed(), wanted, fit, leastPrefillBudget());
}

int32_t Scheduler::leastPrefillBudget() const {
  return config_.maxNumBatchedTokens - (config_.maxNumSeqs - 1);
}

SchedulerOutput Scheduler::schedule() {
  assert(pendingIterations_.size() < size_t(config_.maxInFlight) &&
         "schedule() called with maxInFlight iterations awaiting update()");
  SchedulerOutput out;
  out.iteration = ++iteration_;
  pendingIterations_.push_back(out.iteration);
  out.queryStarts.push_back(0);

  removeFinishedFromOutside(out);
  int32_t prefillBudget = config_.maxNumBatchedTokens;
  scheduleRunning(out, prefillBudget);
  // A preemption means the pool is short: admitting now would only preempt again.
  if (out.preempted.empty())
    admitWaiting(out, prefillBudget);
  return out;
}

void Scheduler::removeFinishedFromOutside(SchedulerOutput &out) {
  std::vector<RequestId> later; // in an iteration in flight: removed after its update()
  for (RequestId id : finishRequested_) {
    auto it = requests_.find(id);
    if (it == requests_.end())
      continue;
    Request *req = it->second.get();
    if (req->inFlight) {
      later.push_back(id);
      continue;
    }
    if (req->state == RequestState::Running)
      running_.erase(std::find(running_.begin(), running_.end(), req));
    else
      waiting_.erase(std::find(waiting_.begin(), waiting_.end(), req));
    release(*req);
    out.finished.push_back({id, *req->pendingFinish});
    requests_.erase(it);
  }
  finishRequested_ = std::move(later);
}

void Scheduler::scheduleRunning(SchedulerOutput &out, int32_t &prefillBudget) {
  // Decodes go first: keep their rows out of the budget that prefill chunks share.
  prefillBudget -=
      static_cast<int32_t>(std::count_if(running_.begin(), running_.end(), [](const Request *r) {
        return !r->inFlight && r->numUncomputed() == 1;
      }));
  for (size_t i = 0; i < running_.size(); ++i) {
    Request &req = *running_[i];
    if (req.inFlight)
      continue; // its token is not sampled yet
    bool decode = req.numUncomputed() == 1;
    int32_t wanted =
        decode ? 1 : chunkFor(req, prefillBudget);
    if (wanted == 0)
      continue;
    int64_t fit = kv_.appendableTokens(req.id, wanted, /*keepFree=*/0);
    // Short of blocks: take them from the most recently admitted request (the back, not yet
    // scheduled in this call, nor in an iteration in flight, whose KV is being written).
    // The back itself just waits, keeping its blocks, until an older request needs them or
    // blocks free up; the oldest always makes progress.
    while (fit == 0) {
      size_t victim = running_.size();
      while (victim > i + 1 && running_[victim - 1]->inFlight)
        --victim;
      if (victim <= i + 1)
        break;
      if (running_[victim - 1]->numUncomputed() == 1)
        ++prefillBudget;
      preempt(victim - 1, out);
      fit = kv_.appendableTokens(req.id, wanted, 0);
    }
    if (fit == 0)
      continue;
    if (!decode) {
      fit = chunkThatFits(req, wanted, fit);
      if (fit == 0)
        continue;
      prefillBudget -= static_cast<int32_t>(fit);
    }
    bool ok = kv_.appendTokens(req.id, fit, out.blockCopies);
    assert(ok && "appendableTokens promised the blocks");
    (void)ok;
    emit(req, static_cast<int32_t>(fit), out);
  }
}

void Scheduler::admitWaiting(SchedulerOutput &out, int32_t &prefillBudget) {
  if (config_.policy == Policy::RequestLevel && !running_.empty())
    return;
  // Strict FCFS: when the head cannot be admitted, nothing behind it is.
  while (!waiting_.empty() && running_.size() < size_t(config_.maxNumSeqs)) {
    if (!admitOne(*waiting_.front(), out, prefillBudget))
      break;
    waiting_.pop_front();
  }
}

bool Scheduler::admitOne(Request &req, SchedulerOutput &out, int32_t &prefillBudget) {
  int64_t adopted = 0;
  if (config_.policy == Policy::IterationLevel && config_.kvCache.prefixCaching &&
      !req.params.promptLogprobs && req.numComputed == 0 && !kv_.hasSeq(req.id)) {
    // Full blocks another request (or this one, before a preemption) computed are taken as
    // they are; the last token is always computed, for its logits, and never alone: at
    // least two tokens are left, so that the cache's hit or miss does not decide whether
    // the last position runs as a one-row step (prefillChunk explains why that matters).
    adopted = kv_.adoptCachedPrefix(req.id, req.tokens.data(),
                                    static_cast<int64_t>(req.tokens.size()) - 2, nullptr,
                                    static_cast<uint64_t>(req.params.adapter));
    req.numComputed = static_cast<int32_t>(adopted);
  }
  int32_t wanted = chunkFor(req, prefillBudget);
  int64_t fit = 0;
  if (config_.policy == Policy::IterationLevel && wanted == 0) {
    if (adopted > 0) { // no budget for a chunk this step: wait, holding no blocks
      kv_.free(req.id);
      req.numComputed = 0;
    }
    return false;
  }
  if (config_.policy == Policy::IterationLevel) {
    fit = kv_.appendableTokens(req.id, wanted, config_.kvCache.watermarkBlocks);
    if (fit == 0 && adopted > 0) {
      // The adopted blocks came off the free list and left too few behind (the watermark):
      // try as if nothing were cached, which admits whatever fits without them.
      kv_.free(req.id);
      req.numComputed = 0;
      adopted = 0;
      wanted = chunkFor(req, prefillBudget);
      fit = kv_.appendableTokens(req.id, wanted, config_.kvCache.watermarkBlocks);
    }
    if (fit == 0)
      return false;
    fit = chunkThatFits(req, wanted, fit);
    if (fit == 0) { // whole prompts only, which adopt nothing from a prefix cache
      assert(adopted == 0);
      return false;
    }
    // Reported as prompt tokens, once: a re-admission after a preemption may adopt
    // generated tokens too.
    const int32_t cachedPrompt = std::min(static_cast<int32_t>(adopted), req.numPrompt());
    if (req.numPreemptions == 0)
      req.numCachedTokens = cachedPrompt;
    req.pendingCachedTokens = static_cast<int32_t>(adopted);
  } else {
    // Reserving the whole length up front means the batch never needs a preemption.
    if (!kv_.reserveTokens(req.id, req.numPrompt() + req.params.maxTokens - 1))
      return false;
    fit = wanted;
  }
  req.state = RequestState::Running;
  running_.push_back(&req);
  // running_ holds at most maxNumSeqs, so a slot is free (were none, the request would run
  // without one and the executor would refuse the step, naming the chunk).
  if (config_.recurrentState && !freeStateSlots_.empty()) {
    assert(req.stateSlot < 0);
    req.stateSlot = freeStateSlots_.back();
    freeStateSlots_.pop_back();
  }
  if (fit > 0) {
    prefillBudget -= static_cast<int32_t>(fit);
    bool ok = kv_.appendTokens(req.id, fit, out.blockCopies);
    assert(ok && "the blocks were checked or reserved");
    (void)ok;
    emit(req, static_cast<int32_t>(fit), out);
  }
  return true;
}

void Scheduler::preempt(size_t index, SchedulerOutput &out) {
  Request &req = *running_[index];
  assert(!req.inFlight && "a request in flight keeps its blocks");
  running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(index));
  kv_.free(req.id);
  if (req.stateSlot >= 0) {
    freeStateSlots_.push_back(req.stateSlot);
    req.stateSlot = -1;
  }
  // Recompute: the generated tokens are kept and will be prefilled again with the prompt,
  // so the request continues exactly where it stopped.
  req.numComputed = 0;
  req.state = RequestState::Preempted;
  ++req.numPreemptions;
  out.preempted.push_back(req.id);
  enqueueWaiting(&req);
}

void Scheduler::enqueueWaiting(Request *req) {
  auto pos = std::upper_bound(waiting_.begin(), waiting_.end(), req->id,
                              [](RequestId id, const Request *r) { return id < r->id; });
  waiting_.insert(pos, req);
}

void Scheduler::emit(Request &req, int32_t numTokens, SchedulerOutput &out) {
  ScheduledRequest s;
  s.id = req.id;
  s.numCachedTokens = req.pendingCachedTokens;
  req.pendingCachedTokens = 0;
  s.startPosition = req.numComputed;
  s.numTokens = numTokens;
  s.allLogits = req.params.promptLogprobs && req.numComputed + 1 < req.numPrompt();
  s.isPrefill = !(numTokens == 1 && req.numOutput() > 0 &&
                  req.numComputed + 1 == static_cast<int32_t>(req.tokens.size()));
  for (int32_t p = req.numComputed; p < req.numComputed + numTokens; ++p) {
    out.tokenIds.push_back(req.tokens[p]);
    out.positions.push_back(p);
  }
  req.numComputed += numTokens;
  req.inFlight = out.iteration;
  s.sampled = req.numComputed == static_cast<int32_t>(req.tokens.size());
  if (s.sampled) {
    out.sampleRows.push_back(out.numBatchedTokens() - 1);
    out.sampleRequestIds.push_back(req.id);
  }
  s.blockTable = kv_.blockTable(req.id);
  s.stateSlot = req.stateSlot;
  s.adapter = req.params.adapter;
  out.queryStarts.push_back(out.numBatchedTokens());
  out.requests.push_back(std::move(s));
}

Expected<std::vector<TokenEvent>>
Scheduler::update(const SchedulerOutput &output, const std::vector<TokenId> &sampledTokens,
                  const std::vector<std::vector<TokenId>> *accepted) {
  auto pending = std::find(pendingIterations_.begin(), pendingIterations_.end(), output.iteration);
  if (pending == pendingIterations_.end())
    return Error(ErrorCode::InvalidArgument,
                 "update for iteration " + std::to_string(output.iteration) +
                     (pendingIterations_.empty() ? std::string(", but no iteration is pending")
                                                 : ", but the pending iteration is " +
                                                       std::to_string(pendingIterations_.front())));
  if (sampledTokens.size() != output.sampleRequestIds.size())
    return Error(ErrorCode::InvalidArgument,
                 "update got " + std::to_string(sampledTokens.size()) + " sampled tokens for " +
                     std::to_string(output.sampleRequestIds.size()) + " sampled rows");
  if (accepted && accepted->size() != sampledTokens.size())
    return Error(ErrorCode::InvalidArgument, "update got accepted tokens for " +
                                                 std::to_string(accepted->size()) + " rows, not " +
                                                 std::to_string(sampledTokens.size()));
  // Drafts ran through the recurrent state: accepting some of them would keep the others'.
  if (accepted && config_.recurrentState &&
      std::any_of(accepted->begin(), accepted->end(), [](const auto &a) { return !a.empty(); }))
    return Error(ErrorCode::InvalidArgument,
                 "update got accepted draft tokens for a model with recurrent state");
  std::vector<TokenId> all = sampledTokens;
  if (accepted)
    for (const std::vector<TokenId> &more : *accepted)
      all.insert(all.end(), more.begin(), more.end());
  for (TokenId token : all)
    if (token < 0 || (config_.vocabSize > 0 && token >= config_.vocabSize))
      return Error(ErrorCode::InvalidArgument,
                   "sampled token " + std::to_string(token) + " is outside the vocabulary");
  pendingIterations_.erase(pending);
  for (const ScheduledRequest &r : output.requests)
    if (auto it = requests_.find(r.id);
        it != requests_.end() && it->second->inFlight == output.iteration)
      it->second->inFlight = 0;

  // The iteration wrote these rows' KV: their full blocks become adoptable.
  if (config_.kvCache.prefixCaching)
    for (const ScheduledRequest &r : output.requests) {
      auto it = requests_.find(r.id);
      if (it != requests_.end() && kv_.hasSeq(r.id))
        kv_.commitFullBlocks(r.id, it->second->tokens.data(), r.startPosition + r.numTokens,
                             static_cast<uint64_t>(r.adapter));
    }

  std::vector<TokenEvent> events;
  events.reserve(sampledTokens.size());
  bool anyFinished = false;
  for (size_t i = 0; i < sampledTokens.size(); ++i) {
    auto it = requests_.find(output.sampleRequestIds[i]);
    // Ended from outside after schedule(): the next schedule() removes it.
    if (it == requests_.end() || it->second->pendingFinish)
      continue;
    Request &req = *it->second;
    const size_t extra = accepted ? (*accepted)[i].size() : 0;
    for (size_t k = 0; k <= extra; ++k) {
      // Never past max_seq_len: a speculative token there is dropped (the limit ends it).
      if (k > 0 && static_cast<int64_t>(req.tokens.size()) >= config_.maxSeqLen)
        break;
      const TokenId token = k == 0 ? sampledTokens[i] : (*accepted)[i][k - 1];
      req.tokens.push_back(token);
      std::optional<FinishReason> reason = finishReasonAfter(req);
      events.push_back({req.id, token, reason, req.numCachedTokens});
      if (reason) {
        release(req);
        req.finished = true;
        anyFinished = true;
        break;
      }
    }
  }
  if (anyFinished) {
    running_.erase(std::remove_if(running_.begin(), running_.end(),
                                  [](const Request *r) { return r->finished; }),
                   running_.end());
    for (const TokenEvent &event : events)
      if (event.finish)
        requests_.erase(event.id);
  }
  return events;
}

std::optional<FinishReason> Scheduler::finishReasonAfter(const Request &req) const {
  TokenId last = req.tokens.back();
  const RequestParams &params = req.params;
  if (params.eosTokenId && !params.ignoreEos && last == *params.eosTokenId)
    return FinishReason::Eos;
  if (std::find(params.stopTokenIds.begin(), params.stopTokenIds.end(), last) !=
      params.stopTokenIds.end())
    return FinishReason::Stop;
  for (const std::vector<TokenId> &stop : params.stopSequences)
    if (stop.size() <= size_t(req.numOutput()) &&
        std::equal(stop.rbegin(), stop.rend(), req.tokens.rbegin()))
      return FinishReason::Stop;
  if (req.numOutput() >= params.maxTokens)
    return FinishReason::Length;
  return std::nullopt;
}

void Scheduler::release(Request &req) {
  if (kv_.hasSeq(req.id))
    kv_.free(req.id);
  if (req.stateSlot >= 0) {
    freeStateSlots_.push_back(req.stateSlot);
    req.stateSlot = -1;
  }
}

std::optional<RequestState> Scheduler::state(RequestId id) const {
  auto it = requests_.find(id);
  if (it == requests_.end())
    return std::nullopt;
  return it->second->state;
}

int32_t Scheduler::numPreemptions(RequestId id) const {
  auto it = requests_.find(id);
  return it == requests_.end() ? 0 : it->second->numPreemptions;
}

int32_t Scheduler::numCachedTokens(RequestId id) const {
  auto it = requests_.find(id);
  return it == requests_.end() ? 0 : it->second->numCachedTokens;
}

std::vector<RequestId> Scheduler::waitingIds() const {
  std::vector<RequestId> ids;
  for (const Request *req : waiting_)
    ids.push_back(req->id);
  return ids;
}

std::vector<RequestId> Scheduler::runningIds() const {
  std::vector<RequestId> ids;
  for (const Request *req : running_)
    ids.push_back(req->id);
  return ids;
}

} // namespace modelrt::sched
