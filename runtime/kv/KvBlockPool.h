// The pool of fixed-size KV cache blocks: which blocks are free and how many block tables
// reference each one. It is bookkeeping only; the device owns the memory the ids index.
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace modelrt::kv {

using BlockId = int32_t;

class KvBlockPool {
public:
  // A pool of numBlocks blocks, all free. numBlocks must be at least 1.
  static Expected<KvBlockPool> create(int32_t numBlocks);

  int32_t numBlocks() const { return static_cast<int32_t>(refCounts_.size()); }
  int32_t numFree() const { return numFree_; }
  int32_t numUsed() const { return numBlocks() - numFree(); }

  // Takes the block at the front of the free list with reference count 1; nullopt when
  // none is free.
  std::optional<BlockId> allocate();
  // Takes a particular free block (one whose contents a new table adopts) with reference
  // count 1.
  void reclaim(BlockId block);
  // Adds a reference to a used block (a second table shares it, e.g. a common prefix).
  void retain(BlockId block);
  // Drops a reference; the block returns to the free list when the last one goes: at the
  // front (reused first, which keeps the touched set small), or at the back with
  // `keepLonger` (a block whose contents may be adopted again: reused last, oldest first).
  void release(BlockId block, bool keepLonger = false);
  int32_t refCount(BlockId block) const;

  // Recounts the books from scratch: every block is either free with no reference or used
  // with at least one, nothing is on the free list twice, and free + used == total.
  bool checkAccounting() const;

private:
  explicit KvBlockPool(int32_t numBlocks);

  // Links a free block into the list after `at` (a block or the sentinel).
  void insertAfter(BlockId at, BlockId block);
  void unlink(BlockId block);

  std::vector<int32_t> refCounts_;
  // The free list, doubly linked through next_/prev_ with a sentinel at index numBlocks
  // (O(1) reclaim of any free block); allocate() takes the front.
  std::vector<BlockId> next_, prev_;
  int32_t numFree_ = 0;
};

} // namespace modelrt::kv
