// CPU kernels as a shared library: LLVM IR -> optimized object (host target) -> shared
// object linked by LLD as a library. The bytes go into the plan's kernel-image section.
#pragma once

#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace modelc {

// Optimizes `module` at O2 for the host CPU and links it into a shared library; the
// library's only undefined symbols are libm's (GELU's erf and tanh).
llvm::Expected<std::vector<uint8_t>> buildCpuKernelLibrary(llvm::Module &module);

} // namespace modelc
