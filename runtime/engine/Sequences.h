// Runs sequences named by the caller through an Executor without a scheduler (modelrt
// generate, tests): each sequence's KV blocks come from a runtime/kv table over the
// executor's cache, so the caller only says which sequence each chunk continues.
#pragma once

#include "runtime/engine/CpuExecutor.h"
#include "runtime/kv/KvCacheManager.h"

#include <map>
#include <set>
#include <vector>

namespace modelrt::engine {

// `numTokens` rows of the batch continue `sequence`; `sample` asks for its last row's logits.
struct SequenceChunk {
  uint64_t sequence;
  int64_t numTokens;
  bool sample;
  int32_t adapter = 0; // its rows' LoRA adapter (PagedChunk::adapter)
};

class Sequences {
public:
  // `executor` outlives this.
  static Expected<Sequences> create(Executor &executor);

  // Like Executor::step; positions continue each sequence. A failed step leaves every
  // sequence with the tokens it had. (Sequences never share blocks here, so no step makes a
  // copy-on-write copy that an undo would have to reverse.) For a plan with recurrent state
  // each live sequence holds one of max_num_seqs state slots (more fail here); a step that
  // fails in the executor may have advanced its sequences' states, so those sequences are
  // refused until released.
  Expected<std::vector<float>> step(const std::vector<int32_t> &tokens,
                                    const std::vector<SequenceChunk> &chunks);
  // Forgets a sequence; its blocks are free again.
  void release(uint64_t sequence);
  int64_t cachedTokens(uint64_t sequence) const { return kv_.numTokens(sequence); }
  int32_t numFreeBlocks() const { return kv_.numFreeBlocks(); }

private:
  Sequences(Executor &executor, kv::KvCacheManager kv) : executor_(&executor), kv_(std::move(kv)) {}
  Executor *executor_;
  kv::KvCacheManager kv_;
  std::map<uint64_t, int32_t> stateSlots_; // live sequences' recurrent-state slots
  std::vector<int32_t> freeSlots_;         // the others, highest first
  std::set<uint64_t> lost_; // sequences whose state a failed step may have advanced
};

} // namespace modelrt::engine
