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
#include <utility>
#include <vector>

namespace modelrt {

// How an executor that samples on its device (Executor::samplesOnDevice()) chooses a
// chunk's token: greedy (temperature 0), or temperature with top-k, top-p and min-p, the
// draw keyed by (seed, step) alone, so that it does not depend on the rest of the batch.
// The ranges are runtime/sample's (already validated).
struct DeviceSampling {
  float temperature = 0.0f;
  int32_t topK = 0;
  float topP = 1.0f;
  float minP = 0.0f;
  uint64_t seed = 0;
  uint64_t step = 0;        // the request's count of tokens sampled so far
  int32_t topLogprobs = -1; // >= 0: the chosen token's log-probability and the top ones (<= 20)
};
inline constexpr int32_t kMaxDeviceTopLogprobs = 20;

// A token chosen on the device, with the log-probabilities (of the unmodified logits) it
// was asked for.
struct DeviceSample {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top; // best first
};

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
  // With `sample` (and not allLogits), on an executor that samplesOnDevice(): the executor
  // chooses the token, and the row's logits are not returned.
  const DeviceSampling *deviceSampling = nullptr;
  // Plans with recurrent state (PlanMetadata::hasRecurrentState): the request's slot in
  // [0, max_num_seqs), its own while it runs (no other chunk of the step has it). Its
  // states carry over from the request's previous chunk; a chunk at position 0 starts
  // them from zeros.
  int32_t stateSlot = -1;
  // The LoRA adapter its rows run with: 0 the plan's weights alone, i the executor's i-th
  // adapter (Executor::adapterNames()[i - 1]).
  int32_t adapter = 0;
  // Plans whose program takes token types (segments: a pair's document is type 1):
  // numTokens values, one per row; null: all 0.
  const int32_t *tokenTypes = nullptr;
};

// What a pipelined step gives back: the logits of the wanted rows that were not sampled on
// the device (as step() returns them), and the device's tokens, one per chunk with
// deviceSampling, in chunk order.
struct StepOutput {
  std::vector<float> logits;
  std::vector<DeviceSample> sampled;
};

class Executor {
public:
  virtual ~Executor() = default;

  virtual const plan::PlanMetadata &metadata() const = 0;
  virtual int32_t numKvBlocks() const = 0;
  virtual int32_t kvBlockSize() const = 0;
  // This executor's rank in a multi-rank plan (0 for a single-rank plan).
  virtual int rank() const = 0;
  // How the KV cache stores keys and values, as --kv-cache-dtype names it ("auto" resolved;
  // empty where the executor does not say).
  virtual std::string kvCacheDtype() const { return {}; }

  // Copies whole KV blocks (copy-on-write of shared blocks), before the step that writes.
  virtual Status copyBlocks(const std::vector<kv::BlockCopy> &copies) = 0;

  // Runs the chunks' tokens (concatenated in chunk order) and returns the logits of the
  // wanted rows, [rows, vocab], row-major, in chunk order: every row of an allLogits chunk,
  // the last row of the others with `sample`. A failed step has written nothing
  // but the new tokens' slots, which the caller does not count as filled.
  virtual Expected<std::vector<float>> step(const std::vector<int32_t> &tokens,
                                            const std::vector<PagedChunk> &chunks) = 0;

  // Pipelined steps (ORCA): submit() starts a step so that up to pipelineDepth() steps are
  // in flight; collect() returns the oldest one's output (step()'s logits, less the rows
  // sampled on the device, and those tokens). `copies` are made before the step. Without
  // pipeline stages, submit() runs the whole step.
  virtual int pipelineDepth() const = 0;
  virtual Status submit(const std::vector<int32_t> &tokens, const std::vector<PagedChunk> &chunks,
                        const std::vector<kv::BlockCopy> &copies = {}) = 0;
  virtual Expected<StepOutput> collect() = 0;

  // Whether chunks may carry deviceSampling (submit() and collect() only: step() returns
  // logits). The sampled rows' logits then never leave the device.
  virtual bool samplesOnDevice() const { return false; }

  // The LoRA adapters loaded with the executor, in order: PagedChunk::adapter i runs
  // adapter i - 1 (an empty name: a slot whose adapter was unloaded; ids are not reused).
  virtual std::vector<std::string> adapterNames() const { return {}; }
  // Loads an adapter into the next slot, or unloads one, between steps (no chunk of a step
  // in flight may name it). Executors that cannot say why.
  virtual Status loadAdapter(const std::string &name, const std::string &path) {
    (void)path;
    return Error(ErrorCode::Unsupported,
                 "this executor does not load LoRA adapters (adapter '" + name + "')");
  }
  virtual Status unloadAdapter(const std::string &name) {
    return Error(ErrorCode::Unsupported,
                 "this executor does not unload LoRA adapters (adapter '" + name + "')");
  }
};

// The checks every backend makes of a step before touching its buffers: each chunk has
// tokens, positions inside max_seq_len, a block table that covers them with blocks that
// exist; the chunks cover the batch, which fits max_num_batched_tokens (`maxRows`); every
// token id is in the vocabulary; deviceSampling only where `deviceSampling` (the executor
// samples, and this is a submitted step), on a sampled row with at most 20 top logprobs;
// for a plan with recurrent state, a state slot of its own per chunk; an adapter in
// [0, numAdapters].
Status checkStep(const plan::PlanMetadata &meta, const std::vector<int32_t> &tokens,
                 const std::vector<PagedChunk> &chunks, int32_t numBlocks, int32_t blockSize,
                 int64_t maxRows, bool deviceSampling = false, int32_t numAdapters = 0);

// What vLLM reports at start: "KV cache of N tokens (B blocks of S, --kv-cache-dtype D);
// X.XXx requests of L tokens at once" (L: the plan's max_seq_len).
std::string describeKvCache(const Executor &executor, const std::string &dtype);

} // namespace modelrt
