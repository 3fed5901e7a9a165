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
    BlockId dst = *takeBlock();
    copies.push_back({partial, dst});
    releaseBlock(partial);
    partial = dst;
  }
  for (int64_t i = 0; i < newBlocks; ++i)
    s.blocks.push_back(*takeBlock());
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
    s.blocks.push_back(*takeBlock());
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
  copy.hashes.resize(std::min(copy.hashes.size(), copy.blocks.size()));
  copy.serials.resize(copy.hashes.size());
  for (BlockId block : copy.blocks)
    pool_.retain(block);
  seqs_.emplace(child, std::move(copy));
}

void KvCacheManager::free(SeqId seq) {
  auto it = seqs_.find(seq);
  MODELRT_KV_CHECK(it != seqs_.end(), "double free: free of a freed sequence", seq);
  if (it == seqs_.end())
    return;
  // Last block first: the free list's oldest cached blocks are then the ends of prefixes,
  // and a prefix's first blocks, which every longer match needs, are evicted last.
  for (auto b = it->second.blocks.rbegin(); b != it->second.blocks.rend(); ++b)
    releaseBlock(*b);
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
    releaseBlock(s.blocks.back());
    s.blocks.pop_back();
  }
  s.numTokens = numTokens;
  // A block cut into is written again: it no longer holds what its hash says (when shared,
  // the write copies it first and the cached contents stay intact).
  int64_t full = numTokens / config_.blockSize;
  if (int64_t(s.hashes.size()) > full) {
    s.hashes.resize(full);
    s.serials.resize(full);
    if (full < int64_t(s.blocks.size())) { // a block cut into, not one cut off
      BlockId cut = s.blocks[full];
      if (cached_[cut] && pool_.refCount(cut) == 1)
        uncache(cut);
    }
  }
}

std::optional<BlockId> KvCacheManager::takeBlock() {
  std::optional<BlockId> block = pool_.allocate();
  if (block && cached_[*block])
    uncache(*block);
  return block;
}

void KvCacheManager::uncache(BlockId block) {
  auto it = cache_.find(blockHash_[block]);
  if (it != cache_.end() && it->second == block)
    cache_.erase(it);
  cached_[block] = false;
}

uint64_t KvCacheManager::chainHash(uint64_t parent, const int32_t *tokens) const {
  // 64-bit FNV-1a over the parent's hash and the block's tokens, then a final mix.
  uint64_t h = 1469598103934665603ull ^ parent;
  for (int32_t i = 0; i < config_.blockSize; ++i)
    h = (h ^ uint32_t(tokens[i])) * 1099511628211ull;
  h ^= h >> 31;
  h *= 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 29);
}

std::optional<BlockId> KvCacheManager::lookup(uint64_t hash, const int32_t *tokens,
                                              uint64_t parentSerial) const {
  auto it = cache_.find(hash);
  if (it == cache_.end() || parentSerial_[it->second] != parentSerial)
    return std::nullopt;
  const int32_t *held = blockTokens_.data() + size_t(it->second) * config_.blockSize;
  if (!std::equal(tokens, tokens + config_.blockSize, held))
    return std::nullopt;
  return it->second;
}

int64_t KvCacheManager::cachedPrefixTokens(const int32_t *tokens, int64_t n,
                                           uint64_t space) const {
  if (!config_.prefixCaching)
    return 0;
  uint64_t hash = rootSerial(space), parent = rootSerial(space);
  int64_t matched = 0;
  for (; matched + config_.blockSize <= n; matched += config_.blockSize) {
    hash = chainHash(hash, tokens + matched);
    std::optional<BlockId> block = lookup(hash, tokens + matched, parent);
    if (!block)
      break;
    parent = serial_[*block];
  }
  return matched;
}

int64_t KvCacheManager::adoptCachedPrefix(SeqId seq, const int32_t *tokens, int64_t maxTokens,
                                          int64_t *reclaimed, uint64_t space) {
  MODELRT_KV_CHECK(!hasSeq(seq), "adopting a prefix into a sequence that has blocks", seq);
  if (reclaimed)
    *reclaimed = 0;
  if (!config_.prefixCaching || hasSeq(seq))
    return 0;
  SeqBlocks s;
  uint64_t hash = rootSerial(space), parent = rootSerial(space);
  for (int64_t at = 0; at + config_.blockSize <= maxTokens; at += config_.blockSize) {
    hash = chainHash(hash, tokens + at);
    std::optional<BlockId> block = lookup(hash, tokens + at, parent);
    if (!block)
      break;
    parent = serial_[*block];
    if (pool_.refCount(*block) > 0) {
      pool_.retain(*block);
    } else {
      pool_.reclaim(*block);
      if (reclaimed)
        ++*reclaimed;
    }
    s.blocks.push_back(*block);
    s.hashes.push_back(hash);
    s.serials.push_back(serial_[*block]);
    s.numTokens = at + config_.blockSize;
  }
  int64_t adopted = s.numTokens;
  if (adopted > 0)
    seqs_.emplace(seq, std::move(s));
  return adopted;
}

void KvCacheManager::commitFullBlocks(SeqId seq, const int32_t *tokens, int64_t numTokens,
                                      uint64_t space) {
  auto it = seqs_.find(seq);
  if (!config_.prefixCaching || it == seqs_.end())
    return;
  SeqBlocks &s = it->second;
  const int64_t full = std::min(numTokens, s.numTokens) / config_.blockSize;
  for (int64_t i = int64_t(s.hashes.size()); i < full; ++i) {
    const int32_t *blockTokens = tokens + i * config_.blockSize;
    uint64_t hash = chainHash(i == 0 ? rootSerial(space) : s.hashes[i - 1], blockTokens);
    s.hashes.push_back(hash);
    BlockId block = s.blocks[i];
    // The parent is what this sequence's previous block was verified to equal; a block
    // after an unverified one is never indexed.
    const uint64_t parent = i == 0 ? rootSerial(space) : s.serials[size_t(i - 1)];
    if (parent == kUnverified) {
      s.serials.push_back(kUnverified);
      continue;
    }
    if (cached_[block]) {
      s.serials.push_back(serial_[block]);
      continue;
    }
    // Another block may already be indexed under this hash (the same contents computed side
    // by side, or a collision): it stands for this one only if it matches exactly.
    if (auto it = cache_.find(hash); it != cache_.end()) {
      const BlockId other = it->second;
      const int32_t *held = blockTokens_.data() + size_t(other) * config_.blockSize;
      const bool same = parentSerial_[other] == parent &&
                        std::equal(blockTokens, blockTokens + config_.blockSize, held);
      s.serials.push_back(same ? serial_[other] : kUnverified);
      continue;
    }
    cache_.emplace(hash, block);
    cached_[block] = true;
    blockHash_[block] = hash;
    serial_[block] = nextSerial_++;
    parentSerial_[block] = parent;
    s.serials.push_back(serial_[block]);
    std::copy(blockTokens, blockTokens + config_.blockSize,
              blockTokens_.begin() + size_t(block) * config_.blockSize);
  }
}

bool KvCacheManager::checkAccounting() const {
  if (!pool_.checkAccounting())
    return false;
  for (const auto &[hash, block] : cache_)
    if (block < 0 || block >= pool_.numBlocks() || !cached_[block] || blockHash_[block] != hash)
      return false;
  for (BlockId block = 0; block < pool_.numBlocks(); ++block)
    if (cached_[block] && cache_.count(blockHash_[block]) == 0)
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
