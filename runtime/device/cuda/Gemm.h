// cuBLASLt GEMM for the flattened [T, D] activations of selective batching:
// C[m][n] = A[m][k] * W[n][k]^T (+ bias[n]), row-major, f16/bf16 inputs, f32 accumulate,
// output f16/bf16 (same type as the inputs) or f32 (e.g. logits). The cuBLASLt algorithm is
// chosen once per shape, types, bias, workspace size and pointer alignment, then cached.
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
  static Expected<std::unique_ptr<CublasLtGemm>> create();
  ~CublasLtGemm();
  CublasLtGemm(const CublasLtGemm &) = delete;
  CublasLtGemm &operator=(const CublasLtGemm &) = delete;

  // Enqueues on `stream`; the workspace (from the arena) is the caller's and must stay
  // valid until the stream reaches this GEMM. Thread-safe.
  Status gemm(const GemmShape &shape, const void *a, const void *w, const void *bias, void *c,
              void *workspace, size_t workspaceBytes, cudaStream_t stream);

  size_t cachedPlans() const;

private:
  struct Plan;
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, bool, size_t, int, int, int, int>;
  CublasLtGemm() = default;
  Expected<Plan *> planFor(const Key &key, const GemmShape &shape, size_t workspaceBytes);

  cublasLtContext *handle_ = nullptr;
  mutable std::mutex mutex_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

} // namespace modelrt::cuda
