// Runs one iteration of a plan's program on the CPU: the flattened tokens of every
// scheduled request go through the GEMMs and fused kernels together (selective batching);
// attention alone runs request by request over that request's own KV cache.
//
// Version 0: f32 plans, single rank, a contiguous KV cache per sequence (the paged cache
// of runtime/kv comes with the engine), reference-quality GEMM loops.
#pragma once

#include "runtime/device/cpu/CpuKernelLibrary.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace modelrt::engine {

// One request's part of an iteration: `numTokens` consecutive rows of the flattened batch
// (its prompt chunk, or one decode token), appended to the sequence's cache.
struct SequenceChunk {
  uint64_t sequence; // the caller's id; the cache is kept per id until release()
  int64_t numTokens;
  bool sample; // whether its last row's logits are wanted
};

class CpuExecutor {
public:
  static Expected<std::unique_ptr<CpuExecutor>> load(const std::string &planPath);

  const plan::PlanMetadata &metadata() const { return meta_; }

  // Runs the chunks' tokens (concatenated in chunk order) and returns the logits of the
  // sampled rows, [sampled chunks, vocab], row-major. Positions continue each sequence.
  Expected<std::vector<float>> step(const std::vector<int32_t> &tokens,
                                    const std::vector<SequenceChunk> &chunks);

  // Forgets a sequence's cache.
  void release(uint64_t sequence) { cache_.erase(sequence); }
  int64_t cachedTokens(uint64_t sequence) const;

  ~CpuExecutor();

private:
  struct Impl;
  CpuExecutor() = default;
  plan::PlanFile file_;
  plan::PlanMetadata meta_;
  std::unique_ptr<Impl> impl_;
  // Per sequence, per layer: K and V rows [position][kv_heads * head_dim].
  struct SequenceCache {
    std::vector<std::vector<float>> k, v;
    int64_t length = 0;
  };
  std::map<uint64_t, SequenceCache> cache_;
};

} // namespace modelrt::engine
