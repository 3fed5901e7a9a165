#include "runtime/kv/KvCacheManager.h"
#include "runtime/kv/KvCheck.h"

#include <algorithm>
#include <string>

namespace modelrt::kv {

Expected<KvCacheManager> KvCacheManager::create(const KvCacheConfig &config) {
  if (config.blockSize < 1)
    return Error(ErrorCode::InvalidArgument,
                 "KV cache block size must be at least 1, got " + std::to_string(config.blockSize));
  if (config.watermarkBlocks < 0 || config.watermarkBlocks >= config.numBlocks)
    return Error(ErrorCode::InvalidArgument, "KV cache watermark must be in [0, block count " +
                                                 std::to_string(config.numBlocks) + "), got " +
                                                 std::to_string(config.watermarkBlocks));
  Expected<KvBlockPool> pool = KvBlockPool::create(config.numBlocks);
  if (!pool)
    return pool.error();
  return KvCacheManager(config, std::move(pool.value()));
}

int64_t KvCacheManager::numTokens(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.numTokens;
}

const std::vector<BlockId> &KvCacheManager::blockTable(SeqId seq) const {
  static const std::vector<BlockId> empty;
  auto it = seqs_.find(seq);
  MODELRT_KV_CHECK(it != seqs_.end(), "use after free: block table of a freed sequence", seq);
  if (it == seqs_.end())
    return empty;
#ifndef NDEBUG
  for (BlockId block : it->second.blocks)
    MODELRT_KV_CHECK(pool_.refCount(block) > 0, "use after free: table names a free block", block);
#endif
  return it->second.blocks;
}

bool KvCacheManager::partialBlockNeedsCopy(const SeqBlocks &seq) const {
  // Only a partly filled block is written again; a full shared block stays shared.
  return seq.numTokens % config_.blockSize != 0 &&
         pool_.refCount(seq.blocks[seq.numTokens / config_.blockSize]) > 1;
}

int64_t KvCacheManager::appendableTokens(SeqId seq, int64_t wanted, int32_t keepFree) const {
  if (wanted <= 0)
    return 0;
  int64_t spareBlocks = std::max<int64_t>(0, int64_t(pool_.numFree()) - keepFree);
  int64_t roomInTable = 0;
  auto it = seqs_.find(seq);
  if (it != seqs_.end()) {
    const SeqBlocks &s = it->second;
    roomInTable = int64_t(s.blocks.size()) * config_.blockSize - s.numTokens;
    if (partialBlockNeedsCopy(s)) {
      if (spareBlocks == 0)
        return 0;
      --spareBlocks;
    }
  }
  return std::min(wanted, roomInTable + spareBlocks * config_.blockSize);
}

bool KvCacheManager::appendTokens(SeqId seq, int64_t n, std::vector<BlockCopy> &copies) {
  SeqBlocks &s = seqs_[seq];
  bool copy = n > 0 && partialBlockNeedsCopy(s);
  int64_t newBlocks =
      std::max<int64_t>(0, blocksForTokens(s.numTokens + n) - int64_t(s.blocks.size()));
  if (newBlocks + copy > pool_.numFree()) {
    if (s.blocks.empty())
      seqs_.erase(seq);
    return false;
  }
  if (copy) {
    BlockId &partial = s.blocks[s.numTokens / config_.blockSize];
    BlockId dst = *pool_.allocate();
    copies.push_back({partial, dst});
    pool_.release(partial);
    partial = dst;
  }
  for (int64_t i = 0; i < newBlocks; ++i)
    s.blocks.push_back(*pool_.allocate());
  s.numTokens += n;
  return true;
}

bool KvCacheManager::reserveTokens(SeqId seq, int64_t totalTokens) {
  SeqBlocks &s = seqs_[seq];
  int64_t newBlocks = std::max<int64_t>(0, blocksForTokens(totalTokens) - int64_t(s.blocks.size()));
  if (newBlocks > pool_.numFree()) {
    if (s.blocks.empty())
      seqs_.erase(seq);
    return false;
  }
  for (int64_t i = 0; i < newBlocks; ++i)
    s.blocks.push_back(*pool_.allocate());
  return true;
}

void KvCacheManager::fork(SeqId parent, SeqId child) {
  auto it = seqs_.find(parent);
  MODELRT_KV_CHECK(it != seqs_.end(), "use after free: fork of a freed sequence", parent);
  MODELRT_KV_CHECK(!hasSeq(child), "fork into a sequence that already has blocks", child);
  if (it == seqs_.end() || hasSeq(child))
    return;
  SeqBlocks copy = it->second;
  // Reserved blocks past the parent's tokens hold nothing to share.
  copy.blocks.resize(blocksForTokens(copy.numTokens));
  for (BlockId block : copy.blocks)
    pool_.retain(block);
  seqs_.emplace(child, std::move(copy));
}

void KvCacheManager::free(SeqId seq) {
  auto it = seqs_.find(seq);
  MODELRT_KV_CHECK(it != seqs_.end(), "double free: free of a freed sequence", seq);
  if (it == seqs_.end())
    return;
  for (BlockId block : it->second.blocks)
    pool_.release(block);
  seqs_.erase(it);
}

void KvCacheManager::truncate(SeqId seq, int64_t numTokens) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end() || numTokens >= it->second.numTokens)
    return;
  if (numTokens <= 0) {
    free(seq);
    return;
  }
  SeqBlocks &s = it->second;
  while (int64_t(s.blocks.size()) > blocksForTokens(numTokens)) {
    pool_.release(s.blocks.back());
    s.blocks.pop_back();
  }
  s.numTokens = numTokens;
}

bool KvCacheManager::checkAccounting() const {
  if (!pool_.checkAccounting())
    return false;
  std::vector<int32_t> references(pool_.numBlocks(), 0);
  for (const auto &[seq, s] : seqs_) {
    if (int64_t(s.blocks.size()) < blocksForTokens(s.numTokens))
      return false;
    for (BlockId block : s.blocks) {
      if (block < 0 || block >= pool_.numBlocks())
        return false;
      ++references[block];
    }
  }
  for (BlockId block = 0; block < pool_.numBlocks(); ++block)
    if (references[block] != pool_.refCount(block))
      return false;
  return true;
}

} // namespace modelrt::kv
