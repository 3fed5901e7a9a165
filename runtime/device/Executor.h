// What the engine asks of a backend: run one iteration of a plan's program over a ragged
// batch (selective batching: every request's tokens flattened into one [T, D] batch;
// attention alone per request over its own paged KV cache) and return the logits of the
// rows to sample. The CPU executor (runtime/engine) and the CUDA executor
// (runtime/device/cuda) implement it; the engine, scheduler and server see only this.
#pragma once

#include "runtime/kv/KvCacheManager.h"
#include "runtime/plan/PlanMetadata.h"
#include "runtime/support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace modelrt {

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

class Executor {
public:
  virtual ~Executor() = default;

  virtual const plan::PlanMetadata &metadata() const = 0;
  virtual int32_t numKvBlocks() const = 0;
  virtual int32_t kvBlockSize() const = 0;
  // This executor's rank in a multi-rank plan (0 for a single-rank plan).
  virtual int rank() const = 0;

  // Copies whole KV blocks (copy-on-write of shared blocks), before the step that writes.
  virtual Status copyBlocks(const std::vector<kv::BlockCopy> &copies) = 0;

  // Runs the chunks' tokens (concatenated in chunk order) and returns the logits of the
  // wanted rows, [rows, vocab], row-major, in chunk order: every row of an allLogits chunk,
  // the last row of the others with `sample`. A failed step has written nothing
  // but the new tokens' slots, which the caller does not count as filled.
  virtual Expected<std::vector<float>> step(const std::vector<int32_t> &tokens,
                                            const std::vector<PagedChunk> &chunks) = 0;

  // Pipelined steps (ORCA): submit() starts a step so that up to pipelineDepth() steps are
  // in flight; collect() returns the logits of the oldest (as step() would have). `copies`
  // are made before the step. Without pipeline stages, submit() runs the whole step.
  virtual int pipelineDepth() const = 0;
  virtual Status submit(const std::vector<int32_t> &tokens, const std::vector<PagedChunk> &chunks,
                        const std::vector<kv::BlockCopy> &copies = {}) = 0;
  virtual Expected<std::vector<float>> collect() = 0;
};

// The checks every backend makes of a step before touching its buffers: each chunk has
// tokens, positions inside max_seq_len, a block table that covers them with blocks that
// exist; the chunks cover the batch, which fits max_num_batched_tokens (`maxRows`); every
// token id is in the vocabulary.
Status checkStep(const plan::PlanMetadata &meta, const std::vector<int32_t> &tokens,
                 const std::vector<PagedChunk> &chunks, int32_t numBlocks, int32_t blockSize,
                 int64_t maxRows);

} // namespace modelrt
