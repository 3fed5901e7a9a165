#include "runtime/engine/Sequences.h"

#include <set>

namespace modelrt::engine {

Expected<Sequences> Sequences::create(Executor &executor) {
  Expected<kv::KvCacheManager> kv =
      kv::KvCacheManager::create({executor.numKvBlocks(), executor.kvBlockSize(), 0});
  if (!kv)
    return kv.error();
  Sequences sequences(executor, std::move(*kv));
  if (executor.metadata().hasRecurrentState())
    for (int64_t s = executor.metadata().maxNumSeqs - 1; s >= 0; --s)
      sequences.freeSlots_.push_back(static_cast<int32_t>(s));
  return sequences;
}

void Sequences::release(uint64_t sequence) {
  if (kv_.hasSeq(sequence))
    kv_.free(sequence);
  if (auto it = stateSlots_.find(sequence); it != stateSlots_.end()) {
    freeSlots_.push_back(it->second);
    stateSlots_.erase(it);
  }
  lost_.erase(sequence);
}

Expected<std::vector<float>> Sequences::step(const std::vector<int32_t> &tokens,
                                             const std::vector<SequenceChunk> &chunks) {
  std::set<uint64_t> seen;
  for (const SequenceChunk &c : chunks) {
    if (c.numTokens <= 0)
      return Error(ErrorCode::InvalidArgument, "a chunk must have at least one token");
    if (!seen.insert(c.sequence).second)
      return Error(ErrorCode::InvalidArgument,
                   "sequence " + std::to_string(c.sequence) + " appears twice in one step");
    if (lost_.count(c.sequence))
      return Error(ErrorCode::InvalidArgument,
                   "sequence " + std::to_string(c.sequence) +
                       ": a failed step may have advanced its recurrent state; release it");
  }
  // Slots for the new tokens; undone when anything fails.
  std::vector<int64_t> before;
  std::vector<kv::BlockCopy> copies;
  auto undo = [&] {
    for (size_t i = 0; i < before.size(); ++i)
      kv_.truncate(chunks[i].sequence, before[i]);
  };
  for (const SequenceChunk &c : chunks) {
    before.push_back(kv_.numTokens(c.sequence));
    if (!kv_.appendTokens(c.sequence, c.numTokens, copies)) {
      before.pop_back();
      undo();
      return Error(ErrorCode::ResourceExhausted,
                   "the KV cache has no room for " + std::to_string(c.numTokens) +
                       " more tokens of sequence " + std::to_string(c.sequence));
    }
  }
  std::vector<PagedChunk> paged;
  for (size_t i = 0; i < chunks.size(); ++i)
  {
    paged.push_back(
        {before[i], chunks[i].numTokens, chunks[i].sample, &kv_.blockTable(chunks[i].sequence)});
    paged.back().adapter = chunks[i].adapter;
  }
  // Recurrent state: a slot per live sequence, taken at its first step.
  std::vector<uint64_t> taken; // sequences given a slot now
  if (executor_->metadata().hasRecurrentState())
    for (size_t i = 0; i < chunks.size(); ++i) {
      auto it = stateSlots_.find(chunks[i].sequence);
      if (it == stateSlots_.end()) {
        if (freeSlots_.empty()) {
          undo();
          for (uint64_t t : taken)
            release(t);
          return Error(ErrorCode::ResourceExhausted,
                       "the plan keeps recurrent state for at most max_num_seqs " +
                           std::to_string(executor_->metadata().maxNumSeqs) +
                           " sequences at once");
        }
        it = stateSlots_.emplace(chunks[i].sequence, freeSlots_.back()).first;
        freeSlots_.pop_back();
        taken.push_back(chunks[i].sequence);
      }
      paged[i].stateSlot = it->second;
    }
  Status copied = executor_->copyBlocks(copies);
  if (!copied) {
    undo();
    return copied.error();
  }
  Expected<std::vector<float>> logits = executor_->step(tokens, paged);
  if (!logits) {
    undo();
    // Their states may have moved past the tokens they keep: refused until released.
    if (executor_->metadata().hasRecurrentState())
      for (const SequenceChunk &c : chunks)
        if (kv_.numTokens(c.sequence) > 0)
          lost_.insert(c.sequence);
  }
  return logits;
}

} // namespace modelrt::engine
