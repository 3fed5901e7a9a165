#include "runtime/kv/KvBlockPool.h"

#include <gtest/gtest.h>

#include <set>

using namespace modelrt;
using namespace modelrt::kv;

namespace {

KvBlockPool makePool(int32_t numBlocks) {
  Expected<KvBlockPool> pool = KvBlockPool::create(numBlocks);
  EXPECT_TRUE(pool.ok());
  return std::move(pool.value());
}

TEST(KvBlockPoolTest, RejectsEmptyPool) {
  Expected<KvBlockPool> pool = KvBlockPool::create(0);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.error().code(), ErrorCode::InvalidArgument);
  EXPECT_NE(pool.error().message().find("at least 1"), std::string::npos);
}

TEST(KvBlockPoolTest, AllocatesEveryBlockOnceThenRunsOut) {
  KvBlockPool pool = makePool(4);
  std::set<BlockId> seen;
  for (int i = 0; i < 4; ++i) {
    std::optional<BlockId> block = pool.allocate();
    ASSERT_TRUE(block.has_value());
    EXPECT_TRUE(seen.insert(*block).second);
    EXPECT_EQ(pool.refCount(*block), 1);
    EXPECT_EQ(pool.numFree() + pool.numUsed(), pool.numBlocks());
    EXPECT_TRUE(pool.checkAccounting());
  }
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_EQ(pool.numFree(), 0);
  EXPECT_EQ(seen, (std::set<BlockId>{0, 1, 2, 3}));
}

TEST(KvBlockPoolTest, SharedBlockIsFreedWithItsLastReference) {
  KvBlockPool pool = makePool(2);
  BlockId block = *pool.allocate();
  pool.retain(block);
  EXPECT_EQ(pool.refCount(block), 2);
  pool.release(block);
  EXPECT_EQ(pool.refCount(block), 1);
  EXPECT_EQ(pool.numFree(), 1);
  pool.release(block);
  EXPECT_EQ(pool.refCount(block), 0);
  EXPECT_EQ(pool.numFree(), 2);
  EXPECT_TRUE(pool.checkAccounting());
  // The most recently freed block is reused first.
  EXPECT_EQ(*pool.allocate(), block);
}

TEST(KvBlockPoolDeathTest, DoubleFreeIsCaughtInDebugBuilds) {
  KvBlockPool pool = makePool(2);
  BlockId block = *pool.allocate();
  pool.release(block);
  EXPECT_DEBUG_DEATH(pool.release(block), "double free");
  // Release builds ignore it rather than listing the block twice.
  EXPECT_TRUE(pool.checkAccounting());
}

TEST(KvBlockPoolDeathTest, RetainAfterFreeIsCaughtInDebugBuilds) {
#ifndef NDEBUG
  KvBlockPool pool = makePool(2);
  BlockId block = *pool.allocate();
  pool.release(block);
  EXPECT_DEATH(pool.retain(block), "use after free");
#else
  GTEST_SKIP() << "the check is compiled out with NDEBUG";
#endif
}

} // namespace
