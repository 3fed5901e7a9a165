// Runs one iteration of a plan's program on the CPU: the flattened tokens of every
// scheduled request go through the GEMMs and fused kernels together (selective batching);
// attention alone runs request by request over that request's own KV cache.
//
// f32 plans, single rank. The KV cache is paged: the executor owns the blocks' memory,
// the caller (the scheduler's runtime/kv tables, or Sequences) decides which block holds
// which token.
#pragma once

#include "runtime/device/cpu/CpuKernelLibrary.h"
#include "runtime/kv/KvCacheManager.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace modelrt::engine {

// One request's part of an iteration: `numTokens` consecutive rows of the flattened batch
// (its prompt chunk, or one decode token) at positions startPosition.. of the sequence.
// Their K and V go into the cache slots the block table names (position p: block
// blockTable[p / blockSize], slot p % blockSize); attention reads positions [0, end) of
// the sequence through the same table.
struct PagedChunk {
  int64_t startPosition;
  int64_t numTokens;
  bool sample; // whether its last row's logits are wanted
  const std::vector<int32_t> *blockTable;
  bool allLogits = false; // every row's logits (prompt logprobs), not only the last one's
};

struct ExecutorOptions {
  // Memory for the paged KV cache; 0 takes enough for max_num_seqs sequences of
  // max_seq_len tokens, at most kDefaultKvCacheBytes.
  int64_t kvCacheBytes = 0;
  int32_t kvBlockSize = 16;
  static constexpr int64_t kDefaultKvCacheBytes = int64_t(1) << 30;
};

class CpuExecutor {
public:
  static Expected<std::unique_ptr<CpuExecutor>> load(const std::string &planPath,
                                                     const ExecutorOptions &options = {});

  const plan::PlanMetadata &metadata() const { return meta_; }
  int32_t numKvBlocks() const { return numKvBlocks_; }
  int32_t kvBlockSize() const { return kvBlockSize_; }

  // Copies whole KV blocks (copy-on-write of shared blocks), before the step that writes.
  Status copyBlocks(const std::vector<kv::BlockCopy> &copies);

  // Runs the chunks' tokens (concatenated in chunk order) and returns the logits of the
  // wanted rows, [rows, vocab], row-major, in chunk order: every row of an allLogits chunk,
  // the last row of the others with `sample`. A failed step has written nothing
  // but the new tokens' slots, which the caller does not count as filled.
  Expected<std::vector<float>> step(const std::vector<int32_t> &tokens,
                                    const std::vector<PagedChunk> &chunks);

  ~CpuExecutor();

  struct Impl; // the loaded program and its buffers

private:
  CpuExecutor() = default;
  plan::PlanFile file_;
  plan::PlanMetadata meta_;
  std::unique_ptr<Impl> impl_;
  int32_t numKvBlocks_ = 0, kvBlockSize_ = 16;
};

} // namespace modelrt::engine
