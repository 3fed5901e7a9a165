#include "runtime/engine/Sequences.h"

#include <set>

namespace modelrt::engine {

Expected<Sequences> Sequences::create(Executor &executor) {
  Expected<kv::KvCacheManager> kv =
      kv::KvCacheManager::create({executor.numKvBlocks(), executor.kvBlockSize(), 0});
  if (!kv)
    return kv.error();
  return Sequences(executor, std::move(*kv));
}

void Sequences::release(uint64_t sequence) {
  if (kv_.hasSeq(sequence))
    kv_.free(sequence);
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
    paged.push_back(
        {before[i], chunks[i].numTokens, chunks[i].sample, &kv_.blockTable(chunks[i].sequence)});
  Status copied = executor_->copyBlocks(copies);
  if (!copied) {
    undo();
    return copied.error();
  }
  Expected<std::vector<float>> logits = executor_->step(tokens, paged);
  if (!logits)
    undo();
  return logits;
}

} // namespace modelrt::engine
