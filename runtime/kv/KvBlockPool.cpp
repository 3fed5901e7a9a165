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

KvBlockPool::KvBlockPool(int32_t numBlocks)
    : refCounts_(numBlocks, 0), next_(numBlocks + 1), prev_(numBlocks + 1) {
  next_[numBlocks] = prev_[numBlocks] = numBlocks; // empty list: the sentinel alone
  // In id order, so that a fresh pool hands out 0, 1, 2, ...
  for (BlockId block = 0; block < numBlocks; ++block)
    insertAfter(prev_[numBlocks], block);
}

void KvBlockPool::insertAfter(BlockId at, BlockId block) {
  next_[block] = next_[at];
  prev_[block] = at;
  prev_[next_[at]] = block;
  next_[at] = block;
  ++numFree_;
}

void KvBlockPool::unlink(BlockId block) {
  next_[prev_[block]] = next_[block];
  prev_[next_[block]] = prev_[block];
  next_[block] = prev_[block] = block;
  --numFree_;
}

Expected<KvBlockPool> KvBlockPool::create(int32_t numBlocks) {
  if (numBlocks < 1)
    return Error(ErrorCode::InvalidArgument,
                 "KV cache block count must be at least 1, got " + std::to_string(numBlocks));
  return KvBlockPool(numBlocks);
}

std::optional<BlockId> KvBlockPool::allocate() {
  if (numFree_ == 0)
    return std::nullopt;
  BlockId block = next_[numBlocks()];
  MODELRT_KV_CHECK(refCounts_[block] == 0, "free-listed block is referenced", block);
  unlink(block);
  refCounts_[block] = 1;
  return block;
}

void KvBlockPool::reclaim(BlockId block) {
  MODELRT_KV_CHECK(block >= 0 && block < numBlocks(), "reclaim of an out-of-range block", block);
  MODELRT_KV_CHECK(refCounts_[block] == 0, "reclaim of a block in use", block);
  if (refCounts_[block] != 0)
    return;
  unlink(block);
  refCounts_[block] = 1;
}

void KvBlockPool::retain(BlockId block) {
  MODELRT_KV_CHECK(block >= 0 && block < numBlocks(), "retain of an out-of-range block", block);
  MODELRT_KV_CHECK(refCounts_[block] > 0, "use after free: retain of free block", block);
  ++refCounts_[block];
}

void KvBlockPool::release(BlockId block, bool keepLonger) {
  MODELRT_KV_CHECK(block >= 0 && block < numBlocks(), "release of an out-of-range block", block);
  MODELRT_KV_CHECK(refCounts_[block] > 0, "double free: release of free block", block);
  // Release builds skip the checks above; never let a stray release put a block on the free
  // list twice.
  if (refCounts_[block] <= 0)
    return;
  if (--refCounts_[block] == 0) {
    // The sentinel numBlocks() is both ends' neighbour.
    insertAfter(keepLonger ? prev_[numBlocks()] : numBlocks(), block);
  }
}

int32_t KvBlockPool::refCount(BlockId block) const {
  MODELRT_KV_CHECK(block >= 0 && block < numBlocks(), "refCount of an out-of-range block", block);
  return refCounts_[block];
}

bool KvBlockPool::checkAccounting() const {
  std::vector<bool> onFreeList(refCounts_.size(), false);
  int32_t listed = 0;
  for (BlockId block = next_[numBlocks()]; block != numBlocks(); block = next_[block]) {
    if (block < 0 || block >= numBlocks() || onFreeList[block] || refCounts_[block] != 0 ||
        next_[prev_[block]] != block || ++listed > numBlocks())
      return false;
    onFreeList[block] = true;
  }
  if (listed != numFree_)
    return false;
  int32_t used = 0;
  for (size_t block = 0; block < refCounts_.size(); ++block) {
    if (refCounts_[block] < 0 || (refCounts_[block] == 0) != onFreeList[block])
      return false;
    used += refCounts_[block] > 0;
  }
  return used + numFree() == numBlocks();
}

} // namespace modelrt::kv
