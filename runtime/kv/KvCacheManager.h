// Per-request block tables over a KvBlockPool: the logical side of the paged KV cache.
// A sequence's table maps token position p to block table[p / blockSize], slot
// p % blockSize. The device owns the memory; the engine reads the tables from here.
#pragma once

#include "runtime/kv/KvBlockPool.h"
#include "runtime/support/Error.h"

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace modelrt::kv {

// Sequences are named by the scheduler's request ids.
using SeqId = uint64_t;

struct KvCacheConfig {
  int32_t numBlocks = 0;
  int32_t blockSize = 16;
  // Free blocks that admitting a new request may not take, so running requests can grow
  // without being preempted at once. Running requests may use them.
  int32_t watermarkBlocks = 0;
};

// A copy-on-write copy the engine makes before the iteration that writes into dst.
struct BlockCopy {
  BlockId src;
  BlockId dst;
};

class KvCacheManager {
public:
  static Expected<KvCacheManager> create(const KvCacheConfig &config);

  const KvCacheConfig &config() const { return config_; }
  int32_t blockSize() const { return config_.blockSize; }
  int32_t numFreeBlocks() const { return pool_.numFree(); }
  int32_t numUsedBlocks() const { return pool_.numUsed(); }
  const KvBlockPool &pool() const { return pool_; }

  int64_t blocksForTokens(int64_t numTokens) const {
    return (numTokens + config_.blockSize - 1) / config_.blockSize;
  }

  bool hasSeq(SeqId seq) const { return seqs_.count(seq) != 0; }
  size_t numSeqs() const { return seqs_.size(); }
  // Token slots written so far (a sequence that does not exist has none).
  int64_t numTokens(SeqId seq) const;
  // Asking for the table of a freed sequence is a use after free (caught in debug builds).
  const std::vector<BlockId> &blockTable(SeqId seq) const;

  // How many of the next `wanted` tokens of seq can get slots (in its table's spare room
  // plus new blocks) while at least `keepFree` blocks stay free. Counts the copy that a
  // shared, partly filled last block needs before it can be written.
  int64_t appendableTokens(SeqId seq, int64_t wanted, int32_t keepFree) const;
  // Gives seq (created when absent) slots for n more tokens: copies a shared last block
  // (recorded in copies), then takes new blocks. Returns false, changing nothing, when the
  // pool has too few free blocks.
  bool appendTokens(SeqId seq, int64_t n, std::vector<BlockCopy> &copies);
  // Takes blocks up front so that seq can hold totalTokens without taking more later
  // (request-level batching reserves a request's whole length at admission). Returns
  // false, changing nothing, when fewer than that many blocks are free.
  bool reserveTokens(SeqId seq, int64_t totalTokens);

  // child starts with parent's tokens by sharing all of parent's blocks (prefix sharing);
  // the first write into a shared block copies it (appendTokens).
  void fork(SeqId parent, SeqId child);
  // Drops seq's references; its blocks are free once no other table shares them.
  void free(SeqId seq);
  // Forgets seq's tokens from numTokens on (slots given to a step that then failed),
  // releasing the blocks it no longer needs; 0 frees the sequence.
  void truncate(SeqId seq, int64_t numTokens);

  // The pool's books balance, and each block's reference count equals the number of table
  // entries naming it.
  bool checkAccounting() const;

private:
  struct SeqBlocks {
    std::vector<BlockId> blocks;
    int64_t numTokens = 0;
  };

  KvCacheManager(const KvCacheConfig &config, KvBlockPool pool)
      : config_(config), pool_(std::move(pool)) {}
  bool partialBlockNeedsCopy(const SeqBlocks &seq) const;

  KvCacheConfig config_;
  KvBlockPool pool_;
  std::unordered_map<SeqId, SeqBlocks> seqs_;
};

} // namespace modelrt::kv
