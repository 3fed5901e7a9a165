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
  int32_t numFree() const { return static_cast<int32_t>(freeList_.size()); }
  int32_t numUsed() const { return numBlocks() - numFree(); }

  // Takes a free block with reference count 1; nullopt when none is free.
  std::optional<BlockId> allocate();
  // Adds a reference to a used block (a second table shares it, e.g. a common prefix).
  void retain(BlockId block);
  // Drops a reference; the block returns to the free list when the last one goes.
  void release(BlockId block);
  int32_t refCount(BlockId block) const;

  // Recounts the books from scratch: every block is either free with no reference or used
  // with at least one, nothing is on the free list twice, and free + used == total.
  bool checkAccounting() const;

private:
  explicit KvBlockPool(int32_t numBlocks);

  std::vector<int32_t> refCounts_;
  // LIFO: a just-freed block is reused first, which keeps the touched set small.
  std::vector<BlockId> freeList_;
};

} // namespace modelrt::kv
