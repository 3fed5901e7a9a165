#include "runtime/kv/KvCacheManager.h"

#include <gtest/gtest.h>

using namespace modelrt;
using namespace modelrt::kv;

namespace {

KvCacheManager makeCache(int32_t numBlocks, int32_t blockSize, int32_t watermark = 0) {
  Expected<KvCacheManager> cache = KvCacheManager::create({numBlocks, blockSize, watermark});
  EXPECT_TRUE(cache.ok()) << cache.error().toString();
  return std::move(cache.value());
}

TEST(KvCacheManagerTest, RejectsBadConfig) {
  EXPECT_FALSE(KvCacheManager::create({8, 0, 0}).ok());
  EXPECT_FALSE(KvCacheManager::create({0, 16, 0}).ok());
  Expected<KvCacheManager> cache = KvCacheManager::create({8, 16, 8});
  ASSERT_FALSE(cache.ok());
  EXPECT_NE(cache.error().message().find("watermark"), std::string::npos);
}

TEST(KvCacheManagerTest, AppendTakesBlocksAtBoundaries) {
  KvCacheManager cache = makeCache(8, 4);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(cache.appendTokens(1, 3, copies));
  EXPECT_EQ(cache.blockTable(1).size(), 1u);
  ASSERT_TRUE(cache.appendTokens(1, 1, copies));
  EXPECT_EQ(cache.blockTable(1).size(), 1u);
  ASSERT_TRUE(cache.appendTokens(1, 1, copies));
  EXPECT_EQ(cache.blockTable(1).size(), 2u);
  ASSERT_TRUE(cache.appendTokens(1, 8, copies));
  EXPECT_EQ(cache.numTokens(1), 13);
  EXPECT_EQ(cache.blockTable(1).size(), 4u);
  EXPECT_EQ(cache.numFreeBlocks(), 4);
  EXPECT_TRUE(copies.empty());
  EXPECT_TRUE(cache.checkAccounting());
  cache.free(1);
  EXPECT_EQ(cache.numFreeBlocks(), 8);
  EXPECT_FALSE(cache.hasSeq(1));
  EXPECT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerTest, FailedAppendChangesNothing) {
  KvCacheManager cache = makeCache(2, 4);
  std::vector<BlockCopy> copies;
  EXPECT_FALSE(cache.appendTokens(1, 9, copies));
  EXPECT_FALSE(cache.hasSeq(1));
  ASSERT_TRUE(cache.appendTokens(1, 6, copies));
  EXPECT_FALSE(cache.appendTokens(1, 3, copies));
  EXPECT_EQ(cache.numTokens(1), 6);
  EXPECT_EQ(cache.numFreeBlocks(), 0);
  EXPECT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerTest, TruncateGivesBackBlocksPastTheKeptTokens) {
  KvCacheManager cache = makeCache(8, 4);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(cache.appendTokens(1, 5, copies));
  ASSERT_TRUE(cache.appendTokens(1, 6, copies)); // 11 tokens, 3 blocks
  cache.truncate(1, 5);
  EXPECT_EQ(cache.numTokens(1), 5);
  EXPECT_EQ(cache.blockTable(1).size(), 2u);
  EXPECT_EQ(cache.numFreeBlocks(), 6);
  cache.truncate(1, 9); // longer than the sequence: nothing changes
  EXPECT_EQ(cache.numTokens(1), 5);
  EXPECT_TRUE(cache.checkAccounting());
  cache.truncate(1, 0);
  EXPECT_FALSE(cache.hasSeq(1));
  EXPECT_EQ(cache.numFreeBlocks(), 8);
  EXPECT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerTest, AppendableTokensCountsRoomAndKeepsFreeBlocks) {
  KvCacheManager cache = makeCache(4, 4);
  std::vector<BlockCopy> copies;
  EXPECT_EQ(cache.appendableTokens(1, 100, 0), 16);
  EXPECT_EQ(cache.appendableTokens(1, 100, 1), 12);
  EXPECT_EQ(cache.appendableTokens(1, 5, 1), 5);
  ASSERT_TRUE(cache.appendTokens(1, 5, copies));
  // 3 slots left in the second block, plus 2 free blocks.
  EXPECT_EQ(cache.appendableTokens(1, 100, 0), 11);
  EXPECT_EQ(cache.appendableTokens(1, 100, 2), 3);
  EXPECT_EQ(cache.appendableTokens(2, 100, 2), 0);
}

TEST(KvCacheManagerTest, ReserveTakesBlocksWithoutTokens) {
  KvCacheManager cache = makeCache(4, 4);
  ASSERT_TRUE(cache.reserveTokens(1, 10));
  EXPECT_EQ(cache.numTokens(1), 0);
  EXPECT_EQ(cache.blockTable(1).size(), 3u);
  EXPECT_FALSE(cache.reserveTokens(2, 5));
  EXPECT_FALSE(cache.hasSeq(2));
  std::vector<BlockCopy> copies;
  EXPECT_EQ(cache.appendableTokens(1, 100, 1), 12);
  ASSERT_TRUE(cache.appendTokens(1, 10, copies));
  EXPECT_EQ(cache.numFreeBlocks(), 1);
  EXPECT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerTest, ForkSharesBlocksAndCopiesOnWrite) {
  KvCacheManager cache = makeCache(8, 4);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(cache.appendTokens(1, 6, copies)); // one full block, one half block
  cache.fork(1, 2);
  EXPECT_EQ(cache.blockTable(2), cache.blockTable(1));
  for (BlockId block : cache.blockTable(1))
    EXPECT_EQ(cache.pool().refCount(block), 2);
  EXPECT_EQ(cache.numFreeBlocks(), 6);
  EXPECT_TRUE(cache.checkAccounting());

  // Writing into the shared half block needs a block of its own first.
  EXPECT_EQ(cache.appendableTokens(2, 100, 0), 2 + 5 * 4);
  std::vector<BlockId> parentTable = cache.blockTable(1);
  ASSERT_TRUE(cache.appendTokens(2, 1, copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, parentTable[1]);
  EXPECT_EQ(cache.blockTable(2)[0], parentTable[0]); // the full block stays shared
  EXPECT_EQ(cache.blockTable(2)[1], copies[0].dst);
  EXPECT_EQ(cache.blockTable(1), parentTable);
  EXPECT_EQ(cache.pool().refCount(parentTable[0]), 2);
  EXPECT_EQ(cache.pool().refCount(parentTable[1]), 1);
  EXPECT_TRUE(cache.checkAccounting());

  // Sequence 2 now ends at a block boundary; a child appending after a shared full block
  // takes a new block and copies nothing.
  copies.clear();
  ASSERT_TRUE(cache.appendTokens(2, 1, copies));
  EXPECT_TRUE(copies.empty()); // seq 2 owns its second block alone
  cache.fork(2, 3);
  ASSERT_TRUE(cache.appendTokens(3, 1, copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(cache.blockTable(3).size(), 3u);
  EXPECT_EQ(cache.pool().refCount(cache.blockTable(3)[1]), 2);
  EXPECT_TRUE(cache.checkAccounting());
  cache.free(1);
  cache.free(2);
  cache.free(3);
  EXPECT_EQ(cache.numFreeBlocks(), 8);
  EXPECT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerTest, CopyOnWriteWaitsForABlock) {
  KvCacheManager cache = makeCache(1, 4);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(cache.appendTokens(1, 2, copies));
  cache.fork(1, 2);
  EXPECT_EQ(cache.appendableTokens(2, 1, 0), 0);
  EXPECT_FALSE(cache.appendTokens(2, 1, copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(cache.numTokens(2), 2);
  cache.free(1);
  // Sole owner now: writes in place.
  EXPECT_EQ(cache.appendableTokens(2, 10, 0), 2);
  ASSERT_TRUE(cache.appendTokens(2, 2, copies));
  EXPECT_TRUE(copies.empty());
}

KvCacheManager makePrefixCache(int32_t numBlocks, int32_t blockSize) {
  Expected<KvCacheManager> cache = KvCacheManager::create({numBlocks, blockSize, 0, true});
  EXPECT_TRUE(cache.ok()) << cache.error().toString();
  return std::move(cache.value());
}

// Fills seq with tokens (all computed) and commits its full blocks.
void compute(KvCacheManager &cache, SeqId seq, const std::vector<int32_t> &tokens) {
  std::vector<BlockCopy> copies;
  int64_t have = cache.numTokens(seq);
  ASSERT_TRUE(cache.appendTokens(seq, int64_t(tokens.size()) - have, copies));
  EXPECT_TRUE(copies.empty());
  cache.commitFullBlocks(seq, tokens.data(), int64_t(tokens.size()));
}

std::vector<int32_t> iota(int32_t n, int32_t first) {
  std::vector<int32_t> v(n);
  for (int32_t i = 0; i < n; ++i)
    v[i] = first + i;
  return v;
}

TEST(KvCacheManagerPrefixTest, AFreedSequencesFullBlocksAreAdoptedByTheSamePrefix) {
  KvCacheManager cache = makePrefixCache(8, 4);
  std::vector<int32_t> a = iota(10, 100); // blocks [100..103] [104..107], 2 tokens partial
  ASSERT_NO_FATAL_FAILURE(compute(cache, 1, a));
  std::vector<BlockId> tableA = cache.blockTable(1);
  EXPECT_EQ(cache.numCachedBlocks(), 2);
  cache.free(1);
  EXPECT_EQ(cache.numFreeBlocks(), 8);
  EXPECT_EQ(cache.numCachedBlocks(), 2); // free, still adoptable
  ASSERT_TRUE(cache.checkAccounting());

  // Same 9 first tokens: both full blocks; a different second block: the first only.
  std::vector<int32_t> b = iota(9, 100);
  EXPECT_EQ(cache.cachedPrefixTokens(b.data(), 9), 8);
  EXPECT_EQ(cache.adoptCachedPrefix(2, b.data(), 8), 8);
  EXPECT_EQ(cache.numTokens(2), 8);
  EXPECT_EQ(cache.blockTable(2), std::vector<BlockId>(tableA.begin(), tableA.begin() + 2));
  EXPECT_EQ(cache.numFreeBlocks(), 6);
  std::vector<int32_t> c = iota(9, 100);
  c[6] = 7;
  EXPECT_EQ(cache.adoptCachedPrefix(3, c.data(), 8), 4);
  EXPECT_EQ(cache.blockTable(3)[0], tableA[0]);
  EXPECT_EQ(cache.pool().refCount(tableA[0]), 2);
  // Adoption stops at maxTokens, whole blocks only, and never starts from a later block.
  std::vector<int32_t> d = iota(9, 104);
  EXPECT_EQ(cache.adoptCachedPrefix(4, d.data(), 8), 0);
  EXPECT_FALSE(cache.hasSeq(4));
  EXPECT_EQ(cache.adoptCachedPrefix(5, b.data(), 7), 4);

  // The adopter writes past the shared blocks into a block of its own: no copy.
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(cache.appendTokens(2, 1, copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(cache.blockTable(2).size(), 3u);
  ASSERT_TRUE(cache.checkAccounting());
  for (SeqId seq : {2, 3, 5})
    cache.free(seq);
  EXPECT_EQ(cache.numFreeBlocks(), 8);
  ASSERT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerPrefixTest, PlainFreedBlocksAreReusedBeforeCachedOnesOldestCachedFirst) {
  KvCacheManager cache = makePrefixCache(6, 2);
  std::vector<int32_t> a = iota(4, 10), b = iota(4, 20);
  ASSERT_NO_FATAL_FAILURE(compute(cache, 1, a)); // 2 cached blocks
  ASSERT_NO_FATAL_FAILURE(compute(cache, 2, b)); // 2 more
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(cache.appendTokens(3, 1, copies)); // a partial block: nothing to cache
  cache.free(1);
  cache.free(2);
  cache.free(3);
  EXPECT_EQ(cache.numCachedBlocks(), 4);
  // Three new blocks: the two free uncached ones first, then the cached block freed longest
  // ago, which is the end of a's prefix (sequences free their blocks last first, so the
  // blocks every longer match needs go last).
  ASSERT_TRUE(cache.appendTokens(4, 6, copies));
  EXPECT_EQ(cache.numCachedBlocks(), 3);
  EXPECT_EQ(cache.cachedPrefixTokens(a.data(), 4), 2); // a's second block went
  EXPECT_EQ(cache.cachedPrefixTokens(b.data(), 4), 4); // b's blocks stay
  ASSERT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerPrefixTest, TruncatingIntoACachedBlockUncachesIt) {
  KvCacheManager cache = makePrefixCache(4, 4);
  std::vector<int32_t> a = iota(8, 1);
  ASSERT_NO_FATAL_FAILURE(compute(cache, 1, a));
  EXPECT_EQ(cache.numCachedBlocks(), 2);
  cache.truncate(1, 6); // the second block will be written again
  EXPECT_EQ(cache.numCachedBlocks(), 1);
  EXPECT_EQ(cache.cachedPrefixTokens(a.data(), 8), 4);
  ASSERT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerPrefixTest, TruncatingToABlockBoundaryKeepsTheKeptBlocksIndexed) {
  KvCacheManager cache = makePrefixCache(6, 2);
  std::vector<int32_t> a = iota(6, 1);
  ASSERT_NO_FATAL_FAILURE(compute(cache, 1, a));
  cache.truncate(1, 4); // the third block is cut off, not into
  EXPECT_EQ(cache.blockTable(1).size(), 2u);
  EXPECT_EQ(cache.cachedPrefixTokens(a.data(), 6), 6); // the freed third block stays indexed
  ASSERT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerPrefixTest, OffByDefault) {
  KvCacheManager cache = makeCache(4, 4);
  std::vector<int32_t> a = iota(8, 1);
  ASSERT_NO_FATAL_FAILURE(compute(cache, 1, a));
  cache.free(1);
  EXPECT_EQ(cache.numCachedBlocks(), 0);
  EXPECT_EQ(cache.adoptCachedPrefix(2, a.data(), 8), 0);
  EXPECT_FALSE(cache.hasSeq(2));
}

TEST(KvCacheManagerDeathTest, DoubleFreeOfASequenceIsCaughtInDebugBuilds) {
  KvCacheManager cache = makeCache(2, 4);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(cache.appendTokens(1, 3, copies));
  cache.free(1);
  EXPECT_DEBUG_DEATH(cache.free(1), "double free");
  EXPECT_TRUE(cache.checkAccounting());
}

TEST(KvCacheManagerDeathTest, TableOfAFreedSequenceIsCaughtInDebugBuilds) {
  KvCacheManager cache = makeCache(2, 4);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(cache.appendTokens(1, 3, copies));
  cache.free(1);
  EXPECT_DEBUG_DEATH((void)cache.blockTable(1), "use after free");
}

} // namespace
