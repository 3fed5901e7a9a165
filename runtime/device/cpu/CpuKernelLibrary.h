// The CPU kernels of a plan: the shared library modelc builds from the fused kernels
// (kern.fused), loaded from the plan's kernel-image section and called through MLIR's C
// interface (`_mlir_ciface_<kernel>`), one memref descriptor per argument.
#pragma once

#include "runtime/support/Error.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace modelrt::cpu {

// MLIR's memref descriptor: what the generated kernels take for each argument.
template <typename T, int Rank> struct MemRefDescriptor {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
};

// `rows` x `cols` columns of a row-major buffer whose rows are `rowStride` elements apart,
// starting `offset` elements in: activations and column views of them.
template <typename T>
MemRefDescriptor<T, 2> activationView(T *base, int64_t rows, int64_t cols, int64_t rowStride,
                                      int64_t offset = 0) {
  return {base, base, offset, {rows, cols}, {rowStride, 1}};
}
template <typename T> MemRefDescriptor<T, 1> vectorView(T *base, int64_t n) {
  return {base, base, 0, {n}, {1}};
}

class CpuKernelLibrary {
public:
  // Loads the library image (an ELF shared object) without writing it to the file system
  // (memfd_create + dlopen).
  static Expected<CpuKernelLibrary> load(const uint8_t *image, size_t size);
  CpuKernelLibrary(CpuKernelLibrary &&other) noexcept;
  CpuKernelLibrary &operator=(CpuKernelLibrary &&other) noexcept;
  CpuKernelLibrary(const CpuKernelLibrary &) = delete;
  CpuKernelLibrary &operator=(const CpuKernelLibrary &) = delete;
  ~CpuKernelLibrary();

  // Calls kernel `name` with one descriptor pointer per argument (inputs, weights, outputs,
  // in the kern.fused order). Errors name the kernel.
  Status call(const std::string &name, const std::vector<void *> &descriptors) const;

private:
  CpuKernelLibrary() = default;
  void *handle_ = nullptr;
  int fd_ = -1;
};

} // namespace modelrt::cpu
