// Runs a plan's program on one NVIDIA GPU (a plan compiled with --target cuda and --dtype
// bf16 or f16): the generated fused kernels from the plan's cubin for this GPU, or its PTX
// (which the driver compiles; runtime/plan/CudaImage chooses), GEMMs through cuBLASLt, and
// the runtime's paged attention and KV-cache write; activations stay on the device in one
// arena. Submitted steps sample on the GPU (runtime/device/cuda/Sampling) the rows whose
// chunks ask for it, so only their tokens come back; the other wanted rows' logits go to
// the host sampler.
//
// Single-rank plans so far; a plan with collectives or pipeline stages is refused at load.
#pragma once

#include "runtime/device/Executor.h"

#include <memory>
#include <string>

namespace modelrt::cuda {

struct CudaExecutorOptions {
  int device = 0; // CUDA device ordinal
  // Bytes for the paged KV cache; 0 takes enough for max_num_seqs sequences of max_seq_len
  // tokens, at most 80% of the device memory free after the weights and the arena.
  int64_t kvCacheBytes = 0;
  int32_t kvBlockSize = 16;
  // Whether submit() takes chunks with deviceSampling (samplesOnDevice()).
  bool deviceSampling = true;
  // Whether decode steps run as CUDA graphs, padded to 1, 2, 4, 8, 16, 24, ... sequences
  // (up to max_num_seqs, at most 512): one graph launch instead of a launch per kernel.
  bool cudaGraphs = true;
  // Whether every GEMM of one weight runs one cuBLASLt algorithm whatever the step's row
  // count (Gemm.h): a request's GEMMs then follow its own rows only (its attention already
  // does; preemption and a short KV pool are the exceptions left), at a cost for steps of
  // few rows.
  bool batchInvariantGemm = false;
};

class CudaExecutor final : public Executor {
public:
  static Expected<std::unique_ptr<CudaExecutor>> load(const std::string &planPath,
                                                      const CudaExecutorOptions &options = {});
  ~CudaExecutor() override;

  const plan::PlanMetadata &metadata() const override;
  int32_t numKvBlocks() const override;
  int32_t kvBlockSize() const override;
  int rank() const override { return 0; }
  // The cache is kept in the plan's dtype (bf16 or f16).
  std::string kvCacheDtype() const override {
    return metadata().dtype == "f16" ? "float16" : "bfloat16";
  }
  Status copyBlocks(const std::vector<kv::BlockCopy> &copies) override;
  Expected<std::vector<float>> step(const std::vector<int32_t> &tokens,
                                    const std::vector<PagedChunk> &chunks) override;
  int pipelineDepth() const override { return 1; }
  Status submit(const std::vector<int32_t> &tokens, const std::vector<PagedChunk> &chunks,
                const std::vector<kv::BlockCopy> &copies = {}) override;
  Expected<StepOutput> collect() override;
  bool samplesOnDevice() const override;
  // Which of the plan's CUDA kernel images runs ("cubin sm_90", "PTX sm_80 (compiled by the
  // driver)"; "none" for a plan without fused kernels).
  const std::string &kernelImage() const;
  // How many decode-step graphs were captured so far (cudaGraphs).
  int capturedGraphs() const;

  struct Impl;

private:
  CudaExecutor();
  std::unique_ptr<Impl> impl_;
};

// Whether a CUDA device can be used here (false, with the reason, where there is none).
bool cudaDeviceAvailable(std::string *why = nullptr);

} // namespace modelrt::cuda
