// Runs one iteration of a plan's program on the CPU: the flattened tokens of every
// scheduled request go through the GEMMs and fused kernels together (selective batching);
// attention alone runs request by request over that request's own KV cache.
//
// f32 plans; a tensor-parallel plan's ranks run as threads or as MPI processes, rank 0
// driving the others (runtime/dist). The KV cache is paged: the executor owns the blocks' memory,
// the caller (the scheduler's runtime/kv tables, or Sequences) decides which block holds
// which token.
#pragma once

#include "runtime/device/Executor.h"
#include "runtime/device/cpu/CpuKernelLibrary.h"
#include "runtime/engine/CpuGemm.h"
#include "runtime/engine/LoraAdapter.h"
#include "runtime/kv/KvCacheManager.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"
#include "runtime/plan/Program.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace modelrt::dist {
class Communicator;
} // namespace modelrt::dist

namespace modelrt::engine {

using modelrt::PagedChunk;

struct ExecutorOptions {
  // The group this process's rank belongs to, for a plan with several ranks started as
  // processes (mpirun: one rank each). nullptr: the plan's other ranks run as threads of
  // this process, and load() returns rank 0.
  dist::Communicator *comm = nullptr;
  // OpenMP threads of each rank that runs as a thread (0: the cores split evenly).
  int threadsPerRank = 0;

  // Memory for the paged KV cache; 0 takes enough for max_num_seqs sequences of
  // max_seq_len tokens, at most kDefaultKvCacheBytes.
  int64_t kvCacheBytes = 0;
  int32_t kvBlockSize = 16;
  // How the KV cache stores K and V (parseKvCacheDType's names; "auto": the executor's
  // natural type, f32 on the CPU, the plan's dtype on CUDA).
  std::string kvCacheDtype = "auto";
  static constexpr int64_t kDefaultKvCacheBytes = int64_t(1) << 30;

  // Which executor loadExecutor() makes: "cpu", "cuda", or "auto" (the plan's target).
  std::string device = "auto";
  // Whether an executor that can sample on its device does (the CUDA executor): requests
  // without logit bias, penalties or constraints then get their tokens chosen there, and
  // their logits stay on the device. false: every row's logits come to the host sampler.
  bool deviceSampling = true;
  // LoRA adapters loaded with the plan (every rank reads them), PagedChunk::adapter 1, 2, ...
  // in this order.
  std::vector<LoraSpec> loraAdapters;
  // vLLM's limits: adapters of a higher rank are refused (0: up to 1024), and at most this
  // many are loaded at once (0: no limit).
  int maxLoraRank = 0;
  int maxLoras = 0;
  // Whether the CUDA executor runs decode steps as CUDA graphs (padded to fixed batch sizes).
  bool cudaGraphs = true;
  // Whether the CUDA executor runs each weight's GEMMs with one cuBLASLt algorithm for every
  // row count (batch-invariant GEMMs).
  bool batchInvariantGemm = false;
  // How the CPU executor's GEMMs take their input rows against GGUF integer-coded weights
  // (CpuGemm.h): F32 (exact: the dense plan's bits), or Int8 (rows quantized to GGUF's Q8_0 or
  // Q8_K activation blocks, integer dot products). Unset: as the plan's weights came, Int8 for a
  // GGUF file's (the numerics GGUF runtimes compute on it), F32 for a checkpoint's (weight-only
  // quantization, run with full-precision activations). modelrt's commands leave it unset
  // unless --cpu-activations says; the library's default is F32.
  std::optional<GemmActivations> cpuActivations = GemmActivations::F32;
};

class CpuExecutor final : public Executor {
public:
  static Expected<std::unique_ptr<CpuExecutor>> load(const std::string &planPath,
                                                     const ExecutorOptions &options = {});

  const plan::PlanMetadata &metadata() const override { return meta_; }
  // What its GEMMs do with GGUF integer-coded weights (ExecutorOptions::cpuActivations).
  GemmActivations cpuActivations() const { return cpuActivations_; }
  int32_t numKvBlocks() const override { return numKvBlocks_; }
  int32_t kvBlockSize() const override { return kvBlockSize_; }

  // This executor's rank in a tensor-parallel plan (0 for a single-rank plan).
  int rank() const override;
  std::string kvCacheDtype() const override;

  // Copies whole KV blocks (copy-on-write of shared blocks), before the step that writes.
  // On rank 0 of a group, every rank makes the same copies.
  Status copyBlocks(const std::vector<kv::BlockCopy> &copies) override;

  // Runs the chunks' tokens (concatenated in chunk order) and returns the logits of the
  // wanted rows, [rows, vocab], row-major, in chunk order: every row of an allLogits chunk,
  // the last row of the others with `sample`. A failed step has written nothing
  // but the new tokens' slots, which the caller does not count as filled.
  // On rank 0 of a group, every rank runs the step (its shard of each layer, or its
  // pipeline stage's layers).
  Expected<std::vector<float>> step(const std::vector<int32_t> &tokens,
                                    const std::vector<PagedChunk> &chunks) override;

  // Pipelined steps (ORCA): submit() runs the first stage of a step and hands it on, so
  // that up to pipelineDepth() steps are in flight, one per stage; collect() returns the
  // logits of the oldest (as step() would have). `copies` are made before the step, on
  // every stage. Without pipeline stages, submit() runs the whole step.
  int pipelineDepth() const override { return numStages_; }
  Status submit(const std::vector<int32_t> &tokens, const std::vector<PagedChunk> &chunks,
                const std::vector<kv::BlockCopy> &copies = {}) override;
  Expected<StepOutput> collect() override; // this executor samples nothing itself

  std::vector<std::string> adapterNames() const override;
  // On rank 0 of a tensor-parallel group every rank loads (or unloads) it, and a load that
  // any rank fails fails on all (its slot stays, nameless, on every rank). Plans with
  // pipeline stages load their adapters at start.
  Status loadAdapter(const std::string &name, const std::string &path) override;
  Status unloadAdapter(const std::string &name) override;

  // Ranks other than 0 of a process group: runs the steps and copies rank 0 sends until
  // rank 0's executor goes. Errors only on a broken control message or channel.
  Status serveRank();

  // Rank 0 of a group tells the other ranks to stop (and joins their threads).
  ~CpuExecutor() override;

  struct Impl; // the loaded program and its buffers

private:
  CpuExecutor() = default;
  static Expected<std::unique_ptr<CpuExecutor>> loadRank(const std::string &planPath,
                                                         const ExecutorOptions &options,
                                                         dist::Communicator *comm, int threads);
  // This rank's program. A pipeline stage reads the activations its `recv` ops take from
  // `incoming` (in order) and appends what its `send` ops send to `outgoing`; a stage
  // without logits returns none.
  Expected<std::vector<float>> runStep(const std::vector<int32_t> &tokens,
                                       const std::vector<PagedChunk> &chunks,
                                       const float *incoming = nullptr, size_t incomingCount = 0,
                                       std::vector<float> *outgoing = nullptr);
  Status runCopy(const std::vector<kv::BlockCopy> &copies);
  // This rank's part of loadAdapter / unloadAdapter; holdAdapterSlot adds a nameless slot
  // (where this rank failed a load the others made). settleAdapterLoad: every rank's
  // outcome of loading `name`, undone on all where any failed.
  Status addAdapterHere(const std::string &name, const std::string &path);
  Status unloadAdapterHere(const std::string &name);
  void holdAdapterSlot();
  Status settleAdapterLoad(const std::string &name, Status local);
  Expected<std::vector<float>> collectLogits();
  Status serveStage();
  void stopRanks(); // rank 0: the other ranks stop, their threads are joined

  int numStages_ = 1;
  int64_t inFlight_ = 0;                     // pipeline rank 0: steps submitted, not collected
  std::vector<kv::BlockCopy> pendingCopies_; // pipeline rank 0: copies for the next step
  std::deque<std::vector<float>> done_;      // one stage: submitted steps' logits

  dist::Communicator *comm_ = nullptr;
  // Rank 0 of ranks on threads: the group, the other ranks' executors and their threads.
  std::vector<std::unique_ptr<dist::Communicator>> group_;
  std::vector<std::unique_ptr<CpuExecutor>> workers_;
  std::vector<std::thread> threads_;
  plan::PlanFile file_;
  plan::PlanMetadata meta_;
  GemmActivations cpuActivations_ = GemmActivations::F32;
  std::unique_ptr<Impl> impl_;
  int32_t numKvBlocks_ = 0, kvBlockSize_ = 16;
};

// The executor of options.device for the plan: CpuExecutor, or the CUDA executor where this
// runtime was built with CUDA (an error naming the reason elsewhere). On "cuda", the KV
// cache budget defaults to most of the GPU's free memory.
// A line for startup logs naming how the CPU executor's GEMMs treat activations ("CPU GEMMs:
// int8 activations, integer dot products (AVX-512 VNNI; ...)"); empty for other executors.
std::string describeCpuGemms(const Executor &executor);

Expected<std::unique_ptr<Executor>> loadExecutor(const std::string &planPath,
                                                 const ExecutorOptions &options = {});

} // namespace modelrt::engine
