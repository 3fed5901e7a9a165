// Per-request block tables over a KvBlockPool: the logical side of the paged KV cache.
// A sequence's table maps token position p to block table[p / blockSize], slot
// p % blockSize. The device owns the memory; the engine reads the tables from here.
#pragma once

#include "runtime/kv/KvBlockPool.h"
#include "runtime/support/Error.h"

#include <cstdint>
#include <optional>
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
  // Automatic prefix caching: full blocks whose tokens are known stay adoptable, by the
  // content of all tokens up to their end, after their sequences free them, until the pool
  // needs them back (freed blocks holding nothing adoptable are reused first).
  bool prefixCaching = false;
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

  // Prefix caching (config().prefixCaching; otherwise these find and record nothing).
  // `space` keeps apart KV that equal tokens give under different weights (a LoRA adapter's
  // number): a block is found only in the space it was committed in.
  // Tokens of tokens[0, n) whose KV sits in cached full blocks, in whole blocks.
  int64_t cachedPrefixTokens(const int32_t *tokens, int64_t n, uint64_t space = 0) const;
  // Creates seq (which must not exist) holding the cached full blocks that match the start
  // of tokens[0, maxTokens), shared with whoever else holds them, and returns how many
  // tokens that covers (a multiple of the block size; 0 creates nothing). `reclaimed`, when
  // given, gets how many of them were free (now taken off the free list).
  int64_t adoptCachedPrefix(SeqId seq, const int32_t *tokens, int64_t maxTokens,
                            int64_t *reclaimed = nullptr, uint64_t space = 0);
  // Records that seq's first numTokens slots hold the KV of tokens[0, numTokens): its full
  // blocks among them become adoptable.
  void commitFullBlocks(SeqId seq, const int32_t *tokens, int64_t numTokens, uint64_t space = 0);
  // Blocks adoptable now (in use or free).
  int64_t numCachedBlocks() const { return static_cast<int64_t>(cache_.size()); }

  // The pool's books balance, each block's reference count equals the number of table
  // entries naming it, and the prefix cache's index and its blocks agree.
  bool checkAccounting() const;

private:
  struct SeqBlocks {
    std::vector<BlockId> blocks;
    int64_t numTokens = 0;
    // Content hashes of the first blocks (all committed or adopted full blocks), chained:
    // hash i covers tokens [0, (i + 1) * blockSize). serials[i]: the index serial of a
    // block holding exactly this block's tokens after exactly this prefix (its own, or the
    // one it adopted or duplicated), or kUnverified.
    std::vector<uint64_t> hashes;
    std::vector<uint64_t> serials;
  };

  KvCacheManager(const KvCacheConfig &config, KvBlockPool pool)
      : config_(config), pool_(std::move(pool)), cached_(config.numBlocks, false),
        blockHash_(config.numBlocks, 0), serial_(config.numBlocks, 0),
        parentSerial_(config.numBlocks, 0),
        blockTokens_(config.prefixCaching ? size_t(config.numBlocks) * config.blockSize : 0) {}
  bool partialBlockNeedsCopy(const SeqBlocks &seq) const;
  // A free block for new contents; a cached one loses its cache entry.
  std::optional<BlockId> takeBlock();
  void releaseBlock(BlockId block) { pool_.release(block, cached_[block]); }
  void uncache(BlockId block);
  uint64_t chainHash(uint64_t parent, const int32_t *tokens) const;
  // The cached block holding tokens[0, blockSize) after the indexed block whose serial is
  // parentSerial, found by the chain hash.
  std::optional<BlockId> lookup(uint64_t hash, const int32_t *tokens, uint64_t parentSerial) const;

  KvCacheConfig config_;
  KvBlockPool pool_;
  std::unordered_map<SeqId, SeqBlocks> seqs_;
  // Prefix cache: chain hash -> block (the hash only finds a candidate), and per block
  // whether it is indexed, its hash, its tokens and two serial numbers: its own (new each
  // time it is indexed) and its parent's. A hit needs the same tokens and the parent the walk
  // just adopted, so the match is exact: no hash collision, made or chance, can hand out KV
  // computed after other tokens, and children of an evicted parent no longer match.
  std::unordered_map<uint64_t, BlockId> cache_;
  std::vector<bool> cached_;
  std::vector<uint64_t> blockHash_, serial_, parentSerial_;
  std::vector<int32_t> blockTokens_;
  uint64_t nextSerial_ = 1; // 0: the root, every first block's parent (in space 0)
  // The serial a first block's parent has in `space`: 0, or one no block gets (block
  // serials count up from 1 and never reach 2^63).
  static uint64_t rootSerial(uint64_t space) {
    return space == 0 ? 0 : (uint64_t(1) << 63) | (space & ((uint64_t(1) << 62) - 1));
  }
  static constexpr uint64_t kUnverified = ~uint64_t(0);
};

} // namespace modelrt::kv
