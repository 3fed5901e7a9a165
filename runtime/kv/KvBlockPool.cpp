#include "runtime/kv/KvBlockPool.h"
#include "runtime/kv/KvCheck.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace modelrt::kv {

void reportKvMisuse(const char *what, int64_t id) {
  std::fprintf(stderr, "modelrt::kv: %s (%lld)\n", what, static_cast<long long>(id));
  std::abort();
}

KvBlockPool::KvBlockPool(int32_t numBlocks) : refCounts_(numBlocks, 0) {
  freeList_.reserve(numBlocks);
  // Highest id at the bottom so that a fresh pool hands out 0, 1, 2, ...
  for (BlockId block = numBlocks - 1; block >= 0; --block)
    freeList_.push_back(block);
}

Expected<KvBlockPool> KvBlockPool::create(int32_t numBlocks) {
  if (numBlocks < 1)
    return Error(ErrorCode::InvalidArgument,
                 "KV cache block count must be at least 1, got " + std::to_string(numBlocks));
  return KvBlockPool(numBlocks);
}

std::optional<BlockId> KvBlockPool::allocate() {
  if (freeList_.empty())
    return std::nullopt;
  BlockId block = freeList_.back();
  freeList_.pop_back();
  MODELRT_KV_CHECK(refCounts_[block] == 0, "free-listed block is referenced", block);
  refCounts_[block] = 1;
  return block;
}

void KvBlockPool::retain(BlockId block) {
  MODELRT_KV_CHECK(block >= 0 && block < numBlocks(), "retain of an out-of-range block", block);
  MODELRT_KV_CHECK(refCounts_[block] > 0, "use after free: retain of free block", block);
  ++refCounts_[block];
}

void KvBlockPool::release(BlockId block) {
  MODELRT_KV_CHECK(block >= 0 && block < numBlocks(), "release of an out-of-range block", block);
  MODELRT_KV_CHECK(refCounts_[block] > 0, "double free: release of free block", block);
  // Release builds skip the checks above; never let a stray release put a block on the free
  // list twice.
  if (refCounts_[block] <= 0)
    return;
  if (--refCounts_[block] == 0)
    freeList_.push_back(block);
}

int32_t KvBlockPool::refCount(BlockId block) const {
  MODELRT_KV_CHECK(block >= 0 && block < numBlocks(), "refCount of an out-of-range block", block);
  return refCounts_[block];
}

bool KvBlockPool::checkAccounting() const {
  std::vector<bool> onFreeList(refCounts_.size(), false);
  for (BlockId block : freeList_) {
    if (block < 0 || block >= numBlocks() || onFreeList[block] || refCounts_[block] != 0)
      return false;
    onFreeList[block] = true;
  }
  int32_t used = 0;
  for (size_t block = 0; block < refCounts_.size(); ++block) {
    if (refCounts_[block] < 0 || (refCounts_[block] == 0) != onFreeList[block])
      return false;
    used += refCounts_[block] > 0;
  }
  return used + numFree() == numBlocks();
}

} // namespace modelrt::kv
