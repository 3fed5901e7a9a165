// cuBLASLt GEMM for the flattened [T, D] activations of selective batching:
// C[m][n] = A[m][k] * W[n][k]^T (+ bias[n]), row-major, f16/bf16 inputs, f32 accumulate,
// output f16/bf16 (same type as the inputs) or f32 (e.g. logits). The cuBLASLt algorithm is
// chosen once per shape, types, bias, workspace size and pointer alignment, then cached.
//
// Batch invariance (create(true)): cuBLASLt's heuristic picks an algorithm per m (the
// step's rows), and a different tile or a split of k changes the order of a row's sums, so
// a request's rows could change with the rest of the step. In this mode every m of one
// (n, k, types, bias, alignments) runs the one algorithm chosen for kInvariantReferenceRows
// rows among those without split-k reduction, so a row's bits follow its own inputs only;
// an m that algorithm cannot run (cublasLtMatmulAlgoCheck), or every m when no split-k-free
// reference exists, gets its own split-k-free choice (any, if none) and is counted in
// invariantFallbacks() (and reported once on stderr).
#pragma once

#include "runtime/device/Attention.h"
#include "runtime/support/Error.h"

#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

struct cublasLtContext;

namespace modelrt::cuda {

struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  ElementType inType = ElementType::F16;  // A and W: F16 or BF16
  ElementType outType = ElementType::F16; // C (and bias): inType or F32
  bool bias = false;
};

class CublasLtGemm {
public:
  static constexpr int64_t kInvariantReferenceRows = 64;
  static Expected<std::unique_ptr<CublasLtGemm>> create(bool batchInvariant = false);
  ~CublasLtGemm();
  CublasLtGemm(const CublasLtGemm &) = delete;
  CublasLtGemm &operator=(const CublasLtGemm &) = delete;

  // Enqueues on `stream`; the workspace (from the arena) is the caller's and must stay
  // valid until the stream reaches this GEMM. Thread-safe.
  Status gemm(const GemmShape &shape, const void *a, const void *w, const void *bias, void *c,
              void *workspace, size_t workspaceBytes, cudaStream_t stream);

  size_t cachedPlans() const;
  bool batchInvariant() const { return batchInvariant_; }
  // Shapes whose m could not run its (n, k)'s shared algorithm (batch-invariant mode).
  size_t invariantFallbacks() const;

private:
  struct Plan;
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, bool, size_t, int, int, int, int>;
  CublasLtGemm() = default;
  Expected<Plan *> planFor(const Key &key, const GemmShape &shape, size_t workspaceBytes);

  cublasLtContext *handle_ = nullptr;
  bool batchInvariant_ = false;
  mutable std::mutex mutex_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
  // Batch-invariant mode: the reference plan of each key with m = kInvariantReferenceRows.
  std::map<Key, std::unique_ptr<Plan>> references_;
  size_t invariantFallbacks_ = 0;
};

} // namespace modelrt::cuda
