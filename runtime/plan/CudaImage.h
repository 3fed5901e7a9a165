// Which of a plan rank's CUDA kernel images a GPU runs. `modelc --target cuda` writes the
// PTX of the newest --cuda-arch (section kind 6) and, where it was built with nvJitLink, a
// cubin per --cuda-arch (kind 7, named cuda-kernels.sm_XY.cubin). A cubin runs on GPUs of
// its major version with at least its minor one; PTX on any GPU not older than its
// target, compiled by the driver at load; an arch-specific target (sm_90a) only on its own
// architecture. No CUDA here: the choice is plain data, so it is
// tested where there is no GPU.
#pragma once

#include "runtime/plan/PlanFile.h"

#include <string>
#include <string_view>

namespace modelrt::plan {

struct CudaImage {
  const Section *section = nullptr;
  bool cubin = false;
  int arch = 0;              // 90 for sm_90
  bool archSpecific = false; // sm_90a
  std::string describe() const; // "cubin sm_90" or "PTX sm_80 (compiled by the driver)"
};

// The best image for compute capability major.minor: the cubin of the newest fitting arch,
// else the PTX. The error names the GPU, what the plan has, and the --cuda-arch to add.
Expected<CudaImage> chooseCudaImage(const PlanFile &file, uint32_t rank, int major, int minor);

// The architecture ("sm_90", "sm_90a") of PTX text's `.target` line, or of a cubin section
// name; empty where there is none.
std::string ptxTarget(std::string_view ptx);
std::string cubinSectionArch(std::string_view name);
std::string cubinSectionName(std::string_view arch); // cuda-kernels.sm_90.cubin

} // namespace modelrt::plan
